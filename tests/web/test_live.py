"""web/live.py and web/rooms.py: one Redis subscription per event per web process,
whatever the fans."""

from __future__ import annotations

import asyncio
import json
from typing import Any, cast

import httpx
import redis

from fairdrop.protocol import MessageType, SaleProgress
from launch.fan_client import FanClient
from queue_engine.keys import EventKeys
from queue_engine.notify import publish, sharded_pubsub
from tests.live_stack import LiveStack

FANS = 40


async def _open_sockets(base_url: str, event_id: str, count: int = FANS) -> list[Any]:
    sockets = []
    async with httpx.AsyncClient(base_url=base_url) as http:
        for _ in range(count):
            fan = FanClient(base_url, event_id, http=http)
            (await fan.post_join()).raise_for_status()
            socket = await fan.open_socket()
            first = await socket.next(timeout=5)
            assert first["t"] == MessageType.STATUS
            # The raw texts from here on: the tests compare them byte for byte.
            sockets.append(socket.connection)
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
        # Sharded or plain, by queue_engine/notify.py's rule.
        numsub = client.pubsub_shardnumsub if sharded_pubsub(client) else client.pubsub_numsub
        counts = cast(list[tuple[bytes, int]], numsub(channel))
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


def _a_real_progress(client: redis.Redis, channel: str) -> dict[str, Any]:
    """The next progress message the clock publishes for the event."""
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    if sharded_pubsub(client):
        pubsub.ssubscribe(channel)
    else:
        pubsub.subscribe(channel)
    try:
        for _ in range(100):
            message = pubsub.get_message(timeout=0.1)  # smessage or message alike
            if message is not None:
                progress: dict[str, Any] = json.loads(message["data"])
                if progress.get("t") == MessageType.PROGRESS:
                    # The clock's progress is the protocol's, field for field.
                    assert set(progress) == SaleProgress.__required_keys__, progress
                    return progress
    finally:
        pubsub.close()
    raise AssertionError("the clock published no progress within 10 s")


def test_a_burst_of_changes_reaches_fans_as_its_latest_and_a_pause_at_once(
    live_stack: LiveStack,
) -> None:
    """Stock moving every tick is coalesced (web/rooms.py MIN_BROADCAST_GAP_S); a pause is not."""
    event = live_stack.create_event()
    channel = EventKeys(event["id"]).channel
    client = redis.Redis.from_url(live_stack.settings.redis_url or "")
    real = _a_real_progress(client, channel)

    def marked(i: int, **changes: Any) -> str:
        # A marker type in "remaining" tells these apart from the clock's own.
        return json.dumps({**real, "remaining": {"marker": 1_000 + i}, **changes})

    def markers(texts: list[str]) -> list[int]:
        found = []
        for text in texts:
            message = json.loads(text)
            if message["t"] == "progress" and "marker" in message["remaining"]:
                found.append(message["remaining"]["marker"] - 1_000)
        return found

    async def scenario() -> None:
        [ws] = await _open_sockets(live_stack.base_url, event["id"], count=1)
        try:
            await _heard_within(ws, 0.6)  # past any gap the first status started
            for i in range(10):
                publish(client, channel, marked(i))
                await asyncio.sleep(0.005)
            # Within the gap plus a little: the deferred broadcast is due at ~0.45 s.
            texts = await _heard_within(ws, 0.75)
            heard = markers(texts)
            # Ten changes in 50 ms: the first at once, the latest after the gap.
            assert 1 <= len(heard) <= 2, heard
            # Nothing is lost: the last progress a fan saw is the latest, the
            # burst's last or a clock heartbeat that came after it.
            last = [json.loads(t) for t in texts if json.loads(t)["t"] == "progress"][-1]
            assert last["remaining"].get("marker", 1_009) == 1_009, texts
            publish(client, channel, marked(10))
            await _heard_within(ws, 0.05)
            publish(client, channel, marked(11, paused=True))
            # A pause is a change of state: it does not wait out the gap (~0.45 s here).
            paused = await _heard_within(ws, 0.3)
            assert 11 in markers(paused), paused
        finally:
            await ws.close()

    asyncio.run(scenario())
    client.close()
