"""The draw on a real sale, timed, while another process pings Redis every millisecond.

The pinger runs in its own process: a thread beside the draw would measure
the draw's hold on the GIL, not Redis. Redis's own slow log says which single
command took longest, so a stall can be told apart from the box being busy
(three busy processes on two cores).
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

import redis

from buffer.draw import run_draw
from fairdrop.connections import SaleRedis
from loadtests.bench_sale import create_bench_sale
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.scripts import SyncScripts

SADD_MEMBERS = 1_000
SADDS_PER_ROUND_TRIP = 20
PING_INTERVAL_SECONDS = 0.001
PINGER_MAX_SECONDS = 120.0
PINGER_MAX_PINGS = 200_000
PINGER_TIMEOUT_SECONDS = 10.0
SLOWLOG_THRESHOLD_US = 1_000
SLOWLOG_DEFAULT_US = 10_000
SLOWLOG_ENTRIES = 128
DRAW_COMMANDS = ("sscan", "zadd")
# Synthetic sale times: the draw reads no clock, and admission gets its own.
OPENS_MS, DROP_MS = 1_000, 2_000


@dataclass(frozen=True)
class PingStats:
    pings: int
    max_ms: float
    p99_ms: float


@dataclass(frozen=True)
class DrawFigure:
    event_id: str
    entrants: int
    seconds: float
    pings: PingStats
    redis_slowest_command_ms: float
    redis_slowest_command: str  # its name and first argument, from Redis's slow log
    # Redis's own time in the draw's reads and writes (INFO commandstats): the
    # part of ``seconds`` no client-side speed-up can remove.
    redis_draw_ms: float = 0.0


def _ping_every_millisecond(url: str, ready: Event, stop: Event, out: Queue[PingStats]) -> None:
    client = redis.Redis.from_url(url)
    client.ping()
    ready.set()
    latencies: list[float] = []
    deadline = time.monotonic() + PINGER_MAX_SECONDS
    next_at = time.monotonic()
    while not stop.is_set() and len(latencies) < PINGER_MAX_PINGS:
        now = time.monotonic()
        if now > deadline:
            break
        if next_at > now:
            time.sleep(next_at - now)
        sent = time.perf_counter()
        client.ping()
        latencies.append((time.perf_counter() - sent) * 1000)
        # Never catch up in a burst after a stall: one ping per interval from now.
        next_at = max(next_at + PING_INTERVAL_SECONDS, time.monotonic())
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    out.put(PingStats(len(latencies), max(latencies, default=0.0), p99))


def fill_buffer(client: SaleRedis, event_id: str, size: int) -> None:
    """``size`` fan ids into the sale's buffer, as joins would leave them."""
    buffer_key = EventKeys(event_id).buffer
    pipe = client.pipeline(transaction=False)
    for start in range(0, size, SADD_MEMBERS):
        pipe.sadd(buffer_key, *(f"fan-{i}" for i in range(start, min(size, start + SADD_MEMBERS))))
        if len(pipe) >= SADDS_PER_ROUND_TRIP:
            pipe.execute()
    pipe.execute()


def _draw_commands_usec(client: SaleRedis) -> int:
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("usec", 0)) for name in DRAW_COMMANDS)


def measure_draw(scripts: SyncScripts, url: str, size: int, admit_cap: int) -> DrawFigure:
    """A sale with ``size`` buffered fans, frozen, then drawn under the pinger's eye."""
    client = scripts.client
    event_id = create_bench_sale(scripts, OPENS_MS, DROP_MS, stock=admit_cap, cap=admit_cap)
    fill_buffer(client, event_id, size)
    admit_next_batch(scripts, event_id, 1_000, now_ms=DROP_MS)  # closes the window
    context = multiprocessing.get_context("fork")
    ready, stop = context.Event(), context.Event()
    out: Queue[PingStats] = context.Queue()
    pinger = context.Process(target=_ping_every_millisecond, args=(url, ready, stop, out))
    client.config_set("slowlog-log-slower-than", SLOWLOG_THRESHOLD_US)
    client.slowlog_reset()
    usec_before = _draw_commands_usec(client)
    pinger.start()
    try:
        if not ready.wait(PINGER_TIMEOUT_SECONDS):
            raise RuntimeError("the pinger did not connect to Redis")
        started = time.perf_counter()
        result = run_draw(scripts, event_id)
        seconds = time.perf_counter() - started
        stop.set()
        pings = out.get(timeout=PINGER_TIMEOUT_SECONDS)
    finally:
        stop.set()
        pinger.join(PINGER_TIMEOUT_SECONDS)
        if pinger.is_alive():
            pinger.kill()
            pinger.join()
    redis_draw_ms = (_draw_commands_usec(client) - usec_before) / 1000
    slow = client.slowlog_get(SLOWLOG_ENTRIES)
    client.config_set("slowlog-log-slower-than", SLOWLOG_DEFAULT_US)
    if result is None or result.entrants != size:
        raise RuntimeError(f"draw of {size} entrants gave {result}")
    slowest = max(slow, key=lambda entry: int(entry["duration"]), default=None)
    slowest_ms = int(slowest["duration"]) / 1000 if slowest else 0.0
    name = " ".join(str(slowest["command"], "utf-8", "replace").split()[:2]) if slowest else ""
    return DrawFigure(event_id, size, seconds, pings, slowest_ms, name, redis_draw_ms)


def admission_out_of_order(scripts: SyncScripts, event_id: str, admit: int) -> tuple[int, int]:
    """Admits ``admit`` fans of a drawn sale with tick.lua; returns (serving, out of order).

    Out of order counts the numbers that are admitted but not in 1..serving,
    plus those in 1..serving that are not admitted: both must be 0.
    """
    now = DROP_MS + 1
    serving = 0
    for _step in range(admit):  # each step admits at least one fan, or we stop
        result = admit_next_batch(scripts, event_id, 1_000, now_ms=now)
        serving = result.serving
        if result.admitted == 0 or serving >= admit:
            break
        now += 1
    members = scripts.client.zrange(EventKeys(event_id).shopping, 0, -1)  # admitted fans
    admitted = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
    numbers = scripts.client.zmscore(EventKeys(event_id).queue, admitted) if admitted else []
    seen = {int(n) for n in numbers if n is not None}
    return serving, len(seen ^ set(range(1, serving + 1))) + numbers.count(None)


def median_figure(figures: list[DrawFigure]) -> dict[str, float]:
    return {
        "seconds": statistics.median(f.seconds for f in figures),
        "max_stall_ms": statistics.median(f.pings.max_ms for f in figures),
        "worst_stall_ms": max(f.pings.max_ms for f in figures),
    }
