"""Fan API: join, ask for tickets, pay, let go; the public event page data.

A click goes: route here -> queue_engine (join.lua) or an RQ job ->
purchase worker -> Lua -> pub/sub -> this process's Room -> the fan's socket.
"""

from __future__ import annotations

import re
from typing import Any

from rq import Retry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.tokens import FAN_COOKIE, Admission, new_fan_id
from purchase.holds import read_hold_async, request_result
from queue_engine.joining import join
from queue_engine.sales import snapshot
from web.auth import fan_from_request, require_fan
from web.catalog import EventRecord
from web.context import WebContext, context_of
from web.hold_batches import still_pending
from web.validation import (
    int_field,
    invalid,
    list_field,
    object_item,
    read_json_object,
    text_field,
)
from web.views import entry_view, event_view

MAX_ITEMS = 10
MAX_QUANTITY = 100
# Confirming a payment must outlive a database blip (invariant 6).
PAYMENT_RETRY = Retry(max=10, interval=[1, 2, 5, 10, 30])
# The longest address SMTP can carry (RFC 5321 path limit less the brackets).
MAX_EMAIL = 254
# ASCII only, one @, a dotted domain: nothing that could end a header line
# or add a recipient ever reaches an email.
EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


async def _record(ctx: WebContext, event_id: str) -> EventRecord:
    record = await ctx.catalog.get(event_id)
    if record is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return record


async def public_event(request: Request) -> JSONResponse:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    record = await _record(ctx, event_id)
    return JSONResponse(event_view(record, await snapshot(ctx.scripts, event_id)))


async def join_event(request: Request) -> JSONResponse:
    """Idempotent: a second tab, a reload or a retry gets the same place."""
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    await _record(ctx, event_id)
    fan_id = fan_from_request(request, ctx.signer)
    new_fan = fan_id is None
    fan_id = fan_id or new_fan_id()
    entry = await join(ctx.scripts, event_id, fan_id)
    if entry.status == "unknown_event":
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    token = None
    if entry.admitted:
        token = ctx.signer.sign_admission(
            Admission(event_id, fan_id, entry.number, entry.deadline_ms)
        )
    response = JSONResponse(entry_view(event_id, entry, token))
    if new_fan:
        response.set_cookie(
            FAN_COOKIE,
            ctx.signer.sign_fan(fan_id),
            max_age=30 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=ctx.settings.cookie_secure,
        )
    return response


def _items(body: dict[str, Any], record: EventRecord) -> list[list[Any]]:
    known = record.type_ids()
    items: list[list[Any]] = []
    seen: set[str] = set()
    for i, raw in enumerate(list_field(body, "items", MAX_ITEMS)):
        item = object_item(raw, f"items[{i}]")
        type_id = text_field(item, "type", 100)
        quantity = int_field(item, "quantity", 1, MAX_QUANTITY)
        if type_id not in known:
            raise FairdropError(
                ErrorCode.UNKNOWN_TICKET_TYPE, f"items[{i}].type {type_id!r} is not in this event"
            )
        if type_id in seen:
            raise invalid(f"items[{i}].type {type_id!r} appears twice")
        seen.add(type_id)
        items.append([type_id, quantity])
    return items


async def ask_for_tickets(
    ctx: WebContext, event_id: str, record: EventRecord, fan_id: str, body: dict[str, Any]
) -> str:
    """Checks a hold request and hands it to the worker; returns its request id.

    The one path for a fan's "I want these tickets", whether it came over
    HTTP or the fan's socket.
    """
    token = body.get("admission_token")
    if not isinstance(token, str) or not token:
        raise FairdropError(
            ErrorCode.NOT_ADMITTED, "admission_token is required: wait for your turn"
        )
    ctx.signer.check_admission(token, event_id, fan_id)
    return await ctx.holds.submit(event_id, fan_id, _items(body, record))


async def request_tickets(request: Request) -> JSONResponse:
    """Queues a hold request; the answer comes on the fan's socket (and by polling)."""
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    record = await _record(ctx, event_id)
    fan_id = require_fan(request, ctx.signer)
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    request_id = await ask_for_tickets(ctx, event_id, record, fan_id, body)
    return JSONResponse({"request_id": request_id, "status": "pending"}, status_code=202)


