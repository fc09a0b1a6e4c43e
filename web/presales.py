"""Presale links: the organiser makes and lists them; a fan who has one buys with it.

A fan's presale hold goes route -> purchase/presales.py -> presale_hold.lua
in one call (no worker job: presales are few, and the fan waits for the
answer), then the answer goes to the fan's sockets as a ``hold_result``, the
same message a queued hold gets, and paying works as for any hold.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import policies_for
from fairdrop.protocol import MessageType
from purchase.models import PresaleLink
from purchase.presales import (
    PresaleAsk,
    add_to_sale,
    find_link,
    links_of,
    new_link_id,
    presale_hold,
    store_link,
    tickets_left,
)
from queue_engine.notify import publish_to_fan_async
from web.auth import require_organiser, require_session
from web.catalog import EventRecord, iso
from web.context import WebContext, context_of
from web.fans import requested_items
from web.rate_limits import Action
from web.validation import (
    future_datetime_field,
    int_field,
    read_json_object,
    text_field,
)

MAX_LINK_TICKETS = 100_000
# presale_hold.lua's refusals that are not already codes of a queued hold.
_REFUSALS = {
    "unknown_presale": ErrorCode.UNKNOWN_PRESALE,
    "presale_expired": ErrorCode.PRESALE_EXPIRED,
    "presale_used_up": ErrorCode.PRESALE_USED_UP,
}


async def _event(ctx: WebContext, event_id: str) -> EventRecord:
    record = await ctx.catalog.get(event_id)
    if record is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return record


def _link_view(ctx: WebContext, link: PresaleLink, left: int | None) -> dict[str, Any]:
    return {
        "id": link.id,
        "label": link.label,
        "allowance": link.allowance,
        "left": left,
        "used": None if left is None else link.allowance - left,
        "ticket_type": link.ticket_type_id,
        "expires_at": iso(link.expires_at),
        "created_at": iso(link.created_at),
        "link": f"{ctx.settings.public_base_url}/e/{link.event_id}?presale={link.id}",
    }


def _new_link(body: dict[str, Any], record: EventRecord) -> PresaleLink:
    expires_at = future_datetime_field(body, "expires_at")
    type_id = record.type_named_in(body)
    return PresaleLink(
        id=new_link_id(),
        event_id=record.event.id,
        label=text_field(body, "label", 200) if body.get("label") is not None else "presale",
        allowance=int_field(body, "allowance", 1, MAX_LINK_TICKETS),
        ticket_type_id=type_id,
        expires_at=expires_at,
    )


async def create_link(request: Request) -> JSONResponse:
    ctx = context_of(request)
    require_organiser(request, ctx.settings.organiser_token)
    record = await _event(ctx, request.path_params["event_id"])
    link = _new_link(await read_json_object(request, ctx.settings.max_body_bytes), record)
    # The record first: a sale Redis lost gets every recorded link back.
    await run_in_threadpool(store_link, ctx.engine, link)
    if not await add_to_sale(ctx.scripts, link):
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {link.event_id} in Redis")
    return JSONResponse(_link_view(ctx, link, link.allowance), status_code=201)


async def list_links(request: Request) -> JSONResponse:
    """Every link of the event and how much of each is used (held or bought)."""
    ctx = context_of(request)
    require_organiser(request, ctx.settings.organiser_token)
    record = await _event(ctx, request.path_params["event_id"])
    links = await run_in_threadpool(links_of, ctx.engine, record.event.id)
    left = await tickets_left(ctx.client, record.event.id, [link.id for link in links])
    return JSONResponse({"links": [_link_view(ctx, link, left.get(link.id)) for link in links]})


async def _live_link(ctx: WebContext, event_id: str, link_id: str) -> tuple[PresaleLink, int]:
    link = await run_in_threadpool(find_link, ctx.engine, event_id, link_id)
    left = await tickets_left(ctx.client, event_id, [link_id]) if link is not None else {}
    if link is None or link_id not in left:
        raise FairdropError(ErrorCode.UNKNOWN_PRESALE, "no such presale link for this event")
    return link, left[link_id]


async def show_link(request: Request) -> JSONResponse:
    """What a fan's page shows for a presale link: what is left, until when, of what."""
    ctx = context_of(request)
    record = await _event(ctx, request.path_params["event_id"])
    link, left = await _live_link(ctx, record.event.id, request.path_params["link_id"])
    view = _link_view(ctx, link, left)
    del view["used"], view["created_at"]
    return JSONResponse(view)


async def hold_with_link(request: Request) -> JSONResponse:
    """Holds tickets through a presale link at once; 200 with the hold, or why not."""
    ctx = context_of(request)
    record = await _event(ctx, request.path_params["event_id"])
    event_id = record.event.id
    identity = require_session(request, ctx.signer).identity
    fan_id = ctx.signer.entrant_id(event_id, identity)
    await ctx.limits.spend(request, Action.PRESALE_HOLD, fan_id)
    link_id = request.path_params["link_id"]
    # The link first: an unknown one is 404 whatever the body asks for.
    if not await tickets_left(ctx.client, event_id, [link_id]):
        raise FairdropError(ErrorCode.UNKNOWN_PRESALE, "no such presale link for this event")
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    items = [(str(t), int(q)) for t, q in requested_items(body, record)]
    ask = PresaleAsk(fan_id, link_id, policies_for(identity, event_id), items)
    answer = await presale_hold(ctx.scripts, event_id, ask)
    if not answer.ok:
        code = _REFUSALS.get(answer.code) or ErrorCode(answer.code)
        raise FairdropError(code, answer.message)
    await publish_to_fan_async(
        ctx.client, event_id, fan_id, {"t": MessageType.HOLD_RESULT, **answer.body}
    )
    return JSONResponse({k: v for k, v in answer.body.items() if k != "fan"})


routes = [
    Route("/api/events/{event_id}/presale-links", create_link, methods=["POST"]),
    Route("/api/events/{event_id}/presale-links", list_links, methods=["GET"]),
    Route("/api/events/{event_id}/presale/{link_id}", show_link, methods=["GET"]),
    Route("/api/events/{event_id}/presale/{link_id}/holds", hold_with_link, methods=["POST"]),
]
