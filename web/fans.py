"""Fan API: join, ask for tickets, pay, let go; the public event page data.

A click goes: route here -> queue_engine (join.lua) or an RQ job ->
purchase worker -> Lua -> pub/sub -> this process's Room -> the fan's socket.
"""

from __future__ import annotations

import time
from typing import Any

from rq import Retry
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buffer.arrivals import Entry, Joiner, join
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import EMAIL_ADDRESS, MAX_EMAIL, allowed, policies_for
from fairdrop.metrics import count_join
from fairdrop.tokens import Admission, Session, anonymous_identity
from purchase.holds import read_hold_async, request_result
from queue_engine.sales import snapshot
from web.auth import entrant_of, session_of, set_session_cookie
from web.catalog import EventRecord
from web.context import WebContext, context_of
from web.discounts import requested_code
from web.hold_batches import is_request_id, still_pending
from web.proof_of_work import NO_SESSION, require_proof, solution_in
from web.rate_limits import Action
from web.receipts import entry_receipt
from web.unavailable import sale_not_back
from web.validation import (
    int_field,
    invalid,
    list_field,
    object_item,
    read_json_object,
    text_field,
)
from web.views import FastJSONResponse, entry_view, error_response, event_view

MAX_ITEMS = 10
MAX_QUANTITY = 100
# Confirming a payment must outlive a database outage (invariant 6): tried
# again after 1, 2 and then every 5 s, for about an hour, so an order is
# written within seconds of PostgreSQL's return (a retry meeting a database
# still down fails in milliseconds), and a job whose retries ran out, paid and
# never written, would take an outage of an hour. It was 1, 2, 5, 10, then
# 30 s ten times: an order waited up to 30 s after the database came back
# (the chaos demo), and an outage past 3.3 min left paid holds with no order.
PAYMENT_RETRY = Retry(max=720, interval=[1, 2, 5])
# What each access policy asks of a fan, in the words a refusal uses.
POLICY_ASKS = {
    "open": "anyone",
    "email": "fans who sign in with their email address",
    "login": "fans who sign in with their account",
    "list": "only the people on the organiser's list",
}


async def _record(ctx: WebContext, event_id: str) -> EventRecord:
    record = await ctx.catalog.get(event_id)
    if record is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return record


async def public_event(request: Request) -> JSONResponse:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    record = await _record(ctx, event_id)
    view = event_view(record, await snapshot(ctx.scripts, event_id))
    # How a fan can sign in on this server, for the page's sign-in card.
    settings = ctx.settings
    view["sign_in"] = {
        "email": settings.emails_enabled,
        "login": settings.oidc_name if settings.login_enabled else None,
    }
    return JSONResponse(view)


def _sign_in_required(record: EventRecord) -> FairdropError:
    return FairdropError(
        ErrorCode.SIGN_IN_REQUIRED,
        f"This sale lets in {POLICY_ASKS.get(record.event.access, 'signed-in fans')}: "
        "sign in first",
    )


async def enter_sale(
    ctx: WebContext,
    record: EventRecord,
    session: Session,
    conn: HTTPConnection,
    solution: str | None = None,
    new_session: bool = False,
) -> tuple[Joiner, Entry]:
    """Who joins and their place in the sale, if its policy lets them in.

    The one way in, for the join call and the socket alike: join.lua checks
    the policy (and the list) in the same step that places the entrant, and
    counts a new anonymous entrant against the client's address
    (``address_busy`` then: the caller says so). On a sale with a proof of
    work, a new entrant brings a solved challenge first (``solution``; the
    socket brings none, so it only finds places). ``new_session``: this join
    gives the browser (``conn``) its session.
    """
    event_id = record.event.id
    identity = session.identity
    entrant_id = ctx.signer.entrant_id(event_id, identity)
    let_in = allowed(record.event.access, identity, event_id)
    # A person signed in is counted as one; only anonymous entrants share
    # their address's place in the draw (web/rate_limits.py).
    address = "" if identity.signed_in else ctx.limits.entrant_address(conn)
    own = conn.scope["type"] == "http"  # the fan's own join call, not its socket's
    joiner = Joiner(entrant_id, policies_for(identity, event_id), identity.label(), address, own)
    # A new session the sale lets in is a new fan, counted against the address
    # (web/rate_limits.py): checked before the proof (a fan refused keeps its
    # solution), counted after it (only joins that make a fan count).
    new_fan = conn if new_session and let_in else None
    if new_fan is not None:
        await ctx.limits.check(new_fan, Action.NEW_FAN)
        await ctx.limits.check_entrant_share(new_fan, event_id)
    if record.event.pow_difficulty and not let_in:
        # Turned away whatever the proof: say so before asking for work. Only a
        # refusal rests on the cached record; join.lua decides every entry.
        raise _sign_in_required(record)
    asker = NO_SESSION if new_session else entrant_id
    await require_proof(ctx, record.event, entrant_id, solution, asker)
    if new_fan is not None:
        await ctx.limits.spend(new_fan, Action.NEW_FAN)
    entry = await join(ctx.scripts, event_id, joiner, ctx.limits.entrant_share)
    if own:
        count_join(entry.status)  # as join.lua tallies it (buffer/entry_tallies.py)
    if entry.status == "unknown_event":
        # The database has the sale (``record``) and Redis lacks it: Redis came
        # back empty and the clock is putting it back (purchase/restore.py).
        raise sale_not_back(event_id)
    if entry.status == "sign_in_required":
        raise _sign_in_required(record)
    if entry.status == "not_on_list":
        raise FairdropError(
            ErrorCode.NOT_ON_LIST, "You are not on this sale's list: sign in as someone who is"
        )
    return joiner, entry


