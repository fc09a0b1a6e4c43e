"""The public randomness beacon the draw mixes in: drand's HTTP API, every value checked.

A drand chain (https://drand.love) publishes one value a round, round r at
``genesis_time + (r - 1) * period``. Nobody, the beacon's own operators
included, knows a round's value before enough of them sign it, and anyone can
check it afterwards against the chain's public key. The draw fixes a round at
event creation that comes out after the buffer freezes, so whoever runs
fairdrop cannot steer the order (docs/fairness.md, fairdrop-draw-v2).

The protocol, as every drand HTTP relay serves it:

- ``GET {url}/info``: the chain (public key, period, genesis time, scheme,
  its hash); ``{url}`` may already name the chain
  (``https://api.drand.sh/<chain hash>``), and then its info must hash to it;
- ``GET {url}/public/{round}``: ``{round, randomness, signature}``, a 404 or
  425 until the round exists.

Only the ``bls-unchained-g1-rfc9380`` scheme (drand's "quicknet") is accepted:
its rounds stand alone, so one round is checked without its predecessors. The
signature check is drand-verify's (a maintained Rust implementation, about
4 ms a round here), and the served randomness must be its SHA-256.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# No type information ships with it; verify_value below is its one caller.
import drand_verify  # type: ignore[import-untyped]
import httpx

from fairdrop.settings import QUICKNET_URL as QUICKNET_URL

SCHEME = "bls-unchained-g1-rfc9380"
# drand quicknet, as drand publishes it (api.drand.sh/<hash>/info); the chain
# hash is the SHA-256 of its info (chain_hash_of), so the two vouch for each other.
QUICKNET_CHAIN_HASH = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
QUICKNET_PUBLIC_KEY = (
    "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c"
    "8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb"
    "5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a"
)
# Sizes in bytes for this scheme: keys on G2, signatures on G1, compressed.
PUBLIC_KEY_BYTES = 96
SIGNATURE_BYTES = 48
# drand leaves the beacon id out of the chain hash for these (chain.Info.Hash).
DEFAULT_BEACON_IDS = ("", "default")
MAX_ROUND = 2**64 - 1  # drand's rounds are uint64
# A round not out yet: drand relays answer 425 Too Early, or 404.
NOT_YET = (404, 425)

_HEX = re.compile(r"[0-9a-fA-F]*")
_CHAIN_HASH_IN_URL = re.compile(r"/([0-9a-f]{64})$")


class BeaconError(Exception):
    """The beacon cannot be reached, or what it answered is not a checked drand value."""


@dataclass(frozen=True)
class BeaconChain:
    """One drand chain, as the draw document publishes it."""

    url: str
    chain_hash: str
    public_key: str
    scheme: str
    period: int
    genesis_time: int

    def round_time(self, round_number: int) -> int:
        """When round ``round_number`` comes out (unix seconds)."""
        return self.genesis_time + (round_number - 1) * self.period

    def round_at(self, unix_s: float) -> int:
        """The latest round out at ``unix_s``; 0 before the chain began."""
        if unix_s < self.genesis_time:
            return 0
        return math.floor((unix_s - self.genesis_time) / self.period) + 1

    def round_after(self, unix_s: float) -> int:
        """The first round whose time is strictly later than ``unix_s``."""
        return self.round_at(unix_s) + 1

    @property
    def is_quicknet(self) -> bool:
        """drand's own quicknet, rather than a beacon someone else runs (the local one)."""
        return (self.chain_hash, self.public_key) == (QUICKNET_CHAIN_HASH, QUICKNET_PUBLIC_KEY)

    def as_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "chain_hash": self.chain_hash,
            "public_key": self.public_key,
            "scheme": self.scheme,
            "period": self.period,
            "genesis_time": self.genesis_time,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> BeaconChain:
        """The chain from a draw document's ``beacon``; BeaconError naming what is wrong."""
        url, scheme = data.get("url"), data.get("scheme")
        if not isinstance(url, str) or not isinstance(scheme, str):
            raise BeaconError("a beacon chain needs a url and a scheme (strings)")
        return cls(
            url=url,
            chain_hash=_hex(data.get("chain_hash"), 32, "chain_hash"),
            public_key=_hex(data.get("public_key"), PUBLIC_KEY_BYTES, "public_key"),
            scheme=scheme,
            period=_whole(data.get("period"), "period", minimum=1),
            genesis_time=_whole(data.get("genesis_time"), "genesis_time", minimum=0),
        )


