"""Entry receipts over HTTP; fairdrop/receipts.py makes and checks them.

The join's answer carries one (web/fans.py); ``GET /api/events/{id}/receipt``
gives a placed fan a fresh one (a page its socket placed fetches it here), and
``GET /api/receipt-key`` serves the public key that checks every one.

Only reads here, of keys queue_engine/ and buffer/ own: a fan's place (the
buffer set, the queue's number) and the sale's commitment (meta ``seed_hash``
and the ``beacon`` round), in one transaction, so a receipt tells one moment.

A fan in a resale round (buffer/rounds.py: in its buffer, or numbered in its
block) gets a receipt naming the round and the round's commitment
(fairdrop/receipts.py, version 2), from the round's public record; that
record's commitment never changes once the round opened, so it is read once
per round and process.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buffer.arrivals import Entry
from buffer.published import published_round
from fairdrop.connections import AsyncSaleRedis
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.receipts import STATUSES, ReceiptSigner
from purchase.models import aware
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


@dataclass(frozen=True)
class RoundCommitment:
    """What a round's receipt names (fixed when the round opened), and its block
    of queue numbers once its window froze (None before)."""

    seed_hash: str
    beacon_round: int | None
    first_number: int | None
    entrants: int | None

    def holds(self, number: int) -> bool:
        if self.first_number is None or self.entrants is None:
            return False
        return self.first_number <= number < self.first_number + self.entrants


# Per (sale, round, when it opened): the opening time tells a round apart from
# one of a sale made again under the same id. Bounded: a process lives for weeks.
_ROUNDS: dict[tuple[str, int, str], RoundCommitment] = {}
_ROUNDS_KEPT = 4096


async def round_commitment(
    client: AsyncSaleRedis, event_id: str, n: int, opened: str, block: bool
) -> RoundCommitment | None:
    """Round ``n``'s commitment (and, with ``block``, its block once frozen): read
    from its public record once, then kept; None when the sale has no round n."""
    kept = _ROUNDS.get((event_id, n, opened))
    if kept is not None and (kept.first_number is not None or not block):
        return kept
    record = await published_round(client, event_id, n)
    if record is None:
        return None
    first, entrants = record.get("first_number"), record.get("entrants")
    commitment = RoundCommitment(
        str(record["seed_hash"]),
        beacon_round(record.get("beacon")),
        None if first is None else int(first),
        None if entrants is None else int(entrants),
    )
    if len(_ROUNDS) >= _ROUNDS_KEPT:
        del _ROUNDS[next(iter(_ROUNDS))]
    _ROUNDS[(event_id, n, opened)] = commitment
    return commitment


# What names the sale's latest round, read with the fan's place.
ROUND_FIELDS = ["round", "round_opens_at"]


@dataclass(frozen=True)
class RoundPlace:
    """The fan's place against the sale's latest resale round, as one read saw it."""

    round: int  # the latest round's number; 0 before any
    opened: str  # when it opened (ms)
    in_buffer: bool  # in its window, before its draw
    number: int | None  # the fan's queue number; None without one

    @classmethod
    def read(cls, fields: list[Any], in_buffer: object, number: float | None) -> RoundPlace:
        """From meta's ROUND_FIELDS, the round buffer's SISMEMBER and the queue's ZSCORE."""
        round_, opened = fields
        return cls(
            int(round_ or 0),
            _text(opened),
            bool(in_buffer),
            None if number is None else int(number),
        )


async def round_receipt(
    conn: HTTPConnection, event_id: str, entry_id: str, place: RoundPlace
) -> dict[str, Any] | None:
    """A receipt naming the latest round when the entry is one of it (in its
    buffer, or numbered in its block); None when it is not."""
    if place.round < 1 or not (place.in_buffer or place.number):
        return None
    client = context_of(conn).client
    block = not place.in_buffer
    commitment = await round_commitment(client, event_id, place.round, place.opened, block)
    if commitment is None:
        return None
    if place.in_buffer:
        status, number = BUFFERED, 0
    elif place.number is not None and commitment.holds(place.number):
        status, number = QUEUED, place.number
    else:
        return None
    return receipt_signer(conn).issue(
        event_id,
        entry_id,
        status,
        number,
        commitment.seed_hash,
        commitment.beacon_round,
        round_number=place.round,
    )


async def entry_receipt(
    conn: HTTPConnection, record: EventRecord, entry_id: str, entry: Entry
) -> dict[str, Any] | None:
    """A join's receipt: signed when the fan has a place, None for any other answer.

    A place is the buffer, or a queue number: join.lua answers ``sold_out``
    with the number of a fan who had one, and that fan is in the draw all the same.
    The commitment and the beacon round are fixed when the event is made, so
    they come from the event's record (what the public event shows), not from
    a Redis read on every join. Only a "buffered" answer after the sale's
    window may be of a resale round (or of a window entrant the draw has not
    numbered yet): that one read tells which.
    """
    event = record.event
    if entry.status == BUFFERED:
        if datetime.now(UTC) >= aware(event.drop_at):
            return await _after_the_window(conn, record, entry_id)
        status = BUFFERED
    elif entry.number > 0:
        status = QUEUED
    else:
        return None
    return receipt_signer(conn).issue(
        event.id, entry_id, status, entry.number, event.seed_hash, beacon_round(event.beacon)
    )


async def _after_the_window(
    conn: HTTPConnection, record: EventRecord, entry_id: str
) -> dict[str, Any] | None:
    event = record.event
    keys = EventKeys(event.id)
    async with context_of(conn).client.pipeline(transaction=True) as reads:
        reads.hmget(keys.meta, ROUND_FIELDS)
        reads.sismember(keys.round_buffer, entry_id)
        reads.zscore(keys.queue, entry_id)
        fields, in_round, number = await reads.execute()
    place = RoundPlace.read(fields, in_round, number)
    in_round_receipt = await round_receipt(conn, event.id, entry_id, place)
    if in_round_receipt is not None:
        return in_round_receipt
    # Not a round's: a window entrant, numbered by the sale's draw meanwhile or not yet.
    status, placed = (QUEUED, place.number) if place.number else (BUFFERED, 0)
    return receipt_signer(conn).issue(
        event.id, entry_id, status, placed, event.seed_hash, beacon_round(event.beacon)
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
        reads.hmget(keys.meta, ["seed_hash", "beacon", *ROUND_FIELDS])
        reads.zscore(keys.queue, entry_id)
        reads.sismember(keys.buffer, entry_id)
        reads.sismember(keys.round_buffer, entry_id)
        (seed_hash, beacon, *round_fields), number, buffered, in_round = await reads.execute()
    if seed_hash is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    if entry_id:
        place = RoundPlace.read(round_fields, in_round, number)
        in_round_receipt = await round_receipt(request, event_id, entry_id, place)
        if in_round_receipt is not None:
            return JSONResponse(in_round_receipt)
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
