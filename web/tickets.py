"""A fan's ticket: its data and its QR code, for the ticket page /tickets/{code}.

The code is the secret. Like a paper ticket, whoever has it can see the
ticket (and walk in with it), so these routes ask for no login: the link the
fan gets after paying is all it takes. Codes are 128 random bits
(purchase/orders.py), so they cannot be guessed or enumerated.
"""

from __future__ import annotations

import io
import re
from typing import Any

import segno
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from purchase.tickets import PAID, TicketDetails, find_ticket
from web.catalog import iso
from web.context import context_of
from web.validation import invalid

# secrets.token_urlsafe's alphabet; the column holds at most 64 characters.
TICKET_CODE = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Medium error correction survives a scuffed phone screen and stays small.
QR_ERROR_LEVEL = "m"
# The ticket's state changes at the door: never serve a stale copy.
NO_STORE = {"Cache-Control": "no-store"}


def checked_code(code: str, where: str = "code") -> str:
    if not TICKET_CODE.fullmatch(code):
        raise invalid(f"{where} is not a ticket code")
    return code


def ticket_view(ticket: TicketDetails) -> dict[str, Any]:
    return {
        "code": ticket.code,
        "event_id": ticket.event_id,
        "event_name": ticket.event_name,
        "ticket_type_id": ticket.ticket_type_id,
        "ticket_type": ticket.ticket_type_name,
        "order_id": ticket.order_id,
        "order_status": ticket.order_status,
        "valid": ticket.order_status == PAID and not ticket.voided,
        # Put back for resale (web/resale.py); void once a buyer paid for its seat.
        "listed": ticket.listed,
        "voided": ticket.voided,
        "checked_in_at": iso(ticket.checked_in_at) if ticket.checked_in_at else None,
        "checked_in_by": ticket.checked_in_by,
    }


def unknown_ticket() -> FairdropError:
    return FairdropError(ErrorCode.UNKNOWN_TICKET, "no ticket has this code")


def qr_svg(code: str) -> bytes:
    """The QR code of the ticket code itself, black on white whatever the page's theme."""
    qr = segno.make_qr(code, error=QR_ERROR_LEVEL)
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=8, border=4, dark="#000", light="#fff", title="ticket code")
    return out.getvalue()


async def _ticket(request: Request) -> TicketDetails:
    ctx = context_of(request)
    code = checked_code(request.path_params["code"])
    ticket = await run_in_threadpool(find_ticket, ctx.engine, code)
    if ticket is None:
        raise unknown_ticket()
    return ticket


async def read_ticket(request: Request) -> JSONResponse:
    ticket = await _ticket(request)
    return JSONResponse(ticket_view(ticket), headers=NO_STORE)


async def ticket_qr(request: Request) -> Response:
    # Only for real tickets: the server does not draw QR codes for any string.
    ticket = await _ticket(request)
    return Response(qr_svg(ticket.code), media_type="image/svg+xml")


routes = [
    Route("/api/tickets/{code}", read_ticket, methods=["GET"]),
    Route("/api/tickets/{code}/qr.svg", ticket_qr, methods=["GET"]),
]
