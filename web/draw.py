"""The published draw: commitment before, seed and full order after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from buffer.order import ALGORITHM
from buffer.published import drawn_entrants
from fairdrop.errors import ErrorCode, FairdropError
from queue_engine.sales import snapshot
from web.context import WebContext, context_of

_BEFORE_DRAW = {"scheduled", "buffering", "drawing"}


async def _live(request: Request) -> tuple[WebContext, str, dict[str, Any]]:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    live = await snapshot(ctx.scripts, event_id)
    if live is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return ctx, event_id, live


async def draw_info(request: Request) -> JSONResponse:
    _, event_id, live = await _live(request)
    done = live.get("state") not in _BEFORE_DRAW
    return JSONResponse(
        {
            "event_id": event_id,
            "algorithm": ALGORITHM,
            "spec": "docs/fairness.md",
            "seed_hash": live.get("seed_hash"),
            "drawn": done,
            "seed": live.get("seed") if done else None,
            "entrants_digest": live.get("entrants_digest") if done else None,
            "entrants": live.get("entrants") if done else None,
            "entrants_url": f"/api/events/{event_id}/draw/entrants" if done else None,
        }
    )


async def draw_entrants(request: Request) -> StreamingResponse:
    """Every drawn entrant as a text line "<queue number> <fan id>", in number order."""
    ctx, event_id, live = await _live(request)
    if live.get("state") in _BEFORE_DRAW:
        raise FairdropError(ErrorCode.DRAW_NOT_DONE, "the draw has not happened yet")
    total = int(live.get("entrants") or 0)

    async def lines() -> AsyncIterator[str]:
        async for number, fan_id in drawn_entrants(ctx.client, event_id, total):
            yield f"{number} {fan_id}\n"

    return StreamingResponse(lines(), media_type="text/plain; charset=utf-8")


routes = [
    Route("/api/events/{event_id}/draw", draw_info, methods=["GET"]),
    Route("/api/events/{event_id}/draw/entrants", draw_entrants, methods=["GET"]),
]
