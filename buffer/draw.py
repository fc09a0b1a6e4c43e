"""The verifiable draw: buffered fans become queue numbers at the drop.

The algorithm (``fairdrop-draw-v2``; v1 for older sales) is written down exactly in
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

import json
import logging
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

from buffer.beacon import BeaconChain, BeaconError, BeaconValue, fetch_round
from buffer.order import (
    ALGORITHM_V1,
    KEY_BYTES,
    PROMISE_COMMITTED,
    PROMISE_UNSTEERABLE,
    digest_of_ordered,
    draw_key,
    draw_ranking,
    key_count,
    whole_key,
)
from fairdrop.connections import SaleRedis
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
BEACON_RETRY_SECONDS = 1.0
log = logging.getLogger("fairdrop.draw")
# When this process last asked for each beacon round (by chain URL) it waits for,
# and the rounds it has: sales made in the same second share their round, and
# each must not wait a second more for the one before it.
_beacon_tried_at: dict[tuple[str, int], float] = {}
_beacon_values: dict[tuple[str, int], BeaconValue] = {}
BEACON_VALUES_KEPT = 1_000

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


def owner_of(client: SaleRedis, key: str) -> redis.Redis:
    """The lone server, or on a cluster the master serving ``key``'s slot (the
    event's ``{e:<id>}`` tag): the pipelined commands below all name that slot."""
    if isinstance(client, redis.RedisCluster):
        node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]  # redis-py leaves it bare
        return client.get_redis_connection(node)
    return client


@contextmanager
def _own_connection(client: SaleRedis, key: str) -> Iterator[_Connection]:
    """A pooled connection for sending commands ahead of their replies.

    If anything fails with replies still unread, the connection is closed
    rather than handed back out of step.
    """
    pool = owner_of(client, key).connection_pool
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


def read_buffer(client: SaleRedis, keys: EventKeys, source: str | None = None) -> list[bytes]:
    """Every buffered fan id (UTF-8), each once, sorted by bytes.

    ``source`` is the set to read, the sale's buffer unless named (a resale
    round's, buffer/rounds.py). Each SSCAN page is asked for before the
    previous one is sorted, so Redis scans while we sort.
    """
    source = source or keys.buffer
    members: list[bytes] = []
    with _own_connection(client, source) as connection:
        connection.send_command("SSCAN", source, 0, "COUNT", SCAN_COUNT)
        cursor = b""
        while cursor != b"0":
            cursor, page = connection.read_response(disable_decoding=True)
            if cursor != b"0":
                connection.send_command("SSCAN", source, cursor, "COUNT", SCAN_COUNT)
            page.sort()
            members += page
    # The pages are sorted runs, which Python's sort (Timsort) merges: about
    # half the work of sorting the members from scratch.
    members.sort()
    # SSCAN may return a member twice, never miss one of a set that does not
    # change (the buffer is frozen): more members than the set holds means repeats.
    if len(members) > client.scard(source):
        members = sorted(set(members))
    return members


def write_numbers(
    client: SaleRedis, keys: EventKeys, ids: list[bytes], ranking: list[int], first: int = 1
) -> None:
    """``ZADD`` queue number ``first + n`` for ``ids[ranking[n]]``, a chunk per command."""
    in_flight = 0
    with _own_connection(client, keys.queue) as connection:
        for start in range(0, len(ranking), WRITE_CHUNK):
            chunk = list(map(ids.__getitem__, ranking[start : start + WRITE_CHUNK]))
            pairs: list[int | bytes] = [0] * (2 * len(chunk))
            pairs[0::2] = range(first + start, first + start + len(chunk))
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


