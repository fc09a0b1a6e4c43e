"""Door check-in: staff scan or type a ticket code and hear valid, already used or unknown.

POST /api/door/check-in with the door token (or the organiser's). Each
ticket checks in exactly once, however many doors scan it at once: the
decision is one UPDATE in purchase/tickets.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from purchase.tickets import check_in
from web.auth import require_door_staff
from web.context import context_of
from web.tickets import checked_code, ticket_view, unknown_ticket
from web.validation import read_json_object, text_field

# Ticket.checked_in_by holds at most 64 characters.
MAX_DOOR_NAME = 64


async def check_in_ticket(request: Request) -> JSONResponse:
    ctx = context_of(request)
    require_door_staff(request, ctx.settings.door_token, ctx.settings.organiser_token)
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    code = checked_code(text_field(body, "code", 64))
    door = text_field(body, "door", MAX_DOOR_NAME).strip()
    answer = await run_in_threadpool(check_in, ctx.engine, code, door, datetime.now(UTC))
    if answer is None:
        raise unknown_ticket()
    return JSONResponse({"result": answer.result, **ticket_view(answer.ticket)})


routes = [Route("/api/door/check-in", check_in_ticket, methods=["POST"])]
