"""What a sale keeps for its fairness report, and nothing else: when each drawn
entrant arrived, how many entrants came by each access route, and how many
joins were refused, by reason.

None of it ever decides anything. The draw reads the buffer set only, never
the arrival times (invariant 2: the arrival time inside the window must not
matter, so it is not even an input); admission, holds and the published list
never read any of it. It exists so the report (web/fairness_report.py) can
show that the draw ignored arrival time, who came in and who was turned away.

- ``EventKeys.arrivals``, a list of "<ms> <entrant id>" lines, one per
  entrant, appended by join.lua (Redis time) as it enters the buffer, so in
  arrival order. A list, not a sorted set: nothing looks one entrant up, and
  it costs under a third of the memory (3.8 MB for 100,000 entrants against
  12.7 MB) and reads without redis-py parsing a score per member. The sale's
  other keys go with it.
- ``EventKeys.tallies``, a hash of counters: ``drawn:<route>`` and
  ``late:<route>`` for each entrant placed (once, when placed; the route is
  the kind of identity, :data:`ROUTES`), and ``refused:<reason>`` for each
  join refused (:data:`REFUSALS`). join.lua counts its own refusals; the proof
  of work and the rate limits count theirs here (:func:`tally_refusal`).

Only a fan's own join calls are counted as refusals: the page's socket joins
on the fan's behalf (on every connect, and when the window opens), and those
repeats are not attempts of the fan's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from fairdrop.connections import AsyncSaleRedis
from queue_engine.keys import EventKeys

# The kinds of identity an entrant comes by (fairdrop/identity.py), as join.lua reads them.
ROUTES = ("anon", "email", "oidc", "member")

# Every reason a join is counted as refused, and what it means.
REFUSALS: dict[str, str] = {
    "duplicate": "joined again while already placed (a reload, another tab or device): "
    "given the same place back, never a second one",
    "not_open": "joined before the window opened",
    "sign_in_required": "the sale asks fans to sign in (or in another way)",
    "not_on_list": "signed in as someone not on the organiser's list",
    "address_busy": "a new anonymous fan past its network address's share of entrants",
    "rate_limited": "past a rate limit on joining (per network address or per fan)",
    "pow_missing": "a new entrant without the proof of work the sale asks for",
    "pow_invalid": "a proof of work that did not check out (forged, expired, someone else's)",
    "pow_replayed": "a proof of work already used once",
    "sold_out": "joined after the last ticket was sold",
}

# Redis ZRANGE page size reading arrivals back: each call about a millisecond of Redis.
_PAGE = 5_000


@dataclass(frozen=True)
class Tallies:
    drawn: dict[str, int]  # route -> entrants placed in the window (drawn)
    late: dict[str, int]  # route -> entrants placed after the window, at the back
    refused: dict[str, int]  # reason -> joins refused


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def tally_refusal(client: AsyncSaleRedis, event_id: str, reason: str) -> None:
    """Counts one refused join of the sale (one of :data:`REFUSALS`).

    Called only for a sale the catalog knows, so no stray keys are made for
    made-up event ids.
    """
    if reason not in REFUSALS:
        raise ValueError(f"unknown refusal reason {reason!r}")
    await client.hincrby(EventKeys(event_id).tallies, f"refused:{reason}", 1)


async def read_tallies(client: AsyncSaleRedis, event_id: str) -> Tallies:
    raw: dict[bytes | str, bytes | str] = await client.hgetall(EventKeys(event_id).tallies)
    counts = {_text(k): int(v) for k, v in raw.items()}

    def group(prefix: str, names: tuple[str, ...]) -> dict[str, int]:
        return {name: counts.get(f"{prefix}:{name}", 0) for name in names}

    return Tallies(
        drawn=group("drawn", ROUTES),
        late=group("late", ROUTES),
        refused=group("refused", tuple(REFUSALS)),
    )


async def arrival_lines(client: AsyncSaleRedis, event_id: str) -> list[bytes | str]:
    """Every recorded arrival as join.lua wrote it ("<ms> <entrant>"), in arrival order."""
    key = EventKeys(event_id).arrivals
    lines: list[bytes | str] = []
    while True:
        page = await client.lrange(key, len(lines), len(lines) + _PAGE - 1)
        lines.extend(page)
        if len(page) < _PAGE:
            return lines


def parse_arrivals(lines: list[bytes | str]) -> dict[str, int]:
    """Entrant -> arrival (ms) from :func:`arrival_lines` (CPU work: run it off the event loop)."""
    arrivals: dict[str, int] = {}
    for line in lines:
        ms, entrant_id = _text(line).split(" ", 1)
        arrivals[entrant_id] = int(ms)
    return arrivals


async def drawn_ids(client: AsyncSaleRedis, event_id: str, entrants: int) -> list[str] | None:
    """The entrant ids of queue numbers 1..entrants, in number order, read by rank.

    The drawn numbers are 1..N with late joiners after them, so rank r holds
    number r + 1: read without scores, about 20 times cheaper for redis-py
    than with them (its score parsing dominates). None if the last one read
    does not hold number N (a sale restored oddly): the caller then reads the
    list by score (buffer/published.py).
    """
    key = EventKeys(event_id).queue
    ids: list[str] = []
    for start in range(0, entrants, _PAGE):
        page = cast(list[bytes | str], await client.zrange(key, start, start + _PAGE - 1))
        ids.extend(_text(member) for member in page[: entrants - start])
    if len(ids) != entrants:
        return None
    if ids and await client.zscore(key, ids[-1]) != entrants:
        return None
    return ids