@dataclass(frozen=True)
class BeaconValue:
    """One round's value: ``randomness`` is the SHA-256 of ``signature`` (both hex)."""

    round: int
    randomness: str
    signature: str


def chain_hash_of(
    period: int, genesis_time: int, public_key: str, genesis_seed: str, beacon_id: str
) -> str:
    """drand's chain hash (chain.Info.Hash): SHA-256 of the period (uint32), the
    genesis time (int64), the public key, the genesis seed and a non-default id."""
    digest = hashlib.sha256()
    digest.update(period.to_bytes(4, "big") + genesis_time.to_bytes(8, "big", signed=True))
    digest.update(bytes.fromhex(public_key) + bytes.fromhex(genesis_seed))
    if beacon_id not in DEFAULT_BEACON_IDS:
        digest.update(beacon_id.encode())
    return digest.hexdigest()


def verify_value(chain: BeaconChain, value: BeaconValue) -> None:
    """Raises BeaconError unless ``value`` is round ``value.round`` of ``chain``,
    signed with its key. Needs no network: a verifier runs it on a draw document."""
    if chain.scheme != SCHEME:
        raise BeaconError(f"beacon scheme {chain.scheme!r} is not supported (only {SCHEME})")
    round_number = _whole(value.round, "beacon round", minimum=1)
    if round_number > MAX_ROUND:
        raise BeaconError(f"beacon round {round_number} is not a drand round")
    # drand-verify panics (an exception no `except Exception` catches) on
    # malformed hex, so only well-formed keys and signatures reach it.
    signature = _hex(value.signature, SIGNATURE_BYTES, "signature")
    claimed = _hex(value.randomness, 32, "randomness")
    public_key = _hex(chain.public_key, PUBLIC_KEY_BYTES, "public_key")
    try:
        randomness = drand_verify.verify_bls_unchained_g1_rfc9380(
            round_number, signature, public_key
        )
    except ValueError as exc:
        raise BeaconError(
            f"beacon round {round_number}: the signature does not verify against the "
            f"chain's public key ({exc})"
        ) from exc
    if claimed != randomness:
        raise BeaconError(
            f"beacon round {round_number}: the randomness is not the SHA-256 of its signature"
        )


# A chain's info never changes (its hash commits to it): one fetch per process.
_chains: dict[str, BeaconChain] = {}


