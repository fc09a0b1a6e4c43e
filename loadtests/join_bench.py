"""Joins absorbed in a burst: join.lua, pipelined, from several client processes.

The sale's window is open in real time and every join passes ARGV now = 0,
so join.lua reads Redis's clock as the web process's joins do. This is the
Redis side of a join only; the HTTP route in front of it is not measured here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import redis

from buffer.arrivals import NO_SHARE, Joiner, join_args
from loadtests.bench_sale import create_bench_sale, drop_sale
from loadtests.burst import evalsha_pipelined, redis_cpu_seconds, run_burst, split
from queue_engine.keys import EventKeys
from queue_engine.scripts import SyncScripts, script_source

WINDOW_MS = 600_000


@dataclass(frozen=True)
class JoinFigure:
    joins: int
    seconds: float
    buffered: int
    errors: int
    outcomes: dict[str, int]
    redis_cpu_share: float  # Redis's CPU seconds per second of the burst

    @property
    def joins_per_s(self) -> float:
        return self.joins / self.seconds


def _prepare_joins(
    url: str, sha: str, event_id: str, fans: list[str]
) -> Callable[[], Counter[str]]:
    client = redis.Redis.from_url(url)
    keys = EventKeys(event_id).script_keys
    # ARGV: now (0: Redis's clock), then what the web process sends for an anonymous fan.
    argvs: list[list[str | int]] = [[0, *join_args(Joiner(fan), NO_SHARE)] for fan in fans]
    client.ping()
    return lambda: evalsha_pipelined(client, sha, keys, argvs, lambda answer: answer[0].decode())


def measure_joins(scripts: SyncScripts, url: str, fans: int, clients: int) -> JoinFigure:
    """``fans`` distinct fans join an open window at once; every answer must be 'buffered'."""
    now_ms = int(time.time() * 1000)
    event_id = create_bench_sale(scripts, now_ms - 1_000, now_ms + WINDOW_MS, stock=1, cap=1)
    sha = scripts.client.script_load(script_source("join"))
    fan_ids = [f"fan-{i}" for i in range(fans)]
    cpu_before = redis_cpu_seconds(scripts.client)
    burst = run_burst(_prepare_joins, [(url, sha, event_id, s) for s in split(fan_ids, clients)])
    cpu_share = (redis_cpu_seconds(scripts.client) - cpu_before) / burst.seconds
    buffered = int(scripts.client.scard(EventKeys(event_id).buffer))
    drop_sale(scripts.client, event_id)
    errors = sum(n for outcome, n in burst.outcomes.items() if outcome != "buffered")
    errors += abs(fans - buffered)  # a join answered 'buffered' must be in the buffer
    return JoinFigure(fans, burst.seconds, buffered, errors, dict(burst.outcomes), cpu_share)