def text_of(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


@dataclass(frozen=True)
class BeaconOutcome:
    """What the draw mixes into its key: the beacon JSON to publish (with the
    value, or why there is none) and the promise the draw keeps."""

    beacon: str
    randomness: str
    promise: str


def beacon_outcome(beacon_json: str, wait_seconds: float, now: float) -> BeaconOutcome | None:
    """The beacon value this v2 draw waits for; None while it should wait longer.

    A sale created without a beacon, or whose round stays out of reach
    ``wait_seconds`` past its time, draws without one and says so: its order
    is then only as unsteerable as the committed seed (docs/fairness.md).
    """
    if not beacon_json:
        return BeaconOutcome("", "", PROMISE_COMMITTED)
    published: dict[str, Any] = json.loads(beacon_json)
    chain = BeaconChain.from_json(published)
    round_ = int(published["round"])
    if now < chain.round_time(round_):
        return None
    tried = (chain.url, round_)
    value = _beacon_values.get(tried)
    reason = f"round {round_} was not out"
    if value is None:
        # At most one try a second: a beacon that times out must not hold up
        # every other sale's clock step while this one waits.
        if now - _beacon_tried_at.get(tried, -BEACON_RETRY_SECONDS) < BEACON_RETRY_SECONDS:
            return None
        _beacon_tried_at[tried] = now
        try:
            value = fetch_round(chain, round_)
        except BeaconError as exc:
            value, reason = None, str(exc)
        if value is not None:
            if len(_beacon_values) >= BEACON_VALUES_KEPT:
                _beacon_values.clear()
            _beacon_values[tried] = value
    if value is not None:
        published |= {"status": "verified", "randomness": value.randomness}
        published["signature"] = value.signature
        return BeaconOutcome(json.dumps(published), value.randomness, PROMISE_UNSTEERABLE)
    log.info("beacon round %d not had yet: %s", round_, reason)
    if now < chain.round_time(round_) + wait_seconds:
        return None
    published |= {"status": "unavailable", "reason": reason[:200]}
    return BeaconOutcome(json.dumps(published), "", PROMISE_COMMITTED)


def run_draw(
    scripts: SyncScripts,
    event_id: str,
    beacon_wait_seconds: float = 20.0,
    now: float | None = None,
) -> DrawResult | None:
    """Draws a sale whose window has closed; None when there is nothing to do
    yet (another clock holds the lease, or the beacon round is not out).

    A v2 draw is two steps: the frozen list's digest is published at once,
    before the beacon round exists; the order is computed once the round is
    out. The clock calls this every tick while the sale is drawing. Safe to
    repeat: the order depends only on the seed, the beacon value and the
    frozen buffer, so a second run (after a crash, or by a second clock)
    writes the same numbers.
    """
    client = scripts.client
    keys = EventKeys(event_id)
    now = time.time() if now is None else now
    algorithm, beacon_json, digest_on_record = map(
        text_of, client.hmget(keys.meta, ["algorithm", "beacon", "entrants_digest"])
    )
    algorithm = algorithm or ALGORITHM_V1  # sales made before v2
    outcome = BeaconOutcome("", "", "")
    if algorithm != ALGORITHM_V1:
        if not digest_on_record:
            frozen = read_buffer(client, keys)
            scripts.run("record_digest", event_id, 0, len(frozen), digest_of_ordered(frozen))
        waited = beacon_outcome(beacon_json, beacon_wait_seconds, now)
        if waited is None:
            return None
        outcome = waited
    # The lease only saves a second clock the work; it is left to expire,
    # since once the draw is finished nobody asks for it again.
    if not client.set(keys.draw_lease, uuid.uuid4().hex, nx=True, px=LEASE_MS):
        return None
    started = time.perf_counter()
    seed = client.get(keys.seed)
    if seed is None:
        raise RuntimeError(f"event {event_id} has no seed")
    key = draw_key(algorithm, text_of(seed), outcome.randomness)
    by_bytes = read_buffer(client, keys)
    ranking, digest = draw_ranking(key, by_bytes, fast_order_by_keys)
    write_numbers(client, keys, by_bytes, ranking)
    state = scripts.run(
        "finish_draw", event_id, 0, len(ranking), digest, outcome.beacon, outcome.promise
    )
    return DrawResult(len(ranking), digest, time.perf_counter() - started, text_of(state))
