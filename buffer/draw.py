"""The verifiable draw: buffered fans become queue numbers at the drop.

The algorithm (``fairdrop-draw-v1``) is written down exactly in
``docs/fairness.md`` and computed by ``buffer/order.py`` (standard library
only), which the verifier (``buffer/verify.py``) uses on published data. This
module is the server's side: it reads the buffer out of Redis, runs that
algorithm with a faster last step (:func:`fast_order_by_keys`, a sort in
numpy) and writes the numbers back. The tests hold both sorts to the page's
plain reference implementation, ties and all.

The order is computed here, in Python, and written back in small chunks:
one Lua call over a million members would block Redis for seconds. A draw is
three steps in a row, each waiting on the one before: read the buffer (Redis
works), compute the order (Python works), write the numbers (Redis works). So
the Python side of reading and writing is done while Redis is busy with the
previous command, and the computing avoids a Python object per step where it
can (the sort runs in numpy).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import hiredis
import numpy as np
import redis
from redis.connection import AbstractConnection

from buffer.order import KEY_BYTES, draw_ranking, key_count, whole_key
from queue_engine.keys import EventKeys
from queue_engine.scripts import SyncScripts

# Redis spends about 0.6 us per member on SSCAN and 0.9 us on ZADD on our
# 2-core machines, so these keep each command near a millisecond of Redis
# time: no other client waits long behind the draw (see `fairdrop bench`).
SCAN_COUNT = 2_000
WRITE_CHUNK = 1_500
# ZADDs sent ahead of their replies: Redis executes one while we pack the next.
WRITES_IN_FLIGHT = 4
LEASE_MS = 30_000

# hiredis's C packer (its stub types the argument as a 1-tuple).
_pack_command = cast(Callable[[tuple[str | int | bytes, ...]], bytes], hiredis.pack_command)


def fast_order_by_keys(keys: bytes | bytearray) -> list[int]:
    """``buffer.order.order_by_keys`` (indexes of the keys sorted by key bytes,
    equal keys by index), without a Python object per step.

    Sorts on each key's first 8 bytes as a number (numpy), then settles the
    rare runs whose first 8 bytes tie by the whole key and then the index.
    """
    key_count(keys)  # whole keys only

    def by_whole_key(i: int) -> tuple[bytes | bytearray, int]:
        return whole_key(keys, i), i

    leading = np.frombuffer(keys, dtype=">u8")[:: KEY_BYTES // 8]
    order = np.argsort(leading)
    in_order = leading[order]
    ranked: list[int] = order.tolist()
    # Positions p where the key at p and p + 1 share their first 8 bytes,
    # split into runs of consecutive positions: each run is one group of ties.
    tied = np.flatnonzero(in_order[1:] == in_order[:-1])
    for run in np.split(tied, np.flatnonzero(np.diff(tied) != 1) + 1) if tied.size else []:
        low, high = int(run[0]), int(run[-1]) + 2
        ranked[low:high] = sorted(ranked[low:high], key=by_whole_key)
    return ranked


@dataclass(frozen=True)
class DrawResult:
    entrants: int
    digest: str
    seconds: float
    state: str


class _Connection(Protocol):
    """The parts of redis-py's (untyped) ``Connection`` that send ahead of replies."""

    def send_command(self, *args: str | bytes | int) -> None: ...
    def send_packed_command(self, command: list[bytes], check_health: bool = True) -> None: ...
    def read_response(self, disable_decoding: bool = False) -> Any: ...
    def disconnect(self) -> None: ...


@contextmanager
def _own_connection(client: redis.Redis) -> Iterator[_Connection]:
    """A pooled connection for sending commands ahead of their replies.

    If anything fails with replies still unread, the connection is closed
    rather than handed back out of step.
    """
    pool = client.connection_pool
    connection = pool.get_connection()
    if not isinstance(connection, AbstractConnection):
        pool.release(connection)
        raise TypeError("the draw needs a plain TCP or Unix-socket Redis connection")
    typed = cast(_Connection, connection)
    try:
        yield typed
    except BaseException:
        typed.disconnect()
        raise
    finally:
        pool.release(connection)


def read_buffer(client: redis.Redis, keys: EventKeys) -> list[bytes]:
    """Every buffered fan id (UTF-8), each once, sorted by bytes.

    Each SSCAN page is asked for before the previous one is sorted, so Redis
    scans while we sort.
    """
    members: list[bytes] = []
    with _own_connection(client) as connection:
        connection.send_command("SSCAN", keys.buffer, 0, "COUNT", SCAN_COUNT)
        cursor = b""
        while cursor != b"0":
            cursor, page = connection.read_response(disable_decoding=True)
            if cursor != b"0":
                connection.send_command("SSCAN", keys.buffer, cursor, "COUNT", SCAN_COUNT)
            page.sort()
            members += page
    # The pages are sorted runs, which Python's sort (Timsort) merges: about
    # half the work of sorting the members from scratch.
    members.sort()
    # SSCAN may return a member twice, never miss one of a set that does not
    # change (the buffer is frozen): more members than the set holds means repeats.
    if len(members) > client.scard(keys.buffer):
        members = sorted(set(members))
    return members


def write_numbers(
    client: redis.Redis, keys: EventKeys, ids: list[bytes], ranking: list[int]
) -> None:
    """``ZADD`` queue number n + 1 for ``ids[ranking[n]]``, a chunk per command."""
    in_flight = 0
    with _own_connection(client) as connection:
        for start in range(0, len(ranking), WRITE_CHUNK):
            chunk = list(map(ids.__getitem__, ranking[start : start + WRITE_CHUNK]))
            pairs: list[int | bytes] = [0] * (2 * len(chunk))
            pairs[0::2] = range(start + 1, start + 1 + len(chunk))
            pairs[1::2] = chunk
            # A health-check PING would read a ZADD's reply as its own.
            connection.send_packed_command(
                [_pack_command(("ZADD", keys.queue, *pairs))], check_health=in_flight == 0
            )
            in_flight += 1
            if in_flight > WRITES_IN_FLIGHT:
                connection.read_response()
                in_flight -= 1
        for _ in range(in_flight):
            connection.read_response()


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
    by_bytes = read_buffer(client, keys)
    ranking, digest = draw_ranking(seed_hex, by_bytes, fast_order_by_keys)
    write_numbers(client, keys, by_bytes, ranking)
    state = scripts.run("finish_draw", event_id, 0, len(ranking), digest)
    state_text = state.decode() if isinstance(state, bytes) else str(state)
    return DrawResult(len(ranking), digest, time.perf_counter() - started, state_text)
