"""Organiser API: create and read sales, pause and resume, live stats, cancels.

The orders list and the check-ins per door are web/order_list.py's.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buffer.beacon import BeaconError, fetch_chain_async
from buffer.order import new_seed, seed_commitment
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import ACCESS_POLICIES
from fairdrop.settings import POW_MAX, Settings
from purchase.models import Event, TicketType, epoch_ms
from purchase.orders import cancel_order
from purchase.restore import sale_spec
from queue_engine.sales import create_sale, set_access, set_paused, snapshot
from web.catalog import EventRecord
from web.context import WebContext, organiser_context
from web.order_list import order_view
from web.validation import (
    CURRENCY,
    SLUG,
    datetime_field,
    int_field,
    invalid,
    list_field,
    object_item,
    read_json_object,
    text_field,
)
from web.views import event_view, stats_view

log = logging.getLogger("fairdrop.organiser")

MAX_TYPES = 20
MAX_STOCK = 10_000_000
MAX_NAME = 200
MAX_PER_PERSON = 100
MAX_PRICE_CENTS = 100_000_000
# The most one order may cost, in cents (10,000,000.00 in the sale's currency).
# A sale is refused unless its dearest possible order fits: a total must never
# be refused by the database after the fan has paid. The money columns are
# BIGINT as well; this keeps every total inside 32 bits for whatever reads it.
MAX_ORDER_CENTS = 1_000_000_000
MAX_RATE_PER_MIN = 1_000_000
MAX_CAP = 1_000_000
MIN_HOLD_SECONDS, MAX_HOLD_SECONDS = 5, 3_600


def _ticket_types(body: dict[str, Any], event_id: str) -> list[TicketType]:
    types: list[TicketType] = []
    seen: set[str] = set()
    for i, raw in enumerate(list_field(body, "ticket_types", MAX_TYPES)):
        item = object_item(raw, f"ticket_types[{i}]")
        type_id = text_field(item, "id", 40, SLUG) if "id" in item else f"t{i + 1}"
        if type_id in seen:
            raise invalid(f"ticket_types[{i}].id {type_id!r} is used twice")
        seen.add(type_id)
        types.append(
            TicketType(
                id=f"{event_id}.{type_id}",
                event_id=event_id,
                name=text_field(item, "name", MAX_NAME),
                price_cents=int_field(item, "price_cents", 0, MAX_PRICE_CENTS),
                currency=text_field(item, "currency", 3, CURRENCY),
                stock=int_field(item, "stock", 1, MAX_STOCK),
                per_person_limit=int_field(item, "per_person_limit", 1, MAX_PER_PERSON),
            )
        )
    if len({t.currency for t in types}) != 1:
        raise invalid("all ticket types of an event must share one currency")
    if (dearest := dearest_order_cents(types)) > MAX_ORDER_CENTS:
        raise invalid(
            f"one fan could buy {dearest} cents of tickets in one order (each type's "
            "price_cents times its per_person_limit, or its stock if smaller); "
            f"an order may cost at most {MAX_ORDER_CENTS} cents"
        )
    return types


def dearest_order_cents(types: list[TicketType]) -> int:
    """The most one order of this sale can cost.

    One fan's order is one hold, and a hold never takes a fan past a type's
    per-person limit (nor past its stock); a list allowance or a presale link
    only lowers what a fan may hold, never raises it. So this bound holds for
    queued, listed and presale fans alike.
    """
    return sum(t.price_cents * min(t.per_person_limit, t.stock) for t in types)


def _access(body: dict[str, Any], settings: Settings) -> str:
    """The access policy asked for, if this server can run it."""
    policy = text_field(body, "access", 8) if "access" in body else "open"
    if policy not in ACCESS_POLICIES:
        raise invalid(f"access must be one of {', '.join(ACCESS_POLICIES)}, got {policy!r}")
    if policy == "email" and not settings.emails_enabled:
        raise invalid(
            "access 'email' needs an SMTP server to send sign-in links: set FAIRDROP_SMTP_HOST"
        )
    if policy == "login" and not settings.login_enabled:
        raise invalid(
            "access 'login' needs an OpenID Connect provider: set FAIRDROP_OIDC_DISCOVERY_URL "
            "and FAIRDROP_OIDC_CLIENT_ID"
        )
    return policy


def _pow_difficulty(body: dict[str, Any], access: str, settings: Settings) -> int:
    """The proof of work each new entrant solves (web/proof_of_work.py), 0 for none.

    Unless named, an open sale gets FAIRDROP_POW_DEFAULT and a sale that asks
    who fans are gets none: signing in is its cost per entrant.
    """
    if "pow_difficulty" in body:
        return int_field(body, "pow_difficulty", 0, POW_MAX)
    return settings.pow_default if access == "open" else 0


def _event(body: dict[str, Any], settings: Settings) -> Event:
    event_id = text_field(body, "id", 40, SLUG) if "id" in body else secrets.token_hex(4)
    opens_at = datetime_field(body, "opens_at")
    drop_at = datetime_field(body, "drop_at")
    if drop_at < opens_at:
        raise invalid("drop_at must not be before opens_at")
    if "seed" in body:
        # Nobody, the organiser included, picks the draw's seed (docs/fairness.md).
        raise invalid("seed is drawn by the server and cannot be chosen")
    seed = new_seed()
    access = _access(body, settings)
    return Event(
        id=event_id,
        name=text_field(body, "name", MAX_NAME),
        opens_at=opens_at,
        drop_at=drop_at,
        rate_per_min=int_field(body, "rate_per_min", 1, MAX_RATE_PER_MIN),
        cap=int_field(body, "cap", 1, MAX_CAP),
        hold_seconds=int_field(body, "hold_seconds", MIN_HOLD_SECONDS, MAX_HOLD_SECONDS),
        currency="",
        seed_hash=seed_commitment(seed),
        seed=seed,
        access=access,
        pow_difficulty=_pow_difficulty(body, access, settings),
    )


async def beacon_round(settings: Settings, event: Event) -> str:
    """The beacon round the sale's draw will wait for, fixed now and published
    with the commitment (JSON), or "" when no beacon is configured or reachable:
    the draw then keeps only the committed seed's promise, and says so."""
    if settings.beacon_url in ("", "off"):
        return ""
    try:
        chain = await fetch_chain_async(settings.beacon_url)
    except BeaconError as exc:
        log.warning("event %s draws without a beacon: %s", event.id, exc)
        return ""
    # A round out only after the frozen list's digest is public (docs/fairness.md).
    round_ = chain.round_after(epoch_ms(event.drop_at) / 1000 + settings.beacon_margin_seconds)
    return json.dumps({**chain.as_json(), "round": round_, "round_time": chain.round_time(round_)})


