"""Resale rounds as published: each round's commitment, then its seed and block of numbers.

A resale round (buffer/rounds.py) is a small draw of its own, run by the
sale's algorithm under a seed committed when the round opens. These routes
publish each round's record the way ``/draw`` publishes the sale's, so that
``fairdrop verify-draw URL --round N`` (buffer/verify.py) and anyone following
docs/fairness.md can recompute the round's numbers.

Redis serves them; the database (purchase/round_records.py) when Redis no
longer knows a round: lost and not restored yet, or restored without its
entrants' numbers, which a restore gives anew.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from buffer.order import ALGORITHM
from buffer.published import published_round, published_rounds, restored_through
from fairdrop.errors import ErrorCode, FairdropError
from purchase.round_records import saved_entrants, saved_rounds
from web.context import WebContext, fan_sale
from web.draw import (
    SPEC_URL,
    entrant_list,
    iso_ms,
    numbered_lines,
    promise_of,
    public_base,
    published_beacon,
)

# The most rounds a sale could ever have (one a minute for 1,900 years):
# anything longer is not a round number, however many digits it has.
MAX_ROUND = 999_999_999
_ROUND_NUMBER = re.compile(r"[1-9][0-9]{0,8}")


def round_view(event_id: str, record: dict[str, Any], base: str) -> dict[str, Any]:
    """A round's record as published: the sale's draw document's names, plus the
    round's schedule and its block of numbers (first_number .. first_number + entrants - 1)."""
    n = int(record["round"])
    drawn = "drawn_at" in record
    algorithm = str(record.get("algorithm") or ALGORITHM)
    beacon = published_beacon(record.get("beacon"))
    entrants_url = f"{base}/api/events/{event_id}/draw/rounds/{n}/entrants"
    return {
        "event_id": event_id,
        "round": n,
        "algorithm": algorithm,
        "spec": SPEC_URL,
        "opens_at": iso_ms(record.get("opens_at")),
        "drop_at": iso_ms(record.get("drop_at")),
        "seed_hash": record["seed_hash"],
        "beacon": beacon,
        "promise": promise_of(algorithm, record.get("promise"), beacon),
        "frozen": "digest" in record,
        "entrants_digest": record.get("digest"),
        "digest_at": iso_ms(record.get("digest_at")),
        "entrants": record.get("entrants"),
        "first_number": record.get("first_number"),
        "drawn": drawn,
        "drawn_at": iso_ms(record.get("drawn_at")),
        # The record holds the seed only once the draw revealed it; asked
        # again here so that no future change to the record can leak it early.
        "seed": record.get("seed") if drawn else None,
        "entrants_url": entrants_url if drawn else None,
    }


def _round_number(request: Request) -> int:
    text = request.path_params["n"]
    if not _ROUND_NUMBER.fullmatch(text):
        raise FairdropError(
            ErrorCode.INVALID_FIELD, f"n: a round is numbered 1 to {MAX_ROUND}, not {text[:20]!r}"
        )
    return int(text)


async def _one_round(request: Request) -> tuple[WebContext, str, dict[str, Any], bool]:
    """The context, the sale, the round's record and whether it came from the database."""
    ctx, sale = await fan_sale(request)
    n = _round_number(request)
    record = await published_round(ctx.client, sale.event.id, n)
    saved = []
    if record is None:
        saved = await run_in_threadpool(saved_rounds, ctx.engine, sale.event.id, n)
    if record is None and not saved:
        raise FairdropError(ErrorCode.UNKNOWN_ROUND, f"sale {sale.event.id} has no round {n}")
    return ctx, sale.event.id, record or saved[0], record is None


async def rounds(request: Request) -> JSONResponse:
    """Every resale round of the sale, round 1 first; [] before any."""
    ctx, sale = await fan_sale(request)
    base = public_base(ctx, request)
    records = await published_rounds(ctx.client, sale.event.id)
    if not records:  # none, or Redis lost the sale and has not had it back yet
        records = await run_in_threadpool(saved_rounds, ctx.engine, sale.event.id)
    return JSONResponse([round_view(sale.event.id, record, base) for record in records])


async def one_round(request: Request) -> JSONResponse:
    ctx, event_id, record, _ = await _one_round(request)
    return JSONResponse(round_view(event_id, record, public_base(ctx, request)))


async def round_entrants(request: Request) -> StreamingResponse:
    """The round's block as text lines "<queue number> <entry id>", in number order."""
    ctx, event_id, record, from_database = await _one_round(request)
    if "drawn_at" not in record:
        raise FairdropError(
            ErrorCode.DRAW_NOT_DONE, f"round {record['round']} has not been drawn yet"
        )
    n = int(record["round"])
    if not from_database and n > await restored_through(ctx.client, event_id):
        return entrant_list(ctx, event_id, int(record["entrants"]), int(record["first_number"]))
    # Not drawn in this Redis (or not in it at all): the numbers it holds may
    # be other fans' now.
    saved = await run_in_threadpool(saved_entrants, ctx.engine, event_id, n)
    return numbered_lines(_pairs(saved))


async def _pairs(saved: list[tuple[int, str]]) -> AsyncIterator[tuple[int, str]]:
    for pair in saved:
        yield pair


routes = [
    Route("/api/events/{event_id}/draw/rounds", rounds, methods=["GET"]),
    Route("/api/events/{event_id}/draw/rounds/{n}", one_round, methods=["GET"]),
    Route("/api/events/{event_id}/draw/rounds/{n}/entrants", round_entrants, methods=["GET"]),
]
