"""web/live.py: one Redis subscription per event per web process, whatever the fans."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import httpx
import redis
import websockets

from fairdrop.tokens import FAN_COOKIE
from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack

FANS = 40


async def _open_sockets(base_url: str, event_id: str) -> list[Any]:
    sockets = []
    async with httpx.AsyncClient(base_url=base_url) as http:
        for _ in range(FANS):
            joined = await http.post(f"/api/events/{event_id}/join", headers={"Cookie": ""})
            http.cookies.clear()
            ws = await websockets.connect(
                base_url.replace("http", "ws", 1) + f"/ws/events/{event_id}",
                additional_headers={"Cookie": f"{FAN_COOKIE}={joined.cookies[FAN_COOKIE]}"},
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert first["t"] == "status"
            sockets.append(ws)
    return sockets


async def _heard_within(ws: Any, seconds: float) -> list[str]:
    texts: list[str] = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            texts.append(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
    return texts


def test_one_subscription_feeds_every_socket_of_the_process(live_stack: LiveStack) -> None:
    event = live_stack.create_event()
    channel = EventKeys(event["id"]).channel
    client = redis.Redis.from_url(live_stack.settings.redis_url or "")

    def subscribers() -> int:
        counts = cast(list[tuple[bytes, int]], client.pubsub_numsub(channel))
        return counts[0][1]

    assert subscribers() == 0

    async def scenario() -> None:
        sockets = await _open_sockets(live_stack.base_url, event["id"])
        try:
            assert subscribers() == 1  # one web process, one subscription
            # And that one subscription reaches them all: every socket hears the
            # heartbeat, the same shared message, byte for byte.
            heard = await asyncio.gather(*(_heard_within(ws, 2.5) for ws in sockets))
            common = set.intersection(*(set(texts) for texts in heard))
            assert any(json.loads(m)["t"] == "progress" for m in common), heard[0]
        finally:
            for ws in sockets:
                await ws.close()

    asyncio.run(scenario())
