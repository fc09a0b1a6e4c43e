"""Entry receipts over HTTP; fairdrop/receipts.py makes and checks them.

The join's answer carries one (web/fans.py); ``GET /api/events/{id}/receipt``
gives a placed fan a fresh one (a page its socket placed fetches it here), and
``GET /api/receipt-key`` serves the public key that checks every one.

Only reads here, of keys queue_engine/ and buffer/ own: a fan's place (the
buffer set, the queue's number) and the sale's commitment (meta ``seed_hash``
and the ``beacon`` round), in one transaction, so a receipt tells one moment.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buffer.arrivals import Entry
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.receipts import STATUSES, ReceiptSigner
from queue_engine.keys import EventKeys
from web.auth import session_of
from web.catalog import EventRecord
from web.context import context_of

BUFFERED, QUEUED = STATUSES


def receipt_signer(conn: HTTPConnection) -> ReceiptSigner:
    """The app's signer, made once at start-up (web/app.py create_app)."""
    signer: ReceiptSigner = conn.app.state.receipts
    return signer


def _text(raw: bytes | str | None) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw or ""


@functools.lru_cache(maxsize=1024)
def beacon_round(beacon: bytes | str | None) -> int | None:
    """The drand round in the sale's beacon JSON (meta ``beacon``); None for a
    sale without a beacon (a v1 draw) or a round not yet named. Kept per text:
    a sale's beacon is fixed when it is made, and every join asks."""
    if not beacon:
        return None
    parsed = json.loads(beacon)
    found = parsed.get("round") if isinstance(parsed, dict) else None
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def entry_receipt(
    conn: HTTPConnection, record: EventRecord, entry_id: str, entry: Entry
) -> dict[str, Any] | None:
    """A join's receipt: signed when the fan has a place, None for any other answer.

    A place is the buffer, or a queue number: join.lua answers ``sold_out``
    with the number of a fan who had one, and that fan is in the draw all the same.
    The commitment and the beacon round are fixed when the event is made, so
    they come from the event's record (what the public event shows), not from
    a Redis read on every join.
    """
    if entry.status == BUFFERED:
        status = BUFFERED
    elif entry.number > 0:
        status = QUEUED
    else:
        return None
    event = record.event
    return receipt_signer(conn).issue(
        event.id, entry_id, status, entry.number, event.seed_hash, beacon_round(event.beacon)
    )


async def own_receipt(request: Request) -> JSONResponse:
    """A fresh receipt of the asking fan's own entry; 404 ``not_entered`` without a place."""
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    session = session_of(request, ctx.signer)
    # Without a session nobody is asked about: "" is no entrant id.
    entry_id = ctx.signer.entrant_id(event_id, session.identity) if session else ""
    keys = EventKeys(event_id)
    async with ctx.client.pipeline(transaction=True) as reads:
        reads.hmget(keys.meta, ["seed_hash", "beacon"])
        reads.zscore(keys.queue, entry_id)
        reads.sismember(keys.buffer, entry_id)
        (seed_hash, beacon), number, buffered = await reads.execute()
    if seed_hash is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    # As join.lua answers: a queue number once drawn (or joined late), else the buffer.
    if entry_id and number is not None:
        status, placed = QUEUED, int(number)
    elif entry_id and buffered:
        status, placed = BUFFERED, 0
    else:
        raise FairdropError(
            ErrorCode.NOT_ENTERED, "you have no place in this sale: join it first (no receipt yet)"
        )
    receipt = receipt_signer(request).issue(
        event_id, entry_id, status, placed, _text(seed_hash), beacon_round(beacon)
    )
    return JSONResponse(receipt)


async def receipt_key(request: Request) -> JSONResponse:
    """The public key every receipt of this server checks against."""
    return JSONResponse(receipt_signer(request).key_document())


routes = [
    Route("/api/events/{event_id}/receipt", own_receipt, methods=["GET"]),
    Route("/api/receipt-key", receipt_key, methods=["GET"]),
]
