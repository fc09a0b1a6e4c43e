"""Discount codes: the organiser makes and lists them; a fan's hold request may carry one.

The organiser's routes write the database row first (the record a sale Redis
lost is rebuilt from), then put the code in the running sale
(purchase/discounts.py, add_discount.lua). A fan's code goes with the hold
request (web/fans.py ask_for_tickets -> web/hold_batches.py -> the worker ->
hold.lua), which takes one use in the same step as the tickets; the quick
check here only spares a queued request for a code that would be refused.
"""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from purchase.discount_terms import KINDS, PERCENT
from purchase.discounts import (
    CodeUses,
    DuplicateCode,
    add_to_sale,
    code_state,
    codes_of,
    normalise_code,
    store_code,
    uses_of,
)
from purchase.models import DISCOUNT_CODE_LENGTH, DiscountCode
from web.catalog import EventRecord, iso
from web.context import WebContext, organiser_sale
from web.validation import future_datetime_field, int_field, invalid, read_json_object, text_field

# What a code may be typed as: letters, digits, '-' and '_' (any case).
CODE = re.compile(f"[A-Za-z0-9][A-Za-z0-9_-]{{0,{DISCOUNT_CODE_LENGTH - 1}}}")
# A fixed amount off is at most a ticket's highest price (web/organiser.py).
MAX_FIXED_CENTS = 100_000_000
MAX_USES = 1_000_000
_REFUSALS = {
    "unknown_discount": ErrorCode.UNKNOWN_DISCOUNT,
    "discount_expired": ErrorCode.DISCOUNT_EXPIRED,
    "discount_used_up": ErrorCode.DISCOUNT_USED_UP,
}


def _code_view(row: DiscountCode, uses: CodeUses | None, record: EventRecord) -> dict[str, Any]:
    prefix = f"{record.event.id}."
    return {
        "code": row.code,
        "kind": row.kind,
        "amount": row.amount,
        # The type's own id, as the organiser named it (without the event's prefix).
        "ticket_type": row.ticket_type_id.removeprefix(prefix) if row.ticket_type_id else None,
        "max_uses": row.max_uses,
        "used": None if uses is None else uses.used,
        "paid": None if uses is None else uses.paid,
        "expires_at": iso(row.expires_at),
        "created_at": iso(row.created_at),
    }


def _new_code(body: dict[str, Any], record: EventRecord) -> DiscountCode:
    unknown = sorted(
        set(body) - {"code", "kind", "amount", "ticket_type", "max_uses", "expires_at"}
    )
    if unknown:
        raise invalid(f"unknown field(s) {', '.join(unknown)}")
    code = normalise_code(text_field(body, "code", DISCOUNT_CODE_LENGTH, CODE))
    kind = text_field(body, "kind", 16)
    if kind not in KINDS:
        raise invalid(f"kind must be one of {', '.join(KINDS)}")
    top = 100 if kind == PERCENT else MAX_FIXED_CENTS
    amount = int_field(body, "amount", 1, top)
    expires_at = future_datetime_field(body, "expires_at")
    type_id = record.type_named_in(body)
    return DiscountCode(
        event_id=record.event.id,
        code=code,
        kind=kind,
        amount=amount,
        ticket_type_id=type_id,
        max_uses=int_field(body, "max_uses", 1, MAX_USES),
        expires_at=expires_at,
    )


async def create_code(request: Request) -> JSONResponse:
    ctx, record = await organiser_sale(request)
    row = _new_code(await read_json_object(request, ctx.settings.max_body_bytes), record)
    try:
        row = await run_in_threadpool(store_code, ctx.engine, row)
    except DuplicateCode as error:
        raise FairdropError(
            ErrorCode.DISCOUNT_EXISTS, f"this sale has a code {error} already"
        ) from error
    if not await add_to_sale(ctx.scripts, row):
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {row.event_id} in Redis")
    return JSONResponse(_code_view(row, CodeUses(0, 0), record), status_code=201)


async def list_codes(request: Request) -> JSONResponse:
    """Every code of the sale, oldest first, with its uses so far (held or paid, and paid)."""
    ctx, record = await organiser_sale(request)
    rows = await run_in_threadpool(codes_of, ctx.engine, record.event.id)
    uses = await uses_of(ctx.client, record.event.id, [row.code for row in rows])
    return JSONResponse({"discounts": [_code_view(r, uses.get(r.code), record) for r in rows]})


async def requested_code(ctx: WebContext, event_id: str, body: dict[str, Any]) -> str:
    """The hold request's ``discount_code`` in lower case, '' without one.

    Refuses at once, with its own code, one that does not exist, has expired
    or is used up right now: nothing is queued, held or used.
    """
    if body.get("discount_code") in (None, ""):
        return ""
    code = normalise_code(text_field(body, "discount_code", DISCOUNT_CODE_LENGTH, CODE))
    state = await code_state(ctx.client, event_id, code, int(time.time() * 1000))
    if state.refusal is not None:
        why = {
            "unknown_discount": "is not a discount code of this sale",
            "discount_expired": "has expired",
            "discount_used_up": "is used up",
        }[state.refusal]
        raise FairdropError(_REFUSALS[state.refusal], f"the discount code {code} {why}")
    return code


routes = [
    Route("/api/events/{event_id}/discounts", create_code, methods=["POST"]),
    Route("/api/events/{event_id}/discounts", list_codes, methods=["GET"]),
]