def fetch_chain(url: str, timeout: float = 2.0) -> BeaconChain:
    """The chain at ``url``, checked; BeaconError when unreachable, malformed or unsupported."""
    base = _base_url(url)
    if base not in _chains:
        try:
            answer = httpx.get(f"{base}/info", timeout=timeout, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise BeaconError(f"beacon {base} cannot be reached: {exc!r}") from exc
        _chains[base] = _chain_from(base, answer)
    return _chains[base]


async def fetch_chain_async(url: str, timeout: float = 2.0) -> BeaconChain:
    """fetch_chain for the event loop (the organiser API at event creation)."""
    base = _base_url(url)
    if base not in _chains:
        try:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
                answer = await client.get(f"{base}/info")
        except httpx.HTTPError as exc:
            raise BeaconError(f"beacon {base} cannot be reached: {exc!r}") from exc
        _chains[base] = _chain_from(base, answer)
    return _chains[base]


def fetch_round(chain: BeaconChain, round_number: int, timeout: float = 1.5) -> BeaconValue | None:
    """Round ``round_number``, its signature checked; None while it is not out yet.

    BeaconError when the beacon cannot be reached or answers anything but a
    valid value of that round.
    """
    try:
        answer = httpx.get(
            f"{chain.url}/public/{round_number}", timeout=timeout, follow_redirects=True
        )
    except httpx.HTTPError as exc:
        raise BeaconError(f"beacon {chain.url} cannot be reached: {exc!r}") from exc
    value = _value_from(chain, round_number, answer)
    if value is not None:
        verify_value(chain, value)
    return value


async def fetch_round_async(
    chain: BeaconChain, round_number: int, timeout: float = 1.5
) -> BeaconValue | None:
    """fetch_round for the event loop; the signature check runs off it."""
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            answer = await client.get(f"{chain.url}/public/{round_number}")
    except httpx.HTTPError as exc:
        raise BeaconError(f"beacon {chain.url} cannot be reached: {exc!r}") from exc
    value = _value_from(chain, round_number, answer)
    if value is not None:
        await asyncio.to_thread(verify_value, chain, value)
    return value


def _base_url(url: str) -> str:
    base = url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BeaconError(f"beacon URL {url!r} is not an http(s) URL")
    return base


def _json_object(base: str, answer: httpx.Response) -> Mapping[str, object]:
    if answer.status_code != 200:
        raise BeaconError(f"beacon {base} answered {answer.status_code} to {answer.url.path}")
    try:
        body = answer.json()
    except ValueError as exc:
        raise BeaconError(f"beacon {base} answered {answer.url.path} with no JSON") from exc
    if not isinstance(body, dict):
        raise BeaconError(f"beacon {base} answered {answer.url.path} with no JSON object")
    return body


def _chain_from(base: str, answer: httpx.Response) -> BeaconChain:
    """The chain in an /info answer (drand's names, or its v2 API's), checked."""
    info = _json_object(base, answer)
    scheme = info.get("schemeID", info.get("scheme"))
    if scheme != SCHEME:
        raise BeaconError(
            f"beacon {base} runs scheme {scheme!r}; fairdrop checks only {SCHEME} (drand quicknet)"
        )
    metadata = info.get("metadata")
    beacon_id = metadata.get("beaconID") if isinstance(metadata, dict) else info.get("beacon_id")
    try:
        chain = BeaconChain.from_json(
            {
                **info,
                "url": base,
                "scheme": SCHEME,
                "chain_hash": info.get("hash", info.get("chain_hash")),
            }
        )
        seed = _hex(info.get("groupHash", info.get("genesis_seed")), 32, "groupHash")
    except BeaconError as exc:
        raise BeaconError(f"beacon {base}: malformed chain info: {exc}") from exc
    own_hash = chain_hash_of(
        chain.period, chain.genesis_time, chain.public_key, seed, str(beacon_id or "")
    )
    if own_hash != chain.chain_hash:
        raise BeaconError(f"beacon {base}: its info does not hash to its chain hash")
    named = _CHAIN_HASH_IN_URL.search(base)
    if named and named.group(1) != chain.chain_hash:
        raise BeaconError(
            f"beacon {base} serves chain {chain.chain_hash}, not the one its URL names"
        )
    return chain


def _value_from(
    chain: BeaconChain, round_number: int, answer: httpx.Response
) -> BeaconValue | None:
    if answer.status_code in NOT_YET:
        return None
    body = _json_object(chain.url, answer)
    if body.get("round") != round_number:
        raise BeaconError(
            f"beacon {chain.url} answered round {body.get('round')!r} for round {round_number}"
        )
    try:
        signature = _hex(body.get("signature"), SIGNATURE_BYTES, "signature")
        randomness = _hex(body.get("randomness"), 32, "randomness")
    except BeaconError as exc:
        raise BeaconError(f"beacon {chain.url}, round {round_number}: {exc}") from exc
    return BeaconValue(round=round_number, randomness=randomness, signature=signature)


def _hex(value: object, size: int, name: str) -> str:
    """``value`` as lowercase hex of exactly ``size`` bytes, or BeaconError naming it."""
    if not isinstance(value, str) or len(value) != 2 * size or not _HEX.fullmatch(value):
        raise BeaconError(f"{name} must be {size} bytes in hex, got {value!r}")
    return value.lower()


def _whole(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BeaconError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return value
