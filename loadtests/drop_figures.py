"""What a locust drop run saw, fan by fan, and the figures made from it.

Plain Python on purpose: no locust, and of fairdrop only its error codes, so
the figures can be tested in the pytest process (which must never import
locust) and the locustfile stays free of anything that pulls in redis.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from fairdrop.errors import ErrorCode

# Answers to a hold request that mean "no stock for you", not "something broke".
STOCK_REFUSALS = frozenset({ErrorCode.SOLD_OUT, ErrorCode.NOT_ENOUGH_STOCK})
# The outcomes of a fan that found nothing left (fan_user.py names them).
NO_STOCK_OUTCOMES = frozenset({*(f"refused:{c}" for c in STOCK_REFUSALS), "sold_out"})
MAX_TIMELINE = 20_000  # polls kept: over two hours at two a second
TIMELINE_FIELDS = ("buffered", "queued", "admitted", "shopping", "held", "sold")


@dataclass
class FanRecord:
    """One simulated fan: its number and when it was let in, as its socket told it."""

    joined_at: float = 0.0  # time.monotonic() when the join answered
    number: int = 0
    admitted_at: float = 0.0  # time.monotonic() of the first "admitted" status
    # The server's admission time plus the hold time, the same for every fan:
    # ordering fans by it orders them by the moment the server let them in.
    admitted_deadline_ms: int = 0
    outcome: str = "arriving"
    finished: bool = False

    def found_empty(self, serving: int | None) -> bool:
        """Admitted, and ended without tickets because none were left for it: its
        hold refused for stock, or told the sale sold out before it held any.
        Admitted is a number up to the server's final serving counter, or, without
        it, an admission this fan saw."""
        admitted = 0 < self.number <= serving if serving is not None else self.admitted_at > 0
        return admitted and self.outcome in NO_STOCK_OUTCOMES


@dataclass
class DropRun:
    """The run's target and every fan's record; one per locust process."""

    event_id: str = ""
    ticket_type_id: str = ""
    organiser_token: str = ""
    # Each fan wants between 1 and this many tickets (the type's per-person limit).
    most_per_fan: int = 1
    fans: list[FanRecord] = field(default_factory=list)
    last_stats: dict[str, Any] | None = None
    # (time.monotonic(), the organiser's stats) at every poll, for the plots.
    timeline: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def reset(
        self, event_id: str, ticket_type_id: str, organiser_token: str, most_per_fan: int = 1
    ) -> None:
        self.event_id = event_id
        self.ticket_type_id = ticket_type_id
        self.organiser_token = organiser_token
        self.most_per_fan = most_per_fan
        self.fans = []
        self.last_stats = None
        self.timeline = []

    def saw_stats(self, at: float, stats: dict[str, Any]) -> None:
        self.last_stats = stats
        if len(self.timeline) < MAX_TIMELINE:
            self.timeline.append((at, stats))

    def new_fan(self) -> FanRecord:
        record = FanRecord()
        self.fans.append(record)
        return record

    def wanted_by(self, record: FanRecord) -> int:
        """How many tickets a fan asks for: 1 to the limit, the same for the same
        arrival in every run (seeded by its place among the arrivals)."""
        return random.Random(self.fans.index(record)).randint(1, self.most_per_fan)

    def all_fans_finished(self) -> bool:
        return all(f.finished for f in self.fans)


def percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def admissions_out_of_order(fans: list[FanRecord], serving: int | None) -> int:
    """Fans let in while a fan with a lower number was still waiting.

    A lower number admitted later (a later deadline) means the higher one
    jumped it. A lower number never admitted, and beyond the server's final
    serving counter, was still waiting at the end, so every higher admitted
    number jumped it. Without the serving counter (no organiser token) only
    the first check is made: a fan that never saw its admission may only have
    missed it when the run stopped.
    """
    admitted = sorted((f.number, f.admitted_deadline_ms) for f in fans if f.admitted_deadline_ms)
    never_admitted = [
        f.number
        for f in fans
        if f.number and not f.admitted_deadline_ms and serving is not None and f.number > serving
    ]
    lowest_waiting = min(never_admitted, default=math.inf)
    jumped = 0
    latest_lower = 0
    for number, deadline in admitted:
        if (
            deadline < latest_lower
            or number > lowest_waiting
            or (serving is not None and number > serving)
        ):
            jumped += 1
        latest_lower = max(latest_lower, deadline)
    return jumped


def oversold(stats: dict[str, Any]) -> int:
    """Tickets sold or held beyond the stock, summed over ticket types (invariant 1)."""
    stock: dict[str, int] = stats.get("stock_by_type") or {}
    sold: dict[str, int] = stats.get("sold_by_type") or {}
    held: dict[str, int] = stats.get("held_by_type") or {}
    return sum(max(0, sold.get(t, 0) + held.get(t, 0) - s) for t, s in stock.items())


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def drop_figures(run: DropRun, stats: dict[str, Any] | None) -> dict[str, Any]:
    """The run's figures; ``stats`` is the organiser's final stats when there is a token."""
    fans = run.fans
    waits = [f.admitted_at - f.joined_at for f in fans if f.admitted_at and f.joined_at]
    serving = int(stats["serving"]) if stats else None
    outcomes: dict[str, int] = {}
    for fan in fans:
        outcomes[fan.outcome] = outcomes.get(fan.outcome, 0) + 1
    admitted = sum(1 for f in fans if f.admitted_deadline_ms)
    found_empty = sum(1 for f in fans if f.found_empty(serving))
    return {
        "event_id": run.event_id,
        "fans": len(fans),
        "joined": sum(1 for f in fans if f.joined_at),
        "numbered": sum(1 for f in fans if f.number),
        "admitted": admitted,
        "confirmed": outcomes.get("confirmed", 0),
        "holds_refused_for_stock": sum(outcomes.get(f"refused:{c}", 0) for c in STOCK_REFUSALS),
        # Let in to find nothing left: the admission bound (tick.lua) keeps it at most 1%.
        "admitted_found_empty": found_empty,
        "admitted_found_empty_share": round(found_empty / max(1, serving or admitted), 4),
        "unfinished": sum(1 for f in fans if not f.finished),
        "outcomes": dict(sorted(outcomes.items())),
        "time_in_queue_p50_s": _rounded(percentile(waits, 0.5)),
        "time_in_queue_p95_s": _rounded(percentile(waits, 0.95)),
        "admissions_out_of_order": admissions_out_of_order(fans, serving),
        "oversold": oversold(stats) if stats else None,
        "sold": stats.get("sold") if stats else None,
        "serving": serving,
    }


def drop_series(run: DropRun) -> dict[str, Any]:
    """The run fan by fan and poll by poll, in seconds from the first arrival, for plots."""
    joins = [f.joined_at for f in run.fans if f.joined_at]
    start = min([*joins, *(at for at, _ in run.timeline)], default=0.0)
    return {
        "event_id": run.event_id,
        "joined_s": sorted(round(t - start, 3) for t in joins),
        "time_in_queue_s": sorted(
            round(f.admitted_at - f.joined_at, 3) for f in run.fans if f.admitted_at and f.joined_at
        ),
        "timeline": [
            {"t": round(at - start, 3), **{k: stats.get(k, 0) for k in TIMELINE_FIELDS}}
            for at, stats in run.timeline
        ],
    }
