"""Reading a drawn order back out of Redis, for anyone to verify."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import cast

from fairdrop.connections import AsyncSaleRedis
from queue_engine.keys import EventKeys

_PAGE = 10_000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def given_up_in(
    flat: Iterable[tuple[bytes | str, bytes | str]], first: int, last: int
) -> dict[int, str]:
    """Of the ``requeued`` hash's (number, fan) pairs, the numbers in first..last.

    A drawn fan whose turn ended queues again under a new number
    (queue_again.lua); the number the draw gave them stays theirs in the
    published list, or that list would lack it and fail every check.
    """
    given_up = {}
    for number, fan in flat:
        n = int(_text(number))
        if first <= n <= last:
            given_up[n] = _text(fan)
    return given_up


async def drawn_entrants(
    client: AsyncSaleRedis, event_id: str, entrants: int, first: int = 1
) -> AsyncIterator[tuple[int, str]]:
    """(queue number, fan id) for the ``entrants`` numbers from ``first`` (1 for
    the sale's draw, a block's first for a resale round's), in pages so Redis
    stays responsive."""
    keys = EventKeys(event_id)
    last = first + entrants - 1
    given_up = given_up_in((await client.hgetall(keys.requeued)).items(), first, last)
    for low in range(first, last + 1, _PAGE):
        high = min(last, low + _PAGE - 1)
        page = await client.zrange(keys.queue, low, high, byscore=True, withscores=True)
        numbered = [
            (int(score), _text(member))
            for member, score in cast(list[tuple[bytes | str, float]], page)
        ]
        numbered += [(n, fan) for n, fan in given_up.items() if low <= n <= high]
        for pair in sorted(numbered):
            yield pair
