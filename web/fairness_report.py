"""The fairness report of a drawn sale: ``GET /api/events/{event_id}/fairness``
(JSON, the ``FairnessReport`` schema) and its page, /e/{event_id}/fairness.

What anyone may check about a sale, in one place: the draw's commitment,
beacon and digest; who entered by which access route and which joins were
refused, by reason (buffer/entry_tallies.py); whether a queue number
depended on the arrival time in the window (buffer/fairness_stats.py); and
how the sale went (admitted, sold, how fast, how many fans got tickets).

Before the draw there is nothing to report: the answer is 409
``draw_not_done`` (the page says so and looks again). An unknown event is 404.

The arrival analysis reads every drawn entrant and arrival (two Redis reads
per 5,000) and never changes once the sale is drawn, so each web process
computes it once per draw (keyed by the entrant digest) and keeps it: about
1.7 s for 100,000 entrants on our 2-core machines, most of it in a thread
beside the event loop. The rest of the report, a few cheap reads and one
query, is reused for :data:`REPORT_SECONDS`, so a crowd reloading the page
costs little.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buffer.entry_tallies import (
    REFUSALS,
    ROUTES,
    arrival_lines,
    drawn_ids,
    parse_arrivals,
    read_tallies,
)
from buffer.fairness_stats import ArrivalAnalysis, analyse_arrivals
from buffer.order import entrants_digest
from buffer.published import drawn_entrants
from fairdrop.connections import AsyncSaleRedis
from fairdrop.errors import ErrorCode, FairdropError
from purchase.buyers import buyers_of
from purchase.models import aware
from queue_engine.sales import snapshot
from web.catalog import EventRecord, iso
from web.context import WebContext, context_of

# The phases before the queue numbers exist.
BEFORE_DRAW = frozenset({"scheduled", "buffering", "drawing"})
# How long a process reuses a sale's report before reading the figures again.
REPORT_SECONDS = 2.0
# Drawn sales whose arrival analysis a process keeps (each a few hundred bytes).
KEPT_ANALYSES = 64


@dataclass(frozen=True)
class DrawnArrivals:
    """The part of the report fixed once the sale is drawn."""

    analysis: ArrivalAnalysis
    # Whether the published list hashes to the published digest (None: no digest yet).
    list_matches_digest: bool | None


@dataclass
class _ProcessCache:
    analyses: OrderedDict[tuple[str, str], DrawnArrivals] = field(default_factory=OrderedDict)
    reports: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    # One analysis at a time per process: a crowd arriving at the draw waits
    # for the first one to finish and then reads its result.
    computing: asyncio.Lock = field(default_factory=asyncio.Lock)


# Per Redis client, so two apps in one process (the tests) never share entries.
_caches: WeakKeyDictionary[AsyncSaleRedis, _ProcessCache] = WeakKeyDictionary()


def _cache(client: AsyncSaleRedis) -> _ProcessCache:
    return _caches.setdefault(client, _ProcessCache())


def _analysed(
    numbered: list[tuple[int, str]], lines: list[bytes | str], digest: str
) -> DrawnArrivals:
    """The tests on (arrival, number) pairs, and the digest check: CPU work (about
    a second for 100,000 entrants), so it runs beside the event loop."""
    arrived = parse_arrivals(lines)
    # In arrival order, entrants of one millisecond by entrant id: never by
    # number, which would put the draw into the halves of the KS test.
    pairs = sorted(
        (arrived[entrant_id], entrant_id, number)
        for number, entrant_id in numbered
        if entrant_id in arrived
    )
    analysis = analyse_arrivals([p[0] for p in pairs], [p[2] for p in pairs])
    matches = entrants_digest(e for _, e in numbered) == digest if digest else None
    return DrawnArrivals(analysis, matches)


async def _drawn_arrivals(
    client: AsyncSaleRedis, event_id: str, entrants: int, digest: str
) -> DrawnArrivals:
    """Reads the drawn list and the arrival times, and runs the tests on them."""
    ids = await drawn_ids(client, event_id, entrants)
    if ids is None:
        numbered = [pair async for pair in drawn_entrants(client, event_id, entrants)]
    else:
        numbered = list(enumerate(ids, 1))
    lines = await arrival_lines(client, event_id)
    return await run_in_threadpool(_analysed, numbered, lines, digest)


async def drawn_arrivals(
    client: AsyncSaleRedis, event_id: str, entrants: int, digest: str
) -> DrawnArrivals:
    """:func:`_drawn_arrivals`, once per process and draw."""
    cache = _cache(client)
    key = (event_id, digest)
    async with cache.computing:
        found = cache.analyses.get(key)
        if found is None:
            found = await _drawn_arrivals(client, event_id, entrants, digest)
            cache.analyses[key] = found
            while len(cache.analyses) > KEPT_ANALYSES:
                cache.analyses.popitem(last=False)
        cache.analyses.move_to_end(key)
        return found


def _iso_ms(ms: object) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(str(ms)) / 1000, UTC).isoformat(timespec="milliseconds")


def _beacon(live: dict[str, Any]) -> dict[str, Any] | None:
    """The drand round the draw mixed in, as the draw document shows it (v2 sales)."""
    try:
        beacon = json.loads(live.get("beacon") or "null")
    except ValueError:
        return None
    if not isinstance(beacon, dict):
        return None
    names = ("round", "round_time", "status", "randomness", "url", "chain_hash")
    return {name: beacon.get(name) for name in names}


def draw_part(event_id: str, live: dict[str, Any], drawn: DrawnArrivals) -> dict[str, Any]:
    """The commitment, the beacon and the digest, from the sale's draw fields."""
    beacon = _beacon(live)
    promise = live.get("promise") or None
    return {
        "algorithm": live.get("algorithm") or None,
        # unsteerable: seed and beacon mixed; committed-seed: the seed alone
        # (no beacon value by the deadline); None for a v1 sale.
        "promise": promise,
        "seed_hash": live.get("seed_hash"),
        "seed": live.get("seed") or None,
        "entrants_digest": live.get("entrants_digest") or None,
        "list_matches_digest": drawn.list_matches_digest,
        "frozen_at": _iso_ms(live.get("frozen_at")),
        "drawn_at": _iso_ms(live.get("drawn_at")),
        "beacon": beacon,
        "draw_url": f"/api/events/{event_id}/draw",
        "entrants_url": f"/api/events/{event_id}/draw/entrants",
    }


