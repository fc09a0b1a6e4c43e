"""Arrivals: a fan's place in a sale, joining (idempotent, buffer/lua/join.lua:
into the buffer while the window is open, at the back of the queue after it)
and reading the drawn numbers back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fairdrop.connections import AsyncSaleRedis
from fairdrop.settings import Settings, parse_rate_limit
from queue_engine.keys import EventKeys
from queue_engine.scripts import AsyncScripts


@dataclass(frozen=True)
class Entry:
    """What join.lua answers: the same for every join of one fan."""

    # unknown_event | sign_in_required | not_on_list | not_open | buffered | queued
    # | sold_out | address_busy (the address placed its share: see AddressShare)
    status: str
    number: int  # 0 while buffered, before the draw
    serving: int
    # admission deadline once admitted; with address_busy, when the address may
    # place its next new entrant; else 0
    deadline_ms: int
    hold_id: str
    tickets: int  # bought (paid) by this fan, all types together; not the live hold

    @property
    def admitted(self) -> bool:
        return self.number > 0 and self.number <= self.serving and self.deadline_ms > 0

    @property
    def address_free_at_ms(self) -> int:
        """When this address may place a new entrant again; 0 unless address_busy."""
        return self.deadline_ms if self.status == ADDRESS_BUSY else 0


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def parse_entry(raw: list[Any]) -> Entry:
    # int() reads a reply's bytes as it reads their text: no decoding for the numbers.
    status, number, serving, deadline, hold_id, tickets = raw
    return Entry(
        _text(status), int(number), int(serving), int(deadline), _text(hold_id), int(tickets)
    )


# What an anonymous browser satisfies (fairdrop/identity.py policies_for).
OPEN_ONLY = "open"
ADDRESS_BUSY = "address_busy"


@dataclass(frozen=True)
class AddressShare:
    """How many new anonymous entrants one client address may place in a sale:
    ``burst`` at once, then one every ``interval_ms`` (join.lua). Signed-in
    fans are people and are not counted against their address."""

    interval_ms: int
    burst: int

    @classmethod
    def of(cls, amount: int, seconds: int) -> AddressShare:
        """``amount`` per ``seconds``: that many at once, refilled evenly over the period."""
        return cls(max(1, seconds * 1000 // amount), amount)


NO_SHARE = AddressShare(0, 0)


def entrant_share(settings: Settings) -> AddressShare:
    """Each address's share of new anonymous entrants (FAIRDROP_LIMIT_ENTRANTS_PER_ADDRESS),
    read the one way the web process and the demo both read it."""
    item = parse_rate_limit(
        "FAIRDROP_LIMIT_ENTRANTS_PER_ADDRESS", settings.limit_entrants_per_address
    )
    return NO_SHARE if item is None else AddressShare.of(item.amount, item.get_expiry())


@dataclass(frozen=True)
class Joiner:
    """Who joins, as join.lua needs it: the policies their identity satisfies,
    who signed in (for the export; '' when anonymous), and the address a new
    anonymous entrant is counted against ('' when signed in). ``own_join``:
    the fan's own join call, False when the page's socket joins for the fan
    (its repeats are no refusals in the fairness report: buffer/entry_tallies.py)."""

    fan_id: str
    policies: str = OPEN_ONLY
    who: str = ""
    address: str = ""
    own_join: bool = True


async def join(
    scripts: AsyncScripts, event_id: str, joiner: Joiner, share: AddressShare = NO_SHARE
) -> Entry:
    """Places the entrant, once; the same place on every later join."""
    return parse_entry(await scripts.run("join", event_id, 0, *join_args(joiner, share)))


def join_args(joiner: Joiner, share: AddressShare) -> list[str | int]:
    """join.lua's ARGV after the time."""
    return [
        joiner.fan_id,
        joiner.policies,
        joiner.who,
        joiner.address,
        share.interval_ms,
        share.burst,
        int(joiner.own_join),
    ]


# ZMSCORE takes every member in one command; chunks keep each call short.
_LOOKUP_CHUNK = 5_000


async def queue_numbers(client: AsyncSaleRedis, event_id: str, fans: list[str]) -> list[int]:
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
