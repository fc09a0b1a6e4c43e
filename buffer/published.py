"""Reading the drawn order back out of Redis, for anyone to verify."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from fairdrop.connections import AsyncSaleRedis
from queue_engine.keys import EventKeys

_PAGE = 10_000


async def drawn_entrants(
    client: AsyncSaleRedis, event_id: str, entrants: int
) -> AsyncIterator[tuple[int, str]]:
    """(queue number, fan id) for numbers 1..entrants, in pages so Redis stays responsive."""
    key = EventKeys(event_id).queue
    for low in range(1, entrants + 1, _PAGE):
        high = min(entrants, low + _PAGE - 1)
        page = await client.zrange(key, low, high, byscore=True, withscores=True)
        for member, score in cast(list[tuple[bytes | str, float]], page):
            fan_id = member.decode() if isinstance(member, bytes) else str(member)
            yield int(score), fan_id
