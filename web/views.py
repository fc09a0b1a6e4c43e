"""JSON shapes the API answers with, built in one place."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

from buffer.arrivals import Entry
from fairdrop.errors import FairdropError
from fairdrop.metrics import count_refusal
from web.catalog import EventRecord, iso


class FastJSONResponse(JSONResponse):
    """A JSONResponse encoded by orjson: the same compact UTF-8 text as Starlette's,
    in a fraction of the time (the join bench, loadtests/http_join_bench.py)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(exc: FairdropError) -> JSONResponse:
    """The JSON error answer, with Retry-After when the error says when to try again."""
    headers = {} if exc.retry_after_s is None else {"Retry-After": str(exc.retry_after_s)}
    count_refusal(exc.code, exc.status)
    return JSONResponse(exc.as_body(), status_code=exc.status, headers=headers)


def event_view(record: EventRecord, live: dict[str, Any] | None) -> dict[str, Any]:
    event = record.event
    remaining: dict[str, int] = (live or {}).get("remaining") or {}
    return {
        "id": event.id,
        "name": event.name,
        "opens_at": iso(event.opens_at),
        "drop_at": iso(event.drop_at),
        "rate_per_min": event.rate_per_min,
        "cap": event.cap,
        "hold_seconds": event.hold_seconds,
        "currency": event.currency,
        "access": event.access,
        # The ALTCHA maxnumber a new entrant's browser solves before joining; 0: none.
        "pow_difficulty": event.pow_difficulty,
        "seed_hash": event.seed_hash,
        "state": (live or {}).get("state"),
        "paused": bool((live or {}).get("paused")),
        "pause_message": event.pause_message,
        "fan_url": f"/e/{event.id}",
        "ticket_types": [
            {
                "id": t.id,
                "name": t.name,
                "price_cents": t.price_cents,
                "currency": t.currency,
                "stock": t.stock,
                "per_person_limit": t.per_person_limit,
                "remaining": remaining.get(t.id, t.stock),
            }
            for t in record.ticket_types
        ],
    }


def stats_view(live: dict[str, Any]) -> dict[str, Any]:
    """The organiser's live figures."""
    serving = int(live.get("serving") or 0)
    last = int(live.get("last_number") or 0)
    remaining: dict[str, int] = live.get("remaining") or {}
    sold_by_type: dict[str, int] = live.get("sold_by_type") or {}
    return {
        "state": live.get("state"),
        "paused": bool(live.get("paused")),
        "buffered": live.get("buffered", 0),
        "queued": max(0, last - serving),
        "admitted": serving,
        "shopping": live.get("shopping", 0),
        "held": live.get("held", 0),
        "sold": sum(sold_by_type.values()),
        "remaining": remaining,
        "remaining_total": sum(remaining.values()),
        "sold_by_type": sold_by_type,
        "held_by_type": live.get("held_by_type") or {},
        "stock_by_type": live.get("stock_by_type") or {},
        "serving": serving,
        "last_number": last,
        "live_holds": live.get("live_holds", 0),
        "entrants": live.get("entrants", 0),
        "seed_hash": live.get("seed_hash"),
        "entrants_digest": live.get("entrants_digest") or None,
        "seed": live.get("seed") or None,
        # The latest resale round (buffer/rounds.py): 0 before any.
        "round": int(live.get("round") or 0),
        "round_state": live.get("round_state") or "",
        "round_drop_at": int(live.get("round_drop_at") or 0),
        "round_entered": int(live.get("round_entered") or 0),
    }


def entry_view(
    event_id: str, entrant_id: str, entry: Entry, admission_token: str | None
) -> dict[str, Any]:
    ahead = max(0, entry.number - entry.serving - 1) if entry.number else None
    admission = (
        {"token": admission_token, "deadline_ms": entry.deadline_ms} if admission_token else None
    )
    return {
        "event_id": event_id,
        # The id this fan has in the published draw (docs/fairness.md).
        "entrant_id": entrant_id,
        "status": entry.status,
        "number": entry.number,
        "serving": entry.serving,
        "ahead": ahead,
        "admission": admission,
        "hold_id": entry.hold_id,
        "tickets": entry.tickets,
    }
