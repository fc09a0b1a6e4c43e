"""Resale at face value, as the ticket page asks for it (purchase/resale.py).

A ticket's code lets anyone see it (web/tickets.py), but only its buyer may
put it back: the fan's session cookie must name the entrant whose order it
is in this sale, the same proof ``/orders/mine`` asks for. A stranger who
knows a code gets ``not_your_ticket`` and changes nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from purchase.models import ResaleListing
from purchase.resale import buyer_of_ticket, listing_of_ticket, put_back
from purchase.tickets import find_ticket
from web.auth import entrant_of, session_of
from web.catalog import iso
from web.context import fan_sale
from web.tickets import checked_code, unknown_ticket
from web.validation import read_json_object, text_field

# Personal: no shared cache may keep one fan's answer for another.
PRIVATE = {"Cache-Control": "private, no-store"}


def listing_view(listing: ResaleListing, code: str) -> dict[str, Any]:
    return {
        "id": listing.id,
        "code": code,
        "ticket_type_id": listing.ticket_type_id,
        "status": listing.status,
        "price_cents": listing.price_cents,
        "currency": listing.currency,
        "listed_at": iso(listing.listed_at),
        "resold_at": iso(listing.resold_at) if listing.resold_at else None,
        "refund_ref": listing.refund_ref,
    }


async def put_ticket_back(request: Request) -> JSONResponse:
    """``{"code"}``: the ticket goes back on sale; 201 with its listing."""
    ctx, sale = await fan_sale(request)
    event_id = sale.event.id
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    code = checked_code(text_field(body, "code", 64))
    fan_id = entrant_of(request, ctx.signer, event_id)
    listing = await run_in_threadpool(
        put_back, ctx.engine, ctx.sync_scripts, event_id, code, fan_id
    )
    return JSONResponse(listing_view(listing, code), status_code=201, headers=PRIVATE)


async def resale_of_ticket(request: Request) -> JSONResponse:
    """Whether the fan asking bought this ticket (so may put it back), and its listing."""
    ctx, sale = await fan_sale(request)
    event_id = sale.event.id
    code = checked_code(request.path_params["code"])
    ticket = await run_in_threadpool(find_ticket, ctx.engine, code)
    if ticket is None or ticket.event_id != event_id:
        raise unknown_ticket()
    session = session_of(request, ctx.signer)
    fan_id = ctx.signer.entrant_id(event_id, session.identity) if session else None
    listing = await run_in_threadpool(listing_of_ticket, ctx.engine, code)
    yours = fan_id is not None and fan_id == await run_in_threadpool(
        buyer_of_ticket, ctx.engine, code
    )
    view = listing_view(listing, code) if listing is not None and yours else None
    return JSONResponse({"yours": yours, "listing": view}, headers=PRIVATE)


routes = [
    Route("/api/events/{event_id}/resale", put_ticket_back, methods=["POST"]),
    Route("/api/events/{event_id}/resale/{code}", resale_of_ticket, methods=["GET"]),
]
