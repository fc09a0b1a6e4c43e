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
import json
import time
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection

import httpx
import websockets

from loadtests.client_processes import join_as_new_fan
from loadtests.ws_clients import raise_file_limit

CONCURRENT_OPENS = 40
ADMIT_TIMEOUT_S = 60.0
ANSWER_TIMEOUT_S = 60.0
POLL_S = 0.2


@dataclass
class HoldingFan:
    ws: websockets.ClientConnection | None = None
    token: str = ""
    sent_at: float = 0.0
    answered_at: float = 0.0
    outcome: str = ""


async def _let_in(
    fan: HoldingFan,
    http: httpx.AsyncClient,
    ws_url: str,
    join_path: str,
    opening: asyncio.Semaphore,
) -> None:
    try:
        async with opening:
            cookie, entry = await join_as_new_fan(http, join_path)
        deadline = time.monotonic() + ADMIT_TIMEOUT_S
        while not entry.get("admission") and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            async with opening:
                again = await http.post(join_path, headers=cookie)
            again.raise_for_status()
            entry = again.json()
        if not entry.get("admission"):
            fan.outcome = "not_admitted"
            return
        fan.token = entry["admission"]["token"]
        async with opening:
            fan.ws = await websockets.connect(
                ws_url, additional_headers=cookie, ping_interval=None, max_queue=None
            )
    except Exception as exc:  # a fan's failure is a figure, not a crash
        fan.outcome = f"open_error:{type(exc).__name__}"


async def _hold(fan: HoldingFan, body: str) -> None:
    assert fan.ws is not None
    fan.sent_at = time.time()
    await fan.ws.send(body)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            async for raw in fan.ws:
                message = json.loads(raw)
                kind = message.get("t")
                if kind == "hold_result":
                    fan.answered_at = time.time()
                    fan.outcome = "held" if message.get("ok") else str(message.get("code"))
                    return
                if kind == "error":
                    fan.answered_at = time.time()
                    fan.outcome = f"error:{message.get('code')}"
                    return
    fan.outcome = fan.outcome or "no_answer"


async def _run(conn: Connection, base_url: str, event_id: str, type_id: str, count: int) -> None:
    fans = [HoldingFan() for _ in range(count)]
    opening = asyncio.Semaphore(CONCURRENT_OPENS)
    limits = httpx.Limits(max_connections=CONCURRENT_OPENS, max_keepalive_connections=50)
    ws_url = base_url.replace("http", "ws", 1) + f"/ws/events/{event_id}"
    join_path = f"/api/events/{event_id}/join"
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        started = time.monotonic()
        await asyncio.gather(*(_let_in(f, http, ws_url, join_path, opening) for f in fans))
    ready = [f for f in fans if f.ws is not None]
    conn.send({"ready": len(ready), "seconds": time.monotonic() - started})
    command = await asyncio.to_thread(conn.recv)
    if command[0] == "go":
        await asyncio.sleep(max(0.0, command[1] - time.time()))
        items = [{"type": type_id, "quantity": 1}]
        await asyncio.gather(
            *(
                _hold(f, json.dumps({"t": "hold", "admission_token": f.token, "items": items}))
                for f in ready
            )
        )
    conn.send(
        {
            "sent": [f.sent_at for f in ready],
            "answered": [(f.sent_at, f.answered_at) for f in ready if f.answered_at],
            "outcomes": dict(Counter(f.outcome for f in fans)),
        }
    )
    for fan in ready:
        assert fan.ws is not None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(fan.ws.close(), 5)


def client_main(conn: Connection, base_url: str, event_id: str, type_id: str, count: int) -> None:
    """The body of one client process: ``count`` fans who will each ask for one ticket."""
    raise_file_limit(count + 1_024)
    try:
        asyncio.run(_run(conn, base_url, event_id, type_id, count))
    finally:
        conn.close()