async def create_event(request: Request) -> JSONResponse:
    ctx = organiser_context(request)
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    event = _event(body, ctx.settings)
    types = _ticket_types(body, event.id)
    event.currency = types[0].currency
    # Kept with the event, so a sale Redis lost before its draw still waits
    # for the round its fans were shown.
    event.beacon = await beacon_round(ctx.settings, event) or None
    if not await ctx.catalog.save(event, types):
        raise FairdropError(ErrorCode.EVENT_EXISTS, f"event {event.id} already exists")
    spec = sale_spec(event, types)
    if not await create_sale(ctx.scripts, spec):
        raise FairdropError(ErrorCode.EVENT_EXISTS, f"event {event.id} already runs in Redis")
    record = EventRecord(event, tuple(types))
    view = event_view(record, await snapshot(ctx.scripts, event.id))
    view["organiser_url"] = f"/organiser#{event.id}"
    return JSONResponse(view, status_code=201)


async def change_access(request: Request) -> JSONResponse:
    """Sets who may enter: only before the window opens (409 window_open afterwards)."""
    ctx = organiser_context(request)
    event_id = request.path_params["event_id"]
    record = await ctx.catalog.get(event_id)
    if record is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    policy = _access(await read_json_object(request, ctx.settings.max_body_bytes), ctx.settings)
    answer = await set_access(ctx.scripts, event_id, policy)
    if answer == "unknown_event":
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    if answer == "window_open":
        raise FairdropError(
            ErrorCode.WINDOW_OPEN, "the window has opened: who may enter can no longer change"
        )
    await ctx.catalog.set_access(event_id, policy)
    record = await ctx.catalog.get(event_id)
    assert record is not None
    return JSONResponse(event_view(record, await snapshot(ctx.scripts, event_id)))


async def list_events(request: Request) -> JSONResponse:
    ctx = organiser_context(request)
    events = []
    for event in await ctx.catalog.list_events():
        record = await ctx.catalog.get(event.id)
        if record is not None:
            events.append(event_view(record, await snapshot(ctx.scripts, event.id)))
    return JSONResponse({"events": events})


async def _live_or_404(ctx: WebContext, event_id: str) -> dict[str, Any]:
    live = await snapshot(ctx.scripts, event_id)
    if live is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return live


async def event_stats(request: Request) -> JSONResponse:
    ctx = organiser_context(request)
    return JSONResponse(stats_view(await _live_or_404(ctx, request.path_params["event_id"])))


async def _set_paused(request: Request, paused: bool) -> JSONResponse:
    ctx = organiser_context(request)
    event_id = request.path_params["event_id"]
    if not await set_paused(ctx.scripts, event_id, paused):
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return JSONResponse(stats_view(await _live_or_404(ctx, event_id)))


async def pause_event(request: Request) -> JSONResponse:
    return await _set_paused(request, True)


async def resume_event(request: Request) -> JSONResponse:
    return await _set_paused(request, False)


async def cancel_paid_order(request: Request) -> JSONResponse:
    """Refunds the order and returns its tickets to the sale, then answers 200.

    In the thread pool rather than an RQ job: the organiser asked and waits
    for the one outcome that matters (refunded or why not), and the work is a
    few quick calls. Nothing is lost if this process dies half-way: the order
    stays "refunding" (its tickets void) and cancelling it again finishes it,
    since every step repeats safely (purchase/orders.py).
    """
    ctx = organiser_context(request)
    event_id, order_id = request.path_params["event_id"], request.path_params["order_id"]
    order = await run_in_threadpool(
        cancel_order, ctx.engine, ctx.sync_scripts, ctx.settings, event_id, order_id
    )
    return JSONResponse(order_view(order))


routes = [
    Route("/api/events", create_event, methods=["POST"]),
    Route("/api/events", list_events, methods=["GET"]),
    Route("/api/events/{event_id}/stats", event_stats, methods=["GET"]),
    Route("/api/events/{event_id}/access", change_access, methods=["POST"]),
    Route("/api/events/{event_id}/pause", pause_event, methods=["POST"]),
    Route("/api/events/{event_id}/resume", resume_event, methods=["POST"]),
    Route("/api/events/{event_id}/orders/{order_id}/cancel", cancel_paid_order, methods=["POST"]),
]
