"""A client process holding many fan websockets, for the live-fans benchmark.

Each fan joins over HTTP (one shared client per process, the fan's cookie
passed explicitly: launch/fan_client.py's ``FanClient``), opens its socket
(loadtests/raw_ws.py's lean one, read as frames come), and records when every
``status`` or shared ``progress`` message arrived (``time.time()`` once parsed,
the same clock on the same machine as the parent's change timestamps) and
whether it said ``paused``. The clients share the box with the web processes:
through the websockets library they spent three times the web processes' CPU
on each change (loadtests/RESULTS.md), and the delivery they measured was
mostly their own backlog. A process's sockets leave from their own loopback address
(127.0.0.2, 127.0.0.3, ...), so each process has the whole ephemeral port
range to itself. The parent drives
the process over a pipe: ``open`` (answered with how many opened), then
``report`` (answered with the figures, after which the sockets close).
Everything is bounded: fans, the time to open them, and the messages kept.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import httpx
import orjson
import uvloop

from fairdrop.protocol import MessageType
from launch.fan_client import FanClient
from loadtests.client_processes import raise_file_limit
from loadtests.raw_ws import FanSocket, open_fan_socket

# Joins and handshakes in flight per process. The web process's Redis pool holds
# 200 connections and answers 500 beyond that, so 4 processes stay well under it.
CONCURRENT_OPENS = 40
KEEP_ARRIVALS = 256  # per fan: enough for a few minutes of heartbeats and changes
OPEN_TIMEOUT_S = 30.0
# Fans a process is sure to open per second, for its overall time limit: about
# 160 a second were seen on a busy 2-core box (joins and handshakes together).
MIN_OPENS_PER_S = 25
REPORT_TIMEOUT_S = 600.0
# The messages that can show a change of the sale: a fan's own status, or the shared progress.
SHOWING_CHANGES = frozenset({MessageType.STATUS, MessageType.PROGRESS})


@dataclass
class Fan:
    # (arrival time.time(), paused) of each status message, newest last.
    arrivals: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=KEEP_ARRIVALS))
    open: bool = False
    error: str = ""

    def on_text(self, payload: bytes) -> None:
        now = time.time()
        try:
            message = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.error = "not_json"
            return
        if message.get("t") in SHOWING_CHANGES:
            self.arrivals.append((now, bool(message.get("paused"))))


async def _follow(
    fan: Fan,
    client: FanClient,
    opening: asyncio.Semaphore,
    opened: asyncio.Event,
    stop: asyncio.Event,
) -> None:
    socket: FanSocket | None = None
    try:
        async with opening:
            (await client.post_join()).raise_for_status()
            socket = await open_fan_socket(client, fan.on_text, OPEN_TIMEOUT_S)
        fan.open = True
    except httpx.HTTPStatusError as exc:
        fan.error = f"http_{exc.response.status_code}"
    except Exception as exc:  # a fan's failure is a figure, not a crash
        fan.error = type(exc).__name__
    opened.set()
    if socket is None:
        return
    await stop.wait()
    # Open until the end: a socket the server closed meanwhile no longer counts.
    fan.open = fan.open and socket.is_open
    socket.close()


def _figures(
    fans: list[Fan], changes: list[tuple[float, bool]], quiet: tuple[float, float]
) -> dict[str, Any]:
    """Per change, each fan's delay to its first status showing it; per fan, the quiet gap."""
    delays: list[float] = []
    missed = 0
    for at, paused in changes:
        for fan in fans:
            if not fan.open:
                continue
            first = next((t for t, p in fan.arrivals if t >= at and p == paused), None)
            if first is None:
                missed += 1
            else:
                delays.append(first - at)
    start, end = quiet
    gaps: list[float] = []
    receiving = 0
    for fan in fans:
        if not fan.open:
            continue
        times = [t for t, _ in fan.arrivals if start <= t <= end]
        if times:
            receiving += 1
        marks = [start, *times, end]
        gaps.append(max(b - a for a, b in itertools.pairwise(marks)))
    errors = Counter(f.error for f in fans if f.error)
    return {
        "delays": delays,
        "missed": missed,
        "gaps": gaps,
        "receiving": receiving,
        "open": sum(1 for f in fans if f.open),
        "errors": dict(errors),
    }


async def _run(
    conn: Connection, base_url: str, event_id: str, count: int, source_host: str
) -> None:
    fans = [Fan() for _ in range(count)]
    stop = asyncio.Event()
    opening = asyncio.Semaphore(CONCURRENT_OPENS)
    limits = httpx.Limits(max_connections=CONCURRENT_OPENS, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        command = await asyncio.to_thread(conn.recv)
        if command != ("open",):
            return
        started = time.monotonic()
        events = [asyncio.Event() for _ in fans]
        # Each fan joins through the process's one HTTP client (with its own
        # cookie) and opens its socket from the process's own address.
        tasks = [
            asyncio.create_task(
                _follow(
                    fan,
                    FanClient(base_url, event_id, http=http, local_address=source_host),
                    opening,
                    done,
                    stop,
                )
            )
            for fan, done in zip(fans, events, strict=True)
        ]
        waits = [asyncio.create_task(e.wait()) for e in events]
        # Measuring while fans still open would time the handshakes, not the fans.
        await asyncio.wait(waits, timeout=OPEN_TIMEOUT_S + count / MIN_OPENS_PER_S)
        for wait in waits:
            wait.cancel()
        conn.send(
            {
                "open": sum(1 for f in fans if f.open),
                "seconds": time.monotonic() - started,
                "errors": dict(Counter(f.error for f in fans if f.error)),
            }
        )
        if not await asyncio.to_thread(conn.poll, REPORT_TIMEOUT_S):
            stop.set()
            return
        _, changes, quiet = await asyncio.to_thread(conn.recv)
        conn.send(_figures(fans, changes, quiet))
        stop.set()
        await asyncio.wait(tasks, timeout=30)
        for task in tasks:
            task.cancel()


def client_main(
    conn: Connection, base_url: str, event_id: str, count: int, source_host: str = "127.0.0.1"
) -> None:
    """The body of one client process: ``count`` fans of ``event_id``."""
    raise_file_limit(count + 1_024)
    try:
        uvloop.run(_run(conn, base_url, event_id, count, source_host))
    finally:
        conn.close()
