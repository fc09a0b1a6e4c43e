"""buffer/beacon.py against the local beacon (launch/beacon_server.py, its own
process), a relay on loopback that lies, and drand's own published values."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from buffer.beacon import (
    QUICKNET_CHAIN_HASH,
    QUICKNET_PUBLIC_KEY,
    QUICKNET_URL,
    SCHEME,
    BeaconChain,
    BeaconError,
    BeaconValue,
    chain_hash_of,
    fetch_chain,
    fetch_chain_async,
    fetch_round,
    fetch_round_async,
    verify_value,
)
from buffer.draw import beacon_outcome
from buffer.order import PROMISE_UNSTEERABLE
from launch.processes import free_port

# drand quicknet as drand publishes it (https://api.drand.sh/<hash>/info).
QUICKNET_GENESIS_TIME = 1692803367
QUICKNET_GENESIS_SEED = "f477d5c89f21a17c863a7f937c6a6d15859414d2be09cd448d4279af331c5d3e"
# A real quicknet round, from drand-verify's documentation (its README on PyPI).
QUICKNET_ROUND = 657413
QUICKNET_SIGNATURE = (
    "b713718a38ae728dfd477991af2822e08d2f305e"
    "47718cef9f7848ce4050e7be41076862b98fad56e91a6b85b89cd97b"
)
QUICKNET_RANDOMNESS = "fc1873a13f3545aeade8401532ef5519920652eee6b0d2b19ca12643b87b3587"
# drand's first chain ("default", api.drand.sh/info): a scheme fairdrop refuses.
MAINNET_INFO = {
    "public_key": "868f005eb8e6e4ca0a47c8a77ceaa5309a47978a7c71bc5cce96366b5d7a5699"
    "37c529eeda66c7293784a9402801af31",
    "period": 30,
    "genesis_time": 1595431050,
    "hash": "8990e7a9aaed2ffed73dbd7092123d6f289930540d7651336225dc172e51b2ce",
    "groupHash": "176f93498eac9ca337150b46d21dd58673ea4e3581185f869672e59fa4cb390a",
    "schemeID": "pedersen-bls-chained",
    "metadata": {"beaconID": "default"},
}


def _quicknet() -> BeaconChain:
    return BeaconChain(
        url=QUICKNET_URL,
        chain_hash=QUICKNET_CHAIN_HASH,
        public_key=QUICKNET_PUBLIC_KEY,
        scheme=SCHEME,
        period=3,
        genesis_time=QUICKNET_GENESIS_TIME,
    )


def _value_out(chain: BeaconChain) -> BeaconValue:
    """The latest round out now, fetched and checked."""
    value = fetch_round(chain, chain.round_at(time.time()))
    assert value is not None
    return value


@dataclass
class Relay:
    """An HTTP server on loopback answering what a test tells it to, as a relay
    that lies would. Each relay has a URL of its own, so no chain a test cached
    is found again at it."""

    url: str
    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def serve(self, path: str, body: object, status: int = 200) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.answers[path] = (status, raw)


@pytest.fixture
def relay() -> Iterator[Relay]:
    prefix = f"/{secrets.token_hex(6)}"
    answers: dict[str, tuple[int, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = answers.get(self.path.removeprefix(prefix), (404, b"{}"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Relay(f"http://127.0.0.1:{server.server_port}{prefix}", answers)
    finally:
        server.shutdown()
        server.server_close()


def test_the_local_beacon_serves_a_chain_of_the_one_scheme_checked(beacon_url: str) -> None:
    chain = fetch_chain(beacon_url)
    assert (chain.url, chain.scheme, chain.period) == (beacon_url, SCHEME, 1)
    assert len(chain.public_key) == 192 and not chain.is_quicknet
    assert fetch_chain(beacon_url + "/") is chain  # one fetch per process
    assert BeaconChain.from_json(chain.as_json()) == chain
    # The chain-specific base URL, as drand's relays serve it.
    named = fetch_chain(f"{beacon_url}/{chain.chain_hash}")
    assert named == replace(chain, url=f"{beacon_url}/{chain.chain_hash}")
    with pytest.raises(BeaconError, match="404"):
        fetch_chain(f"{beacon_url}/{'0' * 64}")


def test_rounds_come_out_a_period_apart_from_genesis() -> None:
    chain = replace(_quicknet(), genesis_time=1_000)
    assert (chain.round_time(1), chain.round_time(4)) == (1_000, 1_009)
    assert [chain.round_at(t) for t in (999.9, 1_000, 1_002.99, 1_003)] == [0, 1, 1, 2]
    assert [chain.round_after(t) for t in (0, 999.9, 1_000, 1_002.99, 1_003)] == [1, 1, 2, 2, 3]
    for t in (995.5, 1_000, 1_001.5, 1_234.567, 10**9):
        r = chain.round_after(t)
        assert chain.round_time(r) > t and (r == 1 or chain.round_time(r - 1) <= t)


def test_a_round_is_out_at_its_time_and_verifies(beacon_url: str) -> None:
    chain = fetch_chain(beacon_url)
    # A round whose time is at least a period away, so it cannot come out meanwhile.
    upcoming = chain.round_after(time.time()) + 1
    assert fetch_round(chain, upcoming) is None
    time.sleep(max(0.0, chain.round_time(upcoming) - time.time()))
    value = fetch_round(chain, upcoming)
    assert value is not None and value.round == upcoming
    assert value.randomness == hashlib.sha256(bytes.fromhex(value.signature)).hexdigest()
    verify_value(chain, value)  # offline, as a verifier of a draw document does
    assert fetch_round(chain, upcoming) == value  # the same value every time
    assert fetch_round(chain, chain.round_after(time.time()) + 5) is None


def test_sales_that_share_a_beacon_round_each_get_its_value_at_once(beacon_url: str) -> None:
    chain = fetch_chain(beacon_url)
    round_ = chain.round_after(time.time()) + 1
    time.sleep(max(0.0, chain.round_time(round_) - time.time()))
    # Sales made in the same second wait for the same round: once it is
    # fetched, the next one in the same clock step must not wait a second more.
    published = json.dumps(
        {**chain.as_json(), "round": round_, "round_time": chain.round_time(round_)}
    )
    now = time.time()
    first = beacon_outcome(published, 20.0, now)
    second = beacon_outcome(published, 20.0, now)
    assert first is not None and first == second
    assert first.promise == PROMISE_UNSTEERABLE and first.randomness


def test_a_value_altered_or_checked_with_another_key_fails(beacon_url: str) -> None:
    chain = fetch_chain(beacon_url)
    value = _value_out(chain)
    earlier = fetch_round(chain, value.round - 1)
    assert earlier is not None
    another_round = replace(earlier, round=value.round)  # a real signature, of another round
    bad_randomness = replace(value, randomness=earlier.randomness)
    flipped = replace(
        value, signature=value.signature[:-1] + ("0" if value.signature[-1] != "0" else "1")
    )
    for wrong in (another_round, bad_randomness, flipped, replace(value, round=0)):
        with pytest.raises(BeaconError):
            verify_value(chain, wrong)
    with pytest.raises(BeaconError, match="does not verify"):
        verify_value(replace(chain, public_key=QUICKNET_PUBLIC_KEY), value)
    # Malformed hex never reaches drand-verify (which would panic).
    for garbled in ("zz" * 48, value.signature[:-1], ""):
        with pytest.raises(BeaconError, match="signature must be 48 bytes"):
            verify_value(chain, replace(value, signature=garbled))
    with pytest.raises(BeaconError, match="not supported"):
        verify_value(replace(chain, scheme="pedersen-bls-chained"), value)


def test_a_relay_that_lies_about_a_round_is_caught(beacon_url: str, relay: Relay) -> None:
    real = fetch_chain(beacon_url)
    relay.serve("/info", httpx.get(f"{beacon_url}/info").json())
    chain = fetch_chain(relay.url)
    assert chain == replace(real, url=relay.url)
    value = _value_out(real)
    earlier = fetch_round(real, value.round - 1)
    assert earlier is not None
    lies: list[tuple[object, int, str]] = [
        ({**asdict(earlier), "round": value.round}, 200, "does not verify"),
        ({**asdict(value), "randomness": earlier.randomness}, 200, "not the SHA-256"),
        (asdict(earlier), 200, "answered round"),
        ({**asdict(value), "signature": "00"}, 200, "signature must be"),
        (b"<html>busy</html>", 200, "no JSON"),
        ([asdict(value)], 200, "no JSON object"),
        ({"error": "overloaded"}, 503, "answered 503"),
    ]
    for body, status, complaint in lies:
        relay.serve(f"/public/{value.round}", body, status)
        with pytest.raises(BeaconError, match=complaint):
            fetch_round(chain, value.round)
    relay.serve(f"/public/{value.round}", {"error": "too early"}, 425)
    assert fetch_round(chain, value.round) is None


def test_chain_info_that_does_not_hash_to_its_chain_hash_is_refused(
    beacon_url: str, relay: Relay
) -> None:
    info = httpx.get(f"{beacon_url}/info").json()
    relay.serve("/info", {**info, "genesis_time": info["genesis_time"] - 60})
    with pytest.raises(BeaconError, match="does not hash to its chain hash"):
        fetch_chain(relay.url)
    relay.serve("/info", {**info, "public_key": QUICKNET_PUBLIC_KEY})
    with pytest.raises(BeaconError, match="does not hash to its chain hash"):
        fetch_chain(relay.url)
    relay.serve("/info", {**info, "period": "1s"})
    with pytest.raises(BeaconError, match="malformed chain info: period"):
        fetch_chain(relay.url)


def test_a_beacon_of_another_scheme_is_refused(relay: Relay) -> None:
    relay.serve("/info", MAINNET_INFO)
    with pytest.raises(BeaconError, match="scheme 'pedersen-bls-chained'"):
        fetch_chain(relay.url)


def test_an_unreachable_beacon_fails_at_once() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(BeaconError, match="cannot be reached"):
        fetch_chain(closed)
    with pytest.raises(BeaconError, match="cannot be reached"):
        fetch_round(replace(_quicknet(), url=closed), 1)
    assert time.monotonic() - started < 1.0
    for not_a_url in ("local", "", "api.drand.sh"):
        with pytest.raises(BeaconError, match="not an http"):
            fetch_chain(not_a_url)


async def test_the_event_loops_fetches_agree_with_the_others(beacon_url: str) -> None:
    chain = await fetch_chain_async(beacon_url)
    assert chain == fetch_chain(beacon_url)
    value = await fetch_round_async(chain, chain.round_at(time.time()))
    assert value is not None and value == fetch_round(chain, value.round)
    assert await fetch_round_async(chain, chain.round_after(time.time()) + 5) is None
    with pytest.raises(BeaconError, match="cannot be reached"):
        await fetch_chain_async(f"http://127.0.0.1:{free_port()}")


def test_drands_own_quicknet_round_verifies_offline() -> None:
    chain = _quicknet()
    assert chain.is_quicknet and QUICKNET_URL.endswith(QUICKNET_CHAIN_HASH)
    # The chain hash is drand's own hash of its info: mainnet's and quicknet's both match.
    seeds = (QUICKNET_GENESIS_SEED, "quicknet")
    assert (
        chain_hash_of(3, QUICKNET_GENESIS_TIME, QUICKNET_PUBLIC_KEY, *seeds) == QUICKNET_CHAIN_HASH
    )
    mainnet = MAINNET_INFO
    assert mainnet["hash"] == chain_hash_of(
        30, 1595431050, str(mainnet["public_key"]), str(mainnet["groupHash"]), "default"
    )
    value = BeaconValue(QUICKNET_ROUND, QUICKNET_RANDOMNESS, QUICKNET_SIGNATURE)
    verify_value(chain, value)
    assert hashlib.sha256(bytes.fromhex(QUICKNET_SIGNATURE)).hexdigest() == QUICKNET_RANDOMNESS
    with pytest.raises(BeaconError, match="does not verify"):
        verify_value(chain, replace(value, round=QUICKNET_ROUND + 1))
