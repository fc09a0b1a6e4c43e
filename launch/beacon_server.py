"""A drand-speaking beacon on loopback, for the demo and the tests.

No drand relay can be reached from our machines, so the demo and the tests
run this instead: it speaks drand's HTTP API (``/info``, ``/public/latest``,
``/public/{round}``, each also under ``/{chain hash}/``, and ``/chains``) and
signs its rounds as drand quicknet does (scheme ``bls-unchained-g1-rfc9380``:
BLS12-381, public key on G2, each round's signature on G1 over the SHA-256 of
the round number as 8 bytes big-endian), so the very code that checks
quicknet (buffer/beacon.py through drand-verify) checks it. What it cannot
give is drand's promise: one process holds the whole key here, where
quicknet's is split among the League of Entropy's members.

``python -m launch.beacon_server --port N [--period S]`` runs one; its chain
begins when it starts. ``running_beacon()`` runs one for a test or the demo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from buffer.beacon import SCHEME, BeaconChain, chain_hash_of
from launch.processes import free_port, running_server

# quicknet's period; the tests run a 1-second chain.
DEFAULT_PERIOD = 3
BEACON_ID = "fairdrop-local"
# RFC 9380's suite for signatures on G1, as quicknet signs.
SIGNATURE_DST = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
_ROUTE = re.compile(r"^(?:/(?P<chain>[0-9a-f]{64}))?/(?P<what>info|public/(?P<round>latest|\d+))$")


class LocalChain:
    """A chain of its own: a fresh key, every round's value signed once on first ask.

    Round 1 comes out at ``genesis_time``, by default as soon as the key is made.
    """

    def __init__(self, period: int, url: str, genesis_time: int | None = None) -> None:
        self._secret, public_key = _new_key()
        genesis_time = int(time.time()) if genesis_time is None else genesis_time
        # drand derives it from the group that made the key; any fixed 32 bytes serve.
        self.genesis_seed = secrets.token_hex(32)
        self.chain = BeaconChain(
            url=url,
            chain_hash=chain_hash_of(
                period, genesis_time, public_key, self.genesis_seed, BEACON_ID
            ),
            public_key=public_key,
            scheme=SCHEME,
            period=period,
            genesis_time=genesis_time,
        )
        # Signing takes about 30 ms in pure Python (far more on a loaded
        # machine): each round once, ahead of its time (see keep_ahead), then from here.
        self._signatures: dict[int, str] = {}
        self._lock = threading.Lock()

    def info(self) -> dict[str, object]:
        """/info as drand's relays serve it."""
        return {
            "public_key": self.chain.public_key,
            "period": self.chain.period,
            "genesis_time": self.chain.genesis_time,
            "hash": self.chain.chain_hash,
            "groupHash": self.genesis_seed,
            "schemeID": SCHEME,
            "metadata": {"beaconID": BEACON_ID},
        }

    def value(self, round_number: int) -> dict[str, object]:
        """/public/{round}: the round, its signature and randomness (SHA-256 of the signature)."""
        with self._lock:
            signature = self._signatures.get(round_number)
            if signature is None:
                signature = _sign(self._secret, round_number)
                self._signatures[round_number] = signature
        randomness = hashlib.sha256(bytes.fromhex(signature)).hexdigest()
        return {"round": round_number, "randomness": randomness, "signature": signature}

    def keep_ahead(self, stop: threading.Event) -> None:
        """Signs each round before it is due, as drand's nodes make theirs on time,
        so asking for a round never waits on the signing (served only once out)."""
        while not stop.is_set():
            upcoming = self.chain.round_at(time.time()) + 1
            self.value(upcoming)
            stop.wait(max(0.0, self.chain.round_time(upcoming) - time.time()))


# py_ecc takes over a second to import: only the beacon's own process pays for
# it, not every process that imports running_beacon.
def _new_key() -> tuple[int, str]:
    """A secret key and its public key on G2 (96 bytes compressed, hex)."""
    from py_ecc.bls.point_compression import compress_G2
    from py_ecc.optimized_bls12_381.optimized_curve import G2, curve_order, multiply

    secret = secrets.randbelow(curve_order - 1) + 1
    x, y = compress_G2(multiply(G2, secret))
    return secret, (x.to_bytes(48, "big") + y.to_bytes(48, "big")).hex()


def _sign(secret: int, round_number: int) -> str:
    """The round's signature on G1 (48 bytes compressed, hex), as quicknet signs."""
    from py_ecc.bls.hash_to_curve import hash_to_G1
    from py_ecc.bls.point_compression import compress_G1
    from py_ecc.optimized_bls12_381.optimized_curve import multiply

    message = hashlib.sha256(round_number.to_bytes(8, "big")).digest()
    # py_ecc annotates a hash object where it needs (and itself passes) the constructor.
    on_curve = hash_to_G1(message, SIGNATURE_DST, hashlib.sha256)  # type: ignore[arg-type]
    point = multiply(on_curve, secret)
    return compress_G1(point).to_bytes(48, "big").hex()


def _handler_for(local: LocalChain) -> type[BaseHTTPRequestHandler]:
    class BeaconHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = _ROUTE.match(self.path.split("?")[0])
            chain = local.chain
            if self.path == "/chains":
                self._answer(200, [chain.chain_hash])
            elif route is None or route["chain"] not in (None, chain.chain_hash):
                self._answer(404, {"error": "not found"})
            elif route["what"] == "info":
                self._answer(200, local.info())
            else:
                latest = chain.round_at(time.time())
                wanted = latest if route["round"] == "latest" else int(route["round"])
                if 1 <= wanted <= latest:
                    self._answer(200, local.value(wanted))
                else:  # as drand: a round not out yet is not found
                    self._answer(404, {"error": f"round {wanted} is not out yet"})

        def _answer(self, status: int, body: object) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return BeaconHandler


def serve(host: str, port: int, period: int) -> None:
    """Runs the beacon until the process is stopped; its chain starts now."""
    local = LocalChain(period, f"http://{host}:{port}")
    server = ThreadingHTTPServer((host, port), _handler_for(local))
    threading.Thread(target=local.keep_ahead, args=(threading.Event(),), daemon=True).start()
    print(f"beacon {local.chain.chain_hash} on {local.chain.url}, every {period}s", flush=True)
    server.serve_forever()


@contextmanager
def running_beacon(log_path: Path | None = None, period: int = DEFAULT_PERIOD) -> Iterator[str]:
    """Starts a local beacon on a free loopback port; yields its URL.

    Its log (a line per request) goes to ``log_path``, or nowhere.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "launch.beacon_server", "--port", str(port)]
    with running_server("beacon", [*argv, "--period", str(period)], f"{url}/info", log_path):
        yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--period", type=int, default=DEFAULT_PERIOD, help="seconds a round")
    args = parser.parse_args(argv)
    if args.period < 1:
        parser.error("--period must be at least 1 second")
    with suppress(KeyboardInterrupt):
        serve(args.host, args.port, args.period)


if __name__ == "__main__":
    main()
