"""A fan's place in a sale: joining (idempotent) and reading it back."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio

from queue_engine.keys import EventKeys
from queue_engine.scripts import AsyncScripts, SyncScripts


@dataclass(frozen=True)
class Entry:
    """What join.lua answers: the same for every join of one fan."""

    # unknown_event | sign_in_required | not_on_list | not_open | buffered | queued | sold_out
    status: str
    number: int  # 0 while buffered, before the draw
    serving: int
    deadline_ms: int  # admission deadline once admitted, else 0
    hold_id: str
    tickets: int  # bought (paid) by this fan, all types together; not the live hold

    @property
    def admitted(self) -> bool:
        return self.number > 0 and self.number <= self.serving and self.deadline_ms > 0


def parse_entry(raw: list[object]) -> Entry:
    def text(v: object) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    status, number, serving, deadline, hold_id, tickets = (text(v) for v in raw)
    return Entry(status, int(number), int(serving), int(deadline), hold_id, int(tickets))


# What an anonymous browser satisfies (fairdrop/identity.py policies_for).
OPEN_ONLY = "open"


async def join(
    scripts: AsyncScripts, event_id: str, fan_id: str, policies: str = OPEN_ONLY, who: str = ""
) -> Entry:
    """Places the entrant; ``policies`` are those its identity satisfies, ``who`` its label."""
    return parse_entry(await scripts.run("join", event_id, 0, fan_id, policies, who))


def join_sync(
    scripts: SyncScripts,
    event_id: str,
    fan_id: str,
    now_ms: int = 0,
    policies: str = OPEN_ONLY,
    who: str = "",
) -> Entry:
    return parse_entry(scripts.run("join", event_id, now_ms, fan_id, policies, who))


# ZMSCORE takes every member in one command; chunks keep each call short.
_LOOKUP_CHUNK = 5_000


async def queue_numbers(client: redis.asyncio.Redis, event_id: str, fans: list[str]) -> list[int]:
    """Queue numbers for many fans at once (0 where a fan has none yet).

    A web process calls this once when the draw finishes, for all its
    buffered sockets together, instead of asking per fan.
    """
    key = EventKeys(event_id).queue
    numbers: list[int] = []
    for start in range(0, len(fans), _LOOKUP_CHUNK):
        chunk = fans[start : start + _LOOKUP_CHUNK]
        scores = await client.zmscore(key, chunk)
        numbers.extend(int(s) if s is not None else 0 for s in scores)
    return numbers
