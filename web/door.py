"""The door: the organiser's door tokens, and check-in with them.

The organiser makes a door token per event (or per door of an event), lists
and revokes them. Door staff send it to ``POST /api/door/check-in``: it checks
in that event's tickets only, under the token's door name when it has one.
The organiser's own token works at every door. Each ticket checks in exactly
once, however many doors scan it at once: the decision is one UPDATE in
purchase/tickets.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from purchase.db_changes_stream import stream_check_in_async
from purchase.door_tokens import door_tokens_of, new_door_token, revoke_door_token
from purchase.models import DoorToken
from purchase.tickets import ANOTHER_EVENT, check_in
from web.auth import DoorStaff, require_door_staff, require_organiser
from web.catalog import iso
from web.context import WebContext, context_of
from web.tickets import NO_STORE, checked_code, ticket_view, unknown_ticket
from web.validation import invalid, read_json_object, text_field

# Ticket.checked_in_by and DoorToken.door hold at most 64 characters.
MAX_DOOR_NAME = 64


def _door_name(body: dict[str, Any]) -> str | None:
    """The optional ``door`` field, trimmed; None when absent."""
    if body.get("door") is None:
        return None
    return text_field(body, "door", MAX_DOOR_NAME).strip()


def _token_view(token: DoorToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "event_id": token.event_id,
        "door": token.door,
        "created_at": iso(token.created_at),
        "revoked_at": iso(token.revoked_at) if token.revoked_at else None,
    }


async def _organisers_event(request: Request) -> tuple[WebContext, str]:
    """The organiser asking about an event that exists: the context and the event id."""
    ctx = context_of(request)
    require_organiser(request, ctx.settings.organiser_token)
    event_id: str = request.path_params["event_id"]
    if await ctx.catalog.get(event_id) is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return ctx, event_id


async def create_door_token(request: Request) -> JSONResponse:
    """A new door token; the token string is in this answer only (the server keeps no copy)."""
    ctx, event_id = await _organisers_event(request)
    door = _door_name(await read_json_object(request, ctx.settings.max_body_bytes))
    token = await run_in_threadpool(new_door_token, ctx.engine, event_id, door)
    view = {**_token_view(token), "token": ctx.signer.sign_door_token(token.id, event_id)}
    return JSONResponse(view, status_code=201, headers=NO_STORE)


async def list_door_tokens(request: Request) -> JSONResponse:
    ctx, event_id = await _organisers_event(request)
    tokens = await run_in_threadpool(door_tokens_of, ctx.engine, event_id)
    return JSONResponse({"door_tokens": [_token_view(t) for t in tokens]})


async def revoke_token(request: Request) -> JSONResponse:
    """Revokes a door token: refused from its next use on, in every web process."""
    ctx, event_id = await _organisers_event(request)
    token_id: str = request.path_params["token_id"]
    token = await run_in_threadpool(revoke_door_token, ctx.engine, event_id, token_id)
    if token is None:
        raise FairdropError(
            ErrorCode.UNKNOWN_DOOR_TOKEN, f"no door token {token_id} in event {event_id}"
        )
    return JSONResponse(_token_view(token))


async def _door_staff(request: Request) -> tuple[WebContext, DoorStaff]:
    ctx = context_of(request)
    staff = await require_door_staff(request, ctx.signer, ctx.engine, ctx.settings.organiser_token)
    return ctx, staff


async def whoami(request: Request) -> JSONResponse:
    """Which event and door a token checks in for, so the door page can say so."""
    ctx, staff = await _door_staff(request)
    record = await ctx.catalog.get(staff.event_id) if staff.event_id else None
    return JSONResponse(
        {
            "all_events": staff.event_id is None,
            "event_id": staff.event_id,
            "event_name": record.event.name if record else None,
            "door": staff.door,
        }
    )


async def check_in_ticket(request: Request) -> JSONResponse:
    ctx, staff = await _door_staff(request)
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    code = checked_code(text_field(body, "code", 64))
    # The token's door wins: staff of the north gate cannot record a scan as the south's.
    door = staff.door or _door_name(body)
    if door is None:
        raise invalid("door is required: name the door this ticket comes in at")
    answer = await run_in_threadpool(
        check_in, ctx.engine, code, door, datetime.now(UTC), staff.event_id
    )
    if answer is None:
        raise unknown_ticket()
    ticket = answer.ticket
    if answer.result == "valid":
        # The lifecycle stream's checked_in entry; if this process dies before
        # it, the clock's sweep writes it (purchase/db_changes_stream.py).
        await stream_check_in_async(ctx.scripts, ticket)
    if answer.result == ANOTHER_EVENT:
        raise FairdropError(
            ErrorCode.TICKET_OF_ANOTHER_EVENT,
            f"this ticket is for another event, {ticket.event_name} ({ticket.event_id}):"
            " not checked in",
        )
    return JSONResponse({"result": answer.result, **ticket_view(ticket)})


routes = [
    Route("/api/events/{event_id}/door-tokens", create_door_token, methods=["POST"]),
    Route("/api/events/{event_id}/door-tokens", list_door_tokens, methods=["GET"]),
    Route("/api/events/{event_id}/door-tokens/{token_id}/revoke", revoke_token, methods=["POST"]),
    Route("/api/door/whoami", whoami, methods=["GET"]),
    Route("/api/door/check-in", check_in_ticket, methods=["POST"]),
]
