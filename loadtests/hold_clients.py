"""A client process of admitted fans who all ask for a ticket over their sockets at once.

Each fan joins over HTTP until it is let in (the join answer carries its
admission token), opens its socket, and waits. On ``go`` every fan sends
``{"t": "hold", ...}`` and records when it sent and when its ``hold_result``
came back (``time.time()``: the parent compares stamps across processes on
the same machine). Everything is bounded: the fans, the time to be let in and
the time to wait for answers.

The sockets are loadtests/raw_ws.py's lean ones, not the websockets library's
(launch/fan_client.py): these clients share the box's two cores with the
server, and a fan that parses every broadcast to every socket through the
full client cost about 220 µs of CPU per hold, half the server's own. A raw
socket parses only the frames that may answer its hold (``_ANSWERS``); the
rest (progress broadcasts, its own ``status``) are read and dropped.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import httpx
import uvloop

from fairdrop.protocol import MessageType
from launch.fan_client import FanClient, hold_text, items_of
from loadtests.client_processes import raise_file_limit
from loadtests.raw_ws import FanSocket, open_fan_socket

CONCURRENT_OPENS = 40
ADMIT_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 60.0
POLL_S = 0.2
# Only a frame with one of these in it can answer a hold; any other is not parsed.
_ANSWERS = (MessageType.HOLD_RESULT, MessageType.ERROR)
_MARKS = tuple(f'"{kind}"'.encode() for kind in _ANSWERS)


@dataclass
class HoldingFan:
    socket: FanSocket | None = None
    token: str = ""
    sent_at: float = 0.0
    answered_at: float = 0.0
    outcome: str = ""
    answered: asyncio.Event = field(default_factory=asyncio.Event)

    def on_text(self, payload: bytes) -> None:
        """Every text frame after the first; the first answer to the hold is kept."""
        if self.answered.is_set() or not any(mark in payload for mark in _MARKS):
            return
        answered_at = time.time()
        message = json.loads(payload)
        if message.get("t") not in _ANSWERS:
            return
        self.answered_at = answered_at
        if message["t"] == MessageType.ERROR:
            self.outcome = f"error:{message.get('code')}"
        else:
            self.outcome = "held" if message.get("ok") else str(message.get("code"))
        self.answered.set()


async def _let_in(fan: HoldingFan, client: FanClient, opening: asyncio.Semaphore) -> None:
    try:
        async with opening:
            entry = (await client.post_join()).raise_for_status().json()
        deadline = time.monotonic() + ADMIT_TIMEOUT_S
        while not entry.get("admission") and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            async with opening:
                entry = (await client.post_join()).raise_for_status().json()
        if not entry.get("admission"):
            fan.outcome = "not_admitted"
            return
        fan.token = entry["admission"]["token"]
        async with opening:
            fan.socket = await open_fan_socket(client, fan.on_text)
    except Exception as exc:  # a fan's failure is a figure, not a crash
        fan.outcome = f"open_error:{type(exc).__name__}"


async def _holds(ready: list[HoldingFan], type_id: str) -> None:
    """Every fan asks at once (one pass of the loop), then the answers are awaited."""
    items = items_of(type_id)
    for fan in ready:
        assert fan.socket is not None
        fan.sent_at = time.time()
        fan.socket.send_text(hold_text(fan.token, items))
    waits = [asyncio.create_task(f.answered.wait()) for f in ready]
    if waits:
        await asyncio.wait(waits, timeout=ANSWER_TIMEOUT_S)
    for fan, wait in zip(ready, waits, strict=True):
        wait.cancel()
        if not fan.answered.is_set():
            fan.outcome = fan.outcome or "no_answer"


async def _run(conn: Connection, base_url: str, event_id: str, type_id: str, count: int) -> None:
    fans = [HoldingFan() for _ in range(count)]
    opening = asyncio.Semaphore(CONCURRENT_OPENS)
    limits = httpx.Limits(max_connections=CONCURRENT_OPENS, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        started = time.monotonic()
        await asyncio.gather(
            *(_let_in(f, FanClient(base_url, event_id, http=http), opening) for f in fans)
        )
    ready = [f for f in fans if f.socket is not None]
    conn.send({"ready": len(ready), "seconds": time.monotonic() - started})
    command = await asyncio.to_thread(conn.recv)
    if command[0] == "go":
        await asyncio.sleep(max(0.0, command[1] - time.time()))
        await _holds(ready, type_id)
    conn.send(
        {
            "sent": [f.sent_at for f in ready],
            "answered": [(f.sent_at, f.answered_at) for f in ready if f.answered_at],
            "outcomes": dict(Counter(f.outcome for f in fans)),
        }
    )
    for fan in ready:
        if fan.socket is not None:
            fan.socket.close()


def client_main(conn: Connection, base_url: str, event_id: str, type_id: str, count: int) -> None:
    """The body of one client process: ``count`` fans who will each ask for one ticket."""
    raise_file_limit(count + 1_024)
    try:
        uvloop.run(_run(conn, base_url, event_id, type_id, count))
    finally:
        conn.close()