async def _join_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """The join's body; the page sends none (``Content-Length: 0``) unless it has a proof.

    Nothing to read or parse then: the body reader's deadline and the JSON
    parser are skipped on the front door's busiest request.
    """
    if request.headers.get("content-length") == "0":
        return {}
    return await read_json_object(request, max_bytes)


async def join_event(request: Request) -> JSONResponse:
    """Idempotent: a second tab, a second device, a reload or a retry gets the same place.

    On a sale with a proof of work a new entrant's body is ``{"altcha": ...}``
    (web/proof_of_work.py); a browser without a session gets one only with it.
    """
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    record = await _record(ctx, event_id)
    solution = solution_in(await _join_body(request, ctx.settings.max_body_bytes))
    session = session_of(request, ctx.signer)
    new_session = session is None
    if session is None:
        # An open sale lets a browser in as it is; the session is made here,
        # and the join is counted as a new fan of the address (enter_sale).
        await ctx.limits.admit(request)
        session = ctx.signer.new_session(anonymous_identity(), ctx.settings.session_hours * 3600)
    else:
        # A reload or another tab: the fan's own joins, not the address's.
        fan_id = ctx.signer.entrant_id(event_id, session.identity)
        await ctx.limits.spend(request, Action.JOIN, fan_id)
    joiner, entry = await enter_sale(ctx, record, session, request, solution, new_session)
    entrant_id = joiner.fan_id
    if entry.address_free_at_ms:
        # No place yet. A new browser keeps the session its proof paid for, so
        # its retry is a fan's own join and needs no second proof.
        busy = ctx.limits.address_busy(entry.address_free_at_ms, int(time.time() * 1000))
        response = error_response(busy)
    else:
        token = None
        if entry.admitted:
            token = ctx.signer.sign_admission(
                Admission(event_id, entrant_id, entry.number, entry.deadline_ms)
            )
        view = entry_view(event_id, entrant_id, entry, token)
        view["receipt"] = await entry_receipt(request, record, entrant_id, entry)
        response = FastJSONResponse(view)
    if new_session:
        set_session_cookie(response, ctx.signer, ctx.settings, session)
    return response


def requested_items(body: dict[str, Any], record: EventRecord) -> list[list[Any]]:
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
    ctx: WebContext,
    conn: HTTPConnection,
    record: EventRecord,
    fan_id: str,
    body: dict[str, Any],
) -> str:
    """Checks a hold request and hands it to the worker; returns its request id.

    The one path for a fan's "I want these tickets", whether it came over
    HTTP or the fan's socket (``conn``), so both count against one limit.
    """
    event_id = record.event.id
    await ctx.limits.spend(conn, Action.HOLD, fan_id)
    token = body.get("admission_token")
    if not isinstance(token, str) or not token:
        raise FairdropError(
            ErrorCode.NOT_ADMITTED, "admission_token is required: wait for your turn"
        )
    ctx.signer.check_admission(token, event_id, fan_id)
    items = requested_items(body, record)
    code = await requested_code(ctx, event_id, body)
    return await ctx.holds.submit(event_id, fan_id, items, code)


async def request_tickets(request: Request) -> JSONResponse:
    """Queues a hold request; the answer comes on the fan's socket (and by polling)."""
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    record = await _record(ctx, event_id)
    fan_id = entrant_of(request, ctx.signer, event_id)
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    request_id = await ask_for_tickets(ctx, request, record, fan_id, body)
    return JSONResponse({"request_id": request_id, "status": "pending"}, status_code=202)


async def request_status(request: Request) -> JSONResponse:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    await _record(ctx, event_id)
    fan_id = entrant_of(request, ctx.signer, event_id)
    request_id = request.path_params["request_id"]
    if not is_request_id(request_id):
        # Not an id this server issues: refused before Redis or RQ is asked about it.
        raise FairdropError(ErrorCode.UNKNOWN_REQUEST, "no such request of yours")
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


async def _own_live_hold(request: Request, action: Action) -> tuple[WebContext, str, str, str]:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    hold_id = request.path_params["hold_id"]
    await _record(ctx, event_id)
    fan_id = entrant_of(request, ctx.signer, event_id)
    await ctx.limits.spend(request, action, fan_id)
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
    if not EMAIL_ADDRESS.fullmatch(email):
        raise invalid("email must be one address like name@example.com (ASCII)")
    return email


async def pay_hold(request: Request) -> JSONResponse:
    """Queues the payment; an optional JSON body ``{"email": ...}`` gets the confirmation."""
    ctx, event_id, fan_id, hold_id = await _own_live_hold(request, Action.PAY)
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
    ctx, event_id, fan_id, hold_id = await _own_live_hold(request, Action.RELEASE)
    await run_in_threadpool(
        ctx.queue.enqueue, "purchase.jobs.release_job", event_id, fan_id, hold_id
    )
    return JSONResponse({"hold_id": hold_id, "status": "releasing"}, status_code=202)


# The front door's route, first in the app's list: Starlette tries each route
# in turn, and the 20 before it cost a join about 8 µs. No other route matches
# a path it matches (tests/web/test_front_door_path.py), so the order changes no answer.
front_door = [Route("/api/events/{event_id}/join", join_event, methods=["POST"])]

routes = [
    Route("/api/events/{event_id}", public_event, methods=["GET"]),
    Route("/api/events/{event_id}/purchases", request_tickets, methods=["POST"]),
    Route("/api/events/{event_id}/purchases/{request_id}", request_status, methods=["GET"]),
    Route("/api/events/{event_id}/holds/{hold_id}/pay", pay_hold, methods=["POST"]),
    Route("/api/events/{event_id}/holds/{hold_id}/release", release_hold, methods=["POST"]),
]
