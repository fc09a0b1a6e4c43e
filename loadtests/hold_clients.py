"""A client process of admitted fans who all ask for a ticket over their sockets at once.

Each fan joins over HTTP until it is let in (the join answer carries its
admission token), opens its socket, and waits. On ``go`` every fan sends
``{"t": "hold", ...}`` and records when it sent and when its ``hold_result``
came back (``time.time()``: the parent compares stamps across processes on
the same machine). Everything is bounded: the fans, the time to be let in and
the time to wait for answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection

import httpx
from websockets.exceptions import ConnectionClosed

from fairdrop.protocol import MessageType
from launch.fan_client import FanClient, NoMatchingMessage, Socket, hold_text, items_of
from loadtests.ws_clients import raise_file_limit

CONCURRENT_OPENS = 40
ADMIT_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 60.0
POLL_S = 0.2


@dataclass
class HoldingFan:
    socket: Socket | None = None
    token: str = ""
    sent_at: float = 0.0
    answered_at: float = 0.0
    outcome: str = ""


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
            fan.socket = await client.open_socket(ping_interval=None, max_queue=None)
    except Exception as exc:  # a fan's failure is a figure, not a crash
        fan.outcome = f"open_error:{type(exc).__name__}"


def _answers_the_hold(message: dict[str, object]) -> bool:
    return message.get("t") in (MessageType.HOLD_RESULT, MessageType.ERROR)


async def _hold(fan: HoldingFan, text: str) -> None:
    assert fan.socket is not None
    fan.sent_at = time.time()
    await fan.socket.send(text)
    try:
        message = await fan.socket.next(_answers_the_hold, ANSWER_TIMEOUT_S)
    except (NoMatchingMessage, ConnectionClosed):
        fan.outcome = fan.outcome or "no_answer"
        return
    fan.answered_at = time.time()
    if message["t"] == MessageType.ERROR:
        fan.outcome = f"error:{message.get('code')}"
    else:
        fan.outcome = "held" if message.get("ok") else str(message.get("code"))


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
        items = items_of(type_id)
        await asyncio.gather(*(_hold(f, hold_text(f.token, items)) for f in ready))
    conn.send(
        {
            "sent": [f.sent_at for f in ready],
            "answered": [(f.sent_at, f.answered_at) for f in ready if f.answered_at],
            "outcomes": dict(Counter(f.outcome for f in fans)),
        }
    )
    for fan in ready:
        assert fan.socket is not None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(fan.socket.close(), 5)


def client_main(conn: Connection, base_url: str, event_id: str, type_id: str, count: int) -> None:
    """The body of one client process: ``count`` fans who will each ask for one ticket."""
    raise_file_limit(count + 1_024)
    try:
        asyncio.run(_run(conn, base_url, event_id, type_id, count))
    finally:
        conn.close()
