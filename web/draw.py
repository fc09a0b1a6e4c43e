"""The published draw: commitment before, seed and full order after."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from buffer.order import ALGORITHM, ALGORITHM_V1, PROMISE_COMMITTED, PROMISE_UNSTEERABLE
from buffer.published import drawn_entrants
from fairdrop.errors import ErrorCode, FairdropError
from queue_engine.sales import snapshot
from web.context import WebContext, context_of
from web.receipts import receipt_signer

_BEFORE_DRAW = {"scheduled", "buffering", "drawing"}
# Where the algorithm is written down, for anyone writing their own verifier:
# a path in fairdrop's source tree.
SPEC_URL = "docs/fairness.md"


async def _live(request: Request) -> tuple[WebContext, str, dict[str, Any]]:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    live = await snapshot(ctx.scripts, event_id)
    if live is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return ctx, event_id, live


def public_base(ctx: WebContext, request: Request) -> str:
    """The server's public URL, for absolute links in published documents."""
    return ctx.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")


def published_beacon(text: str | None) -> dict[str, Any] | None:
    """The beacon as published: the round fixed at creation; its value once drawn."""
    if not text:
        return None
    beacon: dict[str, Any] = json.loads(text)
    beacon.setdefault("status", "pending")
    beacon.setdefault("randomness", None)
    beacon.setdefault("signature", None)
    return beacon


def promise_of(algorithm: str, promise: str | None, beacon: dict[str, Any] | None) -> str | None:
    """What a draw kept; before it, what it will keep if the beacon round comes."""
    if algorithm == ALGORITHM and not promise:
        return PROMISE_UNSTEERABLE if beacon else PROMISE_COMMITTED
    return promise or None


def iso_ms(ms: object) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(int(str(ms)) / 1000, UTC).isoformat(timespec="milliseconds")


async def draw_info(request: Request) -> JSONResponse:
    ctx, event_id, live = await _live(request)
    done = live.get("state") not in _BEFORE_DRAW
    digest = live.get("entrants_digest") or None
    base = public_base(ctx, request)
    algorithm = live.get("algorithm") or ALGORITHM_V1
    beacon = published_beacon(live.get("beacon"))
    promise = promise_of(algorithm, live.get("promise"), beacon)
    return JSONResponse(
        {
            "event_id": event_id,
            "algorithm": algorithm,
            "spec": SPEC_URL,
            "seed_hash": live.get("seed_hash"),
            "beacon": beacon,
            "promise": promise,
            # The digest is public from the freeze on, before the beacon round exists.
            "frozen": digest is not None or done,
            "frozen_at": iso_ms(live.get("frozen_at")),
            "entrants_digest": digest,
            "digest_at": iso_ms(live.get("digest_at")),
            "drawn": done,
            "drawn_at": iso_ms(live.get("drawn_at")) if done else None,
            "seed": live.get("seed") if done else None,
            "entrants": live.get("entrants") if done else None,
            "entrants_url": f"{base}/api/events/{event_id}/draw/entrants" if done else None,
            # What every entry receipt is signed with (docs/fairness.md: pin it).
            "receipt_key": receipt_signer(request).key_document(),
        }
    )


async def draw_entrants(request: Request) -> StreamingResponse:
    """Every drawn entrant as a text line "<queue number> <entry id>", in number order."""
    ctx, event_id, live = await _live(request)
    if live.get("state") in _BEFORE_DRAW:
        raise FairdropError(ErrorCode.DRAW_NOT_DONE, "the draw has not happened yet")
    return entrant_list(ctx, event_id, int(live.get("entrants") or 0))


def entrant_list(ctx: WebContext, event_id: str, total: int, first: int = 1) -> StreamingResponse:
    """The ``total`` drawn numbers from ``first`` as text lines "<number> <entry id>"."""
    return numbered_lines(drawn_entrants(ctx.client, event_id, total, first))


def numbered_lines(pairs: AsyncIterator[tuple[int, str]]) -> StreamingResponse:
    """(number, entry id) pairs, in number order, as the published list's lines."""

    async def lines() -> AsyncIterator[str]:
        async for number, fan_id in pairs:
            yield f"{number} {fan_id}\n"

    # A drawn list never changes: every fan page downloads it to check the
    # draw, so let a proxy or CDN in front serve the copies.
    return StreamingResponse(
        lines(),
        media_type="text/plain; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600, immutable"},
    )


routes = [
    Route("/api/events/{event_id}/draw", draw_info, methods=["GET"]),
    Route("/api/events/{event_id}/draw/entrants", draw_entrants, methods=["GET"]),
]