async def request_status(request: Request) -> JSONResponse:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    await _record(ctx, event_id)
    fan_id = require_fan(request, ctx.signer)
    request_id = request.path_params["request_id"]
    result = await request_result(ctx.client, event_id, request_id)
    if result is None:
        # Pending only while its job is queued or running; anything else was never asked.
        if await run_in_threadpool(still_pending, ctx.rq_client, request_id):
            return JSONResponse({"status": "pending"})
        # The batch may have finished between the two reads: look once more.
        result = await request_result(ctx.client, event_id, request_id)
        if result is None:
            raise FairdropError(ErrorCode.UNKNOWN_REQUEST, "no such request of yours")
    if result.get("fan") != fan_id:
        raise FairdropError(ErrorCode.UNKNOWN_REQUEST, "no such request of yours")
    return JSONResponse({k: v for k, v in result.items() if k != "fan"})


async def _own_live_hold(request: Request) -> tuple[WebContext, str, str, str]:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    hold_id = request.path_params["hold_id"]
    await _record(ctx, event_id)
    fan_id = require_fan(request, ctx.signer)
    hold = await read_hold_async(ctx.client, event_id, hold_id)
    if hold is None:
        raise FairdropError(ErrorCode.UNKNOWN_HOLD, f"no hold {hold_id}")
    if hold.fan_id != fan_id:
        raise FairdropError(ErrorCode.HOLD_NOT_YOURS, "this hold is not yours")
    if hold.status != "held":
        raise FairdropError(ErrorCode.HOLD_EXPIRED, f"this hold is {hold.status}")
    return ctx, event_id, fan_id, hold_id


def _email(body: dict[str, Any]) -> str | None:
    """The optional address for the order confirmation (``{"email": ...}``), the only field.

    Anything else is refused rather than ignored: a page that sends an amount
    or a currency must learn that the server prices the tickets.
    """
    unknown = sorted(set(body) - {"email"})
    if unknown:
        raise invalid(
            f"unknown field(s) {', '.join(unknown)}: only email is accepted; "
            "the price and currency come from the ticket types"
        )
    if body.get("email") is None:
        return None
    email = text_field(body, "email", MAX_EMAIL)
    if not EMAIL.fullmatch(email):
        raise invalid("email must be one address like name@example.com (ASCII)")
    return email


async def pay_hold(request: Request) -> JSONResponse:
    """Queues the payment; an optional JSON body ``{"email": ...}`` gets the confirmation."""
    ctx, event_id, fan_id, hold_id = await _own_live_hold(request)
    email = _email(await read_json_object(request, ctx.settings.max_body_bytes))
    await run_in_threadpool(
        ctx.queue.enqueue,
        "purchase.jobs.pay_job",
        event_id,
        fan_id,
        hold_id,
        email,
        job_id=f"pay-{hold_id}",
        retry=PAYMENT_RETRY,
    )
    return JSONResponse({"hold_id": hold_id, "status": "processing"}, status_code=202)


async def release_hold(request: Request) -> JSONResponse:
    ctx, event_id, fan_id, hold_id = await _own_live_hold(request)
    await run_in_threadpool(
        ctx.queue.enqueue, "purchase.jobs.release_job", event_id, fan_id, hold_id
    )
    return JSONResponse({"hold_id": hold_id, "status": "releasing"}, status_code=202)


routes = [
    Route("/api/events/{event_id}", public_event, methods=["GET"]),
    Route("/api/events/{event_id}/join", join_event, methods=["POST"]),
    Route("/api/events/{event_id}/purchases", request_tickets, methods=["POST"]),
    Route("/api/events/{event_id}/purchases/{request_id}", request_status, methods=["GET"]),
    Route("/api/events/{event_id}/holds/{hold_id}/pay", pay_hold, methods=["POST"]),
    Route("/api/events/{event_id}/holds/{hold_id}/release", release_hold, methods=["POST"]),
]
