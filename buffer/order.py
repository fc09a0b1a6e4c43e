"""The draw's algorithm (``fairdrop-draw-v2``, and v1 for sales drawn before
it), on the Python standard library alone.

docs/fairness.md writes the algorithm down exactly; this module computes it
from the draw key (the seed, mixed in v2 with a public beacon value) and the
entrant ids, nothing else: no Redis, no numpy. The
offline verifier (``buffer/verify.py``, ``fairdrop verify-draw URL``) uses it
as it stands; the server's draw (``buffer/draw.py``) shares its seed, digest
and sort keys and only swaps in a faster sort (numpy) for the last step. The
tests hold both to the page's plain reference implementation, ties and all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable

ALGORITHM = "fairdrop-draw-v2"
ALGORITHM_V1 = "fairdrop-draw-v1"
ALGORITHMS = (ALGORITHM, ALGORITHM_V1)
# What a v2 draw promises: mixed with a beacon value that did not exist until
# the entrant list was frozen and published, or (no beacon value to be had)
# only that the seed was committed before the window opened.
PROMISE_UNSTEERABLE = "unsteerable"
PROMISE_COMMITTED = "committed-seed"
# What a v2 draw's key mixes with the beacon value, so a key made for
# anything else can never be a draw key.
_V2_LABEL = b"fairdrop-draw-v2:"

_BLOCK = 64  # SHA-256 block size, the HMAC key length (RFC 2104)
KEY_BYTES = 32  # SHA-256 output: every sort key is this long

# Indexes of sort keys laid end to end (KEY_BYTES each), in the draw's order.
Ranker = Callable[[bytes | bytearray], list[int]]


def new_seed() -> str:
    """A fresh 32-byte seed as 64 hex characters."""
    return secrets.token_hex(32)


def seed_commitment(seed_hex: str) -> str:
    """SHA-256 of the raw seed bytes: published before the window opens."""
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


def draw_key(algorithm: str, seed_hex: str, randomness_hex: str = "") -> bytes:
    """The key every entrant's sort key is made with.

    v2: HMAC-SHA256(seed, "fairdrop-draw-v2:" + the beacon's randomness as
    lowercase hex, or nothing when the draw had to go without a beacon). The
    beacon value does not exist until after the buffer froze, so whoever
    knows the seed still cannot know the order while entrants can be added.
    v1: the seed itself.
    """
    seed = bytes.fromhex(seed_hex)
    if algorithm == ALGORITHM_V1:
        return seed
    if algorithm != ALGORITHM:
        raise ValueError(f"unknown draw algorithm {algorithm!r}")
    return hmac.digest(seed, _V2_LABEL + randomness_hex.lower().encode("ascii"), "sha256")


def digest_of_ordered(ordered: list[bytes]) -> str:
    """SHA-256 of each id followed by a newline, in the given order."""
    digest = hashlib.sha256(b"\n".join(ordered))
    if ordered:
        digest.update(b"\n")
    return digest.hexdigest()


def entrants_digest(entrants: Iterable[str]) -> str:
    """SHA-256 over the entrant ids sorted by their UTF-8 bytes, each followed by a newline."""
    return digest_of_ordered(sorted({f.encode("utf-8") for f in entrants}))


def sort_keys(seed: bytes, digest: str, ids: list[bytes]) -> bytearray:
    """HMAC-SHA256(seed, digest + ":" + id) for every id, end to end (32 bytes
    each); ``seed`` is the draw key (:func:`draw_key`).

    HMAC written out (RFC 2104) so the hash states after the padded key and
    after the digest, the same for every id, are computed once and copied:
    about twice as fast as ``hmac.digest`` per id. The tests check it against
    ``hmac`` itself. One bytearray rather than a bytes object per key saves
    memory and lets numpy read the keys without a copy.
    """
    if len(seed) > _BLOCK:
        seed = hashlib.sha256(seed).digest()
    padded = seed.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    inner.update(digest.encode("ascii") + b":")
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    inner_copy, outer_copy = inner.copy, outer.copy
    keys = bytearray()
    for fan_id in ids:
        step = inner_copy()
        step.update(fan_id)
        final = outer_copy()
        final.update(step.digest())
        keys += final.digest()
    return keys


def key_count(keys: bytes | bytearray) -> int:
    """How many sort keys ``keys`` lays end to end; ValueError unless whole keys."""
    if len(keys) % KEY_BYTES:
        raise ValueError(f"sort keys must be {KEY_BYTES} bytes each")
    return len(keys) // KEY_BYTES


def whole_key(keys: bytes | bytearray, i: int) -> bytes | bytearray:
    """The ``i``-th sort key of ``keys``."""
    return keys[i * KEY_BYTES : (i + 1) * KEY_BYTES]


def order_by_keys(keys: bytes | bytearray) -> list[int]:
    """Indexes of the 32-byte keys laid end to end in ``keys``, sorted by key
    bytes, equal keys by index.

    Python's sort is stable, so equal keys keep their index order. The caller
    passes keys in the ids' byte order, so "equal keys by index" is the
    specification's "equal keys by id".
    """
    return sorted(range(key_count(keys)), key=lambda i: whole_key(keys, i))


def draw_ranking(
    key: bytes, by_bytes: list[bytes], rank: Ranker = order_by_keys
) -> tuple[list[int], str]:
    """The draw on distinct UTF-8 ids already in byte order: the index into
    ``by_bytes`` of queue number 1, 2, ..., and the digest. ``key`` is the
    :func:`draw_key`; ``rank`` sorts the sort keys (the server passes its
    numpy sort; every ranker gives the same order)."""
    digest = digest_of_ordered(by_bytes)
    return rank(sort_keys(key, digest, by_bytes)), digest


def draw_order(
    key: bytes, entrants: Iterable[str], rank: Ranker = order_by_keys
) -> tuple[list[str], str]:
    """The entrants in queue order (first is number 1), and their digest.

    Each entrant's sort key is HMAC-SHA256(key, digest + ":" + id). The digest
    mixes in the whole entrant list, so nobody can aim a single id at a place;
    the seed in the key was committed before anyone could join, and (v2) the
    beacon value in it did not exist until the list was frozen.
    """
    # bytes sort in plain byte order, the order the specification names.
    by_bytes = sorted({f.encode("utf-8") for f in entrants})
    ranking, digest = draw_ranking(key, by_bytes, rank)
    return [by_bytes[i].decode("utf-8") for i in ranking], digest
