"""The verifiable draw: buffered fans become queue numbers at the drop.

The algorithm (``fairdrop-draw-v1``) is written down exactly in
``docs/fairness.md``; :func:`draw_order` is that text in code, and the
verifier (``buffer/verify.py``) calls the same function on published data.

The order is computed here, in Python, and written back in small chunks:
one Lua call over a million members would block Redis for seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from queue_engine.keys import EventKeys
from queue_engine.scripts import SyncScripts

ALGORITHM = "fairdrop-draw-v1"
# Small pages and chunks keep every command to about a millisecond of Redis
# time, so other clients never wait long behind the draw.
SCAN_COUNT = 2_000
WRITE_CHUNK = 1_000
LEASE_MS = 30_000


def new_seed() -> str:
    """A fresh 32-byte seed as 64 hex characters."""
    return secrets.token_hex(32)


def seed_commitment(seed_hex: str) -> str:
    """SHA-256 of the raw seed bytes: published before the window opens."""
    return hashlib.sha256(bytes.fromhex(seed_hex)).hexdigest()


def entrants_digest(entrants: Iterable[str]) -> str:
    """SHA-256 over the entrant ids sorted by their UTF-8 bytes, each followed by a newline.

    Python orders str by code point, which is exactly UTF-8 byte order, so a
    plain sort gives the specified order without encoding every id twice.
    """
    ordered = sorted(entrants)
    return hashlib.sha256("".join(f"{f}\n" for f in ordered).encode("utf-8")).hexdigest()


def draw_order(seed_hex: str, entrants: Iterable[str]) -> tuple[list[str], str]:
    """The entrants in queue order (first is number 1), and their digest.

    Each entrant's sort key is HMAC-SHA256(seed, digest + ":" + id). The digest
    mixes in the whole entrant list, so nobody can aim a single id at a place,
    and the seed was committed before anyone could join.
    """
    unique = set(entrants)
    digest = entrants_digest(unique)
    key = bytes.fromhex(seed_hex)
    prefix = digest.encode("ascii") + b":"
    mac = hmac.digest  # the one-shot C path: several times faster than hmac.new
    keyed = [(mac(key, prefix + fan_id.encode("utf-8"), "sha256"), fan_id) for fan_id in unique]
    # Tuples sort by key bytes, then by id in code point (= UTF-8 byte) order.
    keyed.sort()
    return [fan_id for _, fan_id in keyed], digest


@dataclass(frozen=True)
class DrawResult:
    entrants: int
    digest: str
    seconds: float
    state: str


def read_buffer(client: redis.Redis, keys: EventKeys) -> set[str]:
    """Every buffered fan, read in SSCAN steps so Redis stays responsive."""
    found: set[str] = set()
    cursor = 0
    while True:
        cursor, members = client.sscan(keys.buffer, cursor=cursor, count=SCAN_COUNT)
        found.update(m.decode() if isinstance(m, bytes) else str(m) for m in members)
        if cursor == 0:
            return found


def write_numbers(client: redis.Redis, keys: EventKeys, ordered: list[str]) -> None:
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(ordered), WRITE_CHUNK):
        chunk = ordered[start : start + WRITE_CHUNK]
        pipe.zadd(keys.queue, {fan_id: start + i + 1 for i, fan_id in enumerate(chunk)})
        # Send every few chunks so no single round trip carries the whole draw.
        if len(pipe) >= 20:
            pipe.execute()
    pipe.execute()


def run_draw(scripts: SyncScripts, event_id: str) -> DrawResult | None:
    """Draws a sale whose window has closed; None if another clock holds the lease.

    Safe to repeat: the order depends only on the seed and the frozen buffer,
    so a second run (after a crash, or by a second clock) writes the same numbers.
    """
    client = scripts.client
    keys = EventKeys(event_id)
    # The lease only saves a second clock the work; it is left to expire,
    # since once the draw is finished nobody asks for it again.
    if not client.set(keys.draw_lease, uuid.uuid4().hex, nx=True, px=LEASE_MS):
        return None
    started = time.perf_counter()
    seed = client.get(keys.seed)
    if seed is None:
        raise RuntimeError(f"event {event_id} has no seed")
    seed_hex = seed.decode() if isinstance(seed, bytes) else str(seed)
    entrants = read_buffer(client, keys)
    ordered, digest = draw_order(seed_hex, entrants)
    write_numbers(client, keys, ordered)
    state = scripts.run("finish_draw", event_id, 0, len(ordered), digest)
    state_text = state.decode() if isinstance(state, bytes) else str(state)
    return DrawResult(len(ordered), digest, time.perf_counter() - started, state_text)
