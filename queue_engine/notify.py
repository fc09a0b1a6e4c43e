"""Messages for one fan, sent on the event's channel.

Each web process holds one subscription per event and routes a message with
a ``fan`` field to that fan's sockets only; there is no per-fan channel. The
messages are fairdrop/protocol.py's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio

from fairdrop.protocol import FAN_FIELD
from queue_engine.keys import EventKeys


def _for_fan(fan_id: str, message: Mapping[str, Any]) -> str:
    return json.dumps({**message, FAN_FIELD: fan_id})


def publish_to_fan(
    client: redis.Redis, event_id: str, fan_id: str, message: Mapping[str, Any]
) -> None:
    client.publish(EventKeys(event_id).channel, _for_fan(fan_id, message))


async def publish_to_fan_async(
    client: redis.asyncio.Redis, event_id: str, fan_id: str, message: Mapping[str, Any]
) -> None:
    await client.publish(EventKeys(event_id).channel, _for_fan(fan_id, message))
