"""Reading a drawn order back out of Redis, for anyone to verify."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any, cast

from fairdrop.connections import AsyncSaleRedis
from queue_engine.keys import EventKeys

_PAGE = 10_000
# Round records read per HMGET: a sale open for weeks may have had thousands.
_ROUNDS_PAGE = 500
# Meta: the last resale round a restore put back (purchase/round_records.py).
# Its entrants' numbers did not come back: only the database has them.
ROUNDS_RESTORED = "rounds_restored"


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


def _record(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    record: dict[str, Any] = json.loads(_text(raw))
    return record


async def published_round(
    client: AsyncSaleRedis, event_id: str, round_number: int
) -> dict[str, Any] | None:
    """A resale round's public record as buffer/rounds.py keeps it, or None.

    Asked for by its own field, never the whole hash: the round's secret seed
    sits beside it (``seed:<n>``) until the draw copies it into the record.
    """
    return _record(await client.hget(EventKeys(event_id).rounds, str(round_number)))


async def published_rounds(client: AsyncSaleRedis, event_id: str) -> list[dict[str, Any]]:
    """Every resale round's public record, round 1 first; [] before any."""
    keys = EventKeys(event_id)
    opened = int(_text(await client.hget(keys.meta, "round") or "0"))
    records: list[dict[str, Any]] = []
    for low in range(1, opened + 1, _ROUNDS_PAGE):
        fields = [str(n) for n in range(low, min(opened, low + _ROUNDS_PAGE - 1) + 1)]
        page = await client.hmget(keys.rounds, fields)
        records += [r for raw in page if (r := _record(raw)) is not None]
    return records


async def restored_through(client: AsyncSaleRedis, event_id: str) -> int:
    """The last round whose entrants only the database has (0: none): rounds
    Redis lost and a restore put back as records."""
    return int(_text(await client.hget(EventKeys(event_id).meta, ROUNDS_RESTORED) or "0"))
