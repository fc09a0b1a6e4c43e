"""Holds per second: fairdrop's hold.lua against a PostgreSQL row-lock baseline.

Both take the same workload: every fan of an admitted crowd asks for one
ticket of one type, more fans than tickets, from the same number of clients
at once. The rate counts successful holds over the whole burst, refusals
included in the time, so both sides are measured the same way.

The baseline is how pretix and alf.io guard stock: one transaction that locks
the ticket type's row (``SELECT ... FOR UPDATE``), checks what is left and
inserts a hold row. It is given every advantage we could think of: a counter
column instead of counting hold rows, prepared statements, and a server with
fsync and synchronous commit off.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import redis

from fairdrop.connections import SaleRedis
from loadtests.bench_sale import drop_sale
from loadtests.burst import (
    CLIENT_MAX_SECONDS,
    evalsha_pipelined,
    redis_cpu_seconds,
    run_burst,
    split,
)
from loadtests.crowds import admitted_crowd
from queue_engine.keys import EventKeys
from queue_engine.scripts import SyncScripts, script_source

ONE_TICKET = json.dumps([["ga", 1]])


@dataclass(frozen=True)
class HoldFigure:
    attempts: int
    stock: int
    held: int
    seconds: float
    oversold: int
    outcomes: dict[str, int]
    redis_cpu_share: float | None = None  # Redis's CPU seconds per second of the burst

    @property
    def holds_per_s(self) -> float:
        return self.held / self.seconds


def _hold_outcome(answer: str | bytes) -> str:
    body = json.loads(answer)
    return "held" if body.get("ok") else str(body.get("code", "refused"))


def _prepare_lua_holds(
    url: str, sha: str, event_id: str, fans: list[str]
) -> Callable[[], Counter[str]]:
    client = redis.Redis.from_url(url)
    keys = EventKeys(event_id).script_keys
    # ARGV: now (0: Redis's clock), fan, request id, hold id, items.
    argvs: list[list[str | int]] = [
        [0, fan, uuid.uuid4().hex, uuid.uuid4().hex, ONE_TICKET] for fan in fans
    ]
    client.ping()
    return lambda: evalsha_pipelined(client, sha, keys, argvs, _hold_outcome)


def measure_lua_holds(
    scripts: SyncScripts, url: str, fans: int, stock: int, clients: int
) -> HoldFigure:
    """hold.lua for every fan of a fresh admitted crowd, pipelined from ``clients`` processes."""
    now_ms = int(time.time() * 1000)
    # Real time, since hold.lua reads Redis's clock (ARGV now = 0) as in production.
    event_id, fan_ids = admitted_crowd(scripts, fans, stock, start_ms=now_ms - 2_000)
    sha = scripts.client.script_load(script_source("hold"))
    cpu_before = redis_cpu_seconds(scripts.client)
    burst = run_burst(
        _prepare_lua_holds, [(url, sha, event_id, share) for share in split(fan_ids, clients)]
    )
    cpu_share = (redis_cpu_seconds(scripts.client) - cpu_before) / burst.seconds
    oversold = max(
        burst.outcomes["held"] - stock, stock_errors(scripts.client, event_id, "ga", stock)
    )
    drop_sale(scripts.client, event_id)
    held_ok = burst.outcomes["held"]
    return HoldFigure(
        fans, stock, held_ok, burst.seconds, oversold, dict(burst.outcomes), cpu_share
    )


def stock_errors(client: SaleRedis, event_id: str, type_id: str, stock: int) -> int:
    """Tickets beyond the stock in Redis's own counts; at least 1 if they do not add up.

    Invariant 1: available + held + sold = stock, none of them negative.
    """
    keys = EventKeys(event_id)
    counts = [
        int(client.hget(key, type_id) or 0)
        for key in (keys.stock, keys.available, keys.held, keys.sold)
    ]
    total, available, held, sold = counts
    over = max(0, held + sold - stock, -available)
    return over if available + held + sold == total == stock else max(over, 1)


SCHEMA = """
DROP TABLE IF EXISTS hold;
DROP TABLE IF EXISTS ticket_type;
CREATE TABLE ticket_type (id text PRIMARY KEY, stock integer NOT NULL, held integer NOT NULL);
CREATE TABLE hold (
    id bigserial PRIMARY KEY,
    ticket_type text NOT NULL REFERENCES ticket_type (id),
    fan_id text NOT NULL,
    quantity integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ticket_type, fan_id)
);
"""


def _hold_with_row_lock(conn: psycopg.Connection[tuple[int, int]], fan: str) -> str:
    with conn.transaction():
        row = conn.execute(
            "SELECT stock, held FROM ticket_type WHERE id = 'ga' FOR UPDATE"
        ).fetchone()
        if row is None:
            return "unknown_ticket_type"
        stock, held = row
        if stock - held < 1:
            return "sold_out"
        conn.execute(
            "INSERT INTO hold (ticket_type, fan_id, quantity) VALUES ('ga', %s, 1)", (fan,)
        )
        conn.execute("UPDATE ticket_type SET held = held + 1 WHERE id = 'ga'")
    return "held"


def measure_pg_holds(conninfo: str, fans: int, stock: int, clients: int) -> HoldFigure:
    """The same workload as PostgreSQL transactions, one thread and connection per client."""
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(SCHEMA)
        admin.execute("INSERT INTO ticket_type VALUES ('ga', %s, 0)", (stock,))
    shares = split([f"fan-{i}" for i in range(fans)], clients)
    connections = [psycopg.connect(conninfo) for _ in shares]
    barrier = threading.Barrier(len(shares) + 1)
    outcomes: list[Counter[str]] = [Counter() for _ in shares]
    spans: list[tuple[float, float]] = [(0.0, 0.0)] * len(shares)

    def client(index: int) -> None:
        conn, counter = connections[index], outcomes[index]
        barrier.wait()
        started = time.monotonic()
        deadline = started + CLIENT_MAX_SECONDS
        for fan in shares[index]:
            if time.monotonic() > deadline:
                counter["not_sent"] += 1
                continue
            try:
                counter[_hold_with_row_lock(conn, fan)] += 1
            except psycopg.Error as error:
                counter[f"error:{type(error).__name__}"] += 1
        spans[index] = (started, time.monotonic())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(shares))]
    try:
        for thread in threads:
            thread.start()
        barrier.wait()
        for thread in threads:
            thread.join(CLIENT_MAX_SECONDS + 10)
    finally:
        for conn in connections:
            conn.close()
    seconds = max(end for _, end in spans) - min(start for start, _ in spans)
    total: Counter[str] = sum(outcomes, Counter())
    with psycopg.connect(conninfo) as check:
        row = check.execute("SELECT count(*) FROM hold").fetchone()
    holds_in_db = int(row[0]) if row else 0
    oversold = max(0, holds_in_db - stock)
    return HoldFigure(fans, stock, total["held"], seconds, oversold, dict(total))
