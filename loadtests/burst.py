"""Client processes that start together and fire a burst at Redis.

Each process gets its own share of the work and its own connection, prepares
everything it will send, waits at a barrier with the others, then runs. The
burst lasts from the first process's start to the last one's finish, so
process start-up is never counted. Forked, not spawned: the children need
nothing re-imported, and the parent holds no threads when it forks.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any, TypeVar

import redis

from fairdrop.connections import SaleRedis

START_TIMEOUT_SECONDS = 30.0
CLIENT_MAX_SECONDS = 120.0
PIPELINE_DEPTH = 200
RUN_TIMEOUT_SECONDS = CLIENT_MAX_SECONDS + 30
JOIN_TIMEOUT_SECONDS = 5.0

# One share of the burst: returns the callable that sends it, after any set-up.
Item = TypeVar("Item")
Prepare = Callable[..., Callable[[], Counter[str]]]


@dataclass(frozen=True)
class ShareResult:
    started: float  # time.monotonic(), comparable across processes on Linux
    finished: float
    outcomes: Counter[str]


@dataclass(frozen=True)
class BurstResult:
    seconds: float
    outcomes: Counter[str]


def _client_main(
    prepare: Prepare, barrier: Barrier, results: Queue[ShareResult], args: tuple[Any, ...]
) -> None:
    try:
        send = prepare(*args)
    except BaseException:
        barrier.abort()  # so the parent and the other clients stop waiting at once
        raise
    barrier.wait(timeout=START_TIMEOUT_SECONDS)
    started = time.monotonic()
    try:
        outcomes = send()
    except Exception as error:
        outcomes = Counter({f"client_error:{type(error).__name__}": 1})
    results.put(ShareResult(started, time.monotonic(), outcomes))


def run_burst(prepare: Prepare, shares: Sequence[tuple[Any, ...]]) -> BurstResult:
    """Runs ``prepare(*share)()`` in one process per share, all at once."""
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(len(shares) + 1)
    results: Queue[ShareResult] = context.Queue()
    processes = [
        context.Process(target=_client_main, args=(prepare, barrier, results, share), daemon=True)
        for share in shares
    ]
    for process in processes:
        process.start()
    try:
        barrier.wait(timeout=START_TIMEOUT_SECONDS)
        collected = [results.get(timeout=RUN_TIMEOUT_SECONDS) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=JOIN_TIMEOUT_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
    outcomes: Counter[str] = Counter()
    for share in collected:
        outcomes.update(share.outcomes)
    seconds = max(s.finished for s in collected) - min(s.started for s in collected)
    return BurstResult(seconds, outcomes)


def split(items: Sequence[str], parts: int) -> list[list[str]]:
    """``items`` dealt round-robin into ``parts`` shares of near-equal size."""
    return [list(items[i::parts]) for i in range(parts)]


def batches(items: Sequence[Item], size: int) -> list[Sequence[Item]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def evalsha_pipelined(
    client: redis.Redis,
    sha: str,
    keys: Sequence[str],
    argvs: Sequence[Sequence[str | int]],
    outcome: Callable[[Any], str],
) -> Counter[str]:
    """One script call per ARGV list, ``PIPELINE_DEPTH`` per round trip; counts ``outcome``s.

    Errors are counted, not raised, so one bad answer does not hide the rest.
    """
    outcomes: Counter[str] = Counter()
    deadline = time.monotonic() + CLIENT_MAX_SECONDS
    for batch in batches(argvs, PIPELINE_DEPTH):
        if time.monotonic() > deadline:
            outcomes["not_sent"] += len(batch)
            continue
        pipe = client.pipeline(transaction=False)
        for argv in batch:
            pipe.evalsha(sha, len(keys), *keys, *argv)
        for answer in pipe.execute(raise_on_error=False):
            failed = isinstance(answer, Exception)
            outcomes[f"error:{type(answer).__name__}" if failed else outcome(answer)] += 1
    return outcomes


def redis_cpu_seconds(client: SaleRedis) -> float:
    """CPU time the Redis server has used so far; a burst's share of it shows
    whether Redis or the clients were the limit."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