def arrivals_part(analysis: ArrivalAnalysis) -> dict[str, Any]:
    ks = analysis.ks
    return {
        "recorded": analysis.entrants,
        "spearman": {
            "coefficient": analysis.spearman,
            "p_value": analysis.spearman_p_value,
            "fair_band": analysis.spearman_fair_band,
        },
        "ks": None
        if ks is None
        else {
            "statistic": ks.statistic,
            "p_value": ks.p_value,
            "method": ks.method,
            "early": ks.early,
            "late": ks.late,
        },
        "deciles": [asdict(box) for box in analysis.deciles],
    }


async def sale_part(ctx: WebContext, record: EventRecord, live: dict[str, Any]) -> dict[str, Any]:
    buyers = await run_in_threadpool(buyers_of, ctx.engine, record.event.id)
    sold_out = live.get("state") == "sold_out" and buyers.last_sale_at is not None
    seconds = None
    if sold_out and buyers.last_sale_at is not None:
        seconds = (buyers.last_sale_at - aware(record.event.drop_at)).total_seconds()
    sold_by_type: dict[str, int] = live.get("sold_by_type") or {}
    stock_by_type: dict[str, int] = live.get("stock_by_type") or {}
    return {
        "stock": sum(stock_by_type.values()),
        "admitted": min(int(live.get("serving") or 0), int(live.get("last_number") or 0)),
        "sold": sum(sold_by_type.values()),
        "fans_with_tickets": buyers.fans_with_tickets,
        "paid_orders": buyers.paid_orders,
        "sold_out": sold_out,
        "sold_out_at": iso(buyers.last_sale_at) if sold_out and buyers.last_sale_at else None,
        "seconds_to_sell_out": None if seconds is None else max(0.0, round(seconds, 3)),
    }


async def build_report(ctx: WebContext, record: EventRecord) -> dict[str, Any]:
    event = record.event
    live = await snapshot(ctx.scripts, event.id)
    if live is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event.id}")
    if live.get("state") in BEFORE_DRAW:
        raise FairdropError(
            ErrorCode.DRAW_NOT_DONE,
            "the draw has not happened yet: the fairness report is made once the "
            f"queue is drawn, after the window closes at {iso(event.drop_at)}",
        )
    drawn_count = int(live.get("entrants") or 0)
    digest = str(live.get("entrants_digest") or "")
    drawn = await drawn_arrivals(ctx.client, event.id, drawn_count, digest)
    tallies = await read_tallies(ctx.client, event.id)
    return {
        "event_id": event.id,
        "name": event.name,
        "state": live.get("state"),
        "generated_at": iso(datetime.now(UTC)),
        "window": {"opens_at": iso(event.opens_at), "drop_at": iso(event.drop_at)},
        "draw": draw_part(event.id, live, drawn),
        "entrants": {
            "drawn": drawn_count,
            "late": max(0, int(live.get("last_number") or 0) - drawn_count),
            "by_route": {
                route: {"drawn": tallies.drawn[route], "late": tallies.late[route]}
                for route in ROUTES
            },
        },
        "refusals": [
            {"reason": reason, "count": tallies.refused[reason], "meaning": meaning}
            for reason, meaning in REFUSALS.items()
        ],
        "arrivals": arrivals_part(drawn.analysis),
        "sale": await sale_part(ctx, record, live),
    }


async def fairness_report(request: Request) -> JSONResponse:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    record = await ctx.catalog.get(event_id)
    if record is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    reports = _cache(ctx.client).reports
    kept = reports.get(event_id)
    if kept is None or time.monotonic() - kept[0] > REPORT_SECONDS:
        kept = (time.monotonic(), await build_report(ctx, record))
        reports[event_id] = kept
    return JSONResponse(kept[1])


routes = [Route("/api/events/{event_id}/fairness", fairness_report, methods=["GET"])]
