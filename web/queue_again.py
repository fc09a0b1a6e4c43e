"""A fan whose turn ended without buying queues again, at the back, while tickets remain.

``POST /api/events/{id}/queue-again`` (the fan's session): buffer/lua/queue_again.lua
gives the fan the number a newcomer would get now, so nobody's place moves
(or, while a resale round is open, a place in its draw: buffer/rounds.py);
the answer is the fan's new entry with its receipt, as a join's. The page then opens its socket
again, and the room places it at the new number. Counted against the fan's
join limit: queueing again is a join.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buffer.arrivals import parse_entry
from fairdrop.errors import ErrorCode, FairdropError
from web.auth import entrant_of
from web.context import context_of
from web.rate_limits import Action
from web.receipts import entry_receipt
from web.views import entry_view

# queue_again.lua's refusals, as the API says them.
_REFUSALS = {
    "unknown_event": (ErrorCode.UNKNOWN_EVENT, "no such sale"),
    "not_admitted": (ErrorCode.NOT_ADMITTED, "your turn has not come yet: keep your place"),
    "turn_not_over": (ErrorCode.TURN_NOT_OVER, "your turn is still running: buy now"),
    "hold_exists": (ErrorCode.HOLD_EXISTS, "you hold tickets: pay for them or let them go"),
    "already_bought": (ErrorCode.ALREADY_BOUGHT, "you have bought tickets in this sale"),
    "sold_out": (ErrorCode.SOLD_OUT, "no tickets are left to queue for"),
}


async def queue_again(request: Request) -> JSONResponse:
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    record = await ctx.catalog.get(event_id)
    if record is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    fan_id = entrant_of(request, ctx.signer, event_id)
    await ctx.limits.spend(request, Action.JOIN, fan_id)
    entry = parse_entry(await ctx.scripts.run("queue_again", event_id, 0, fan_id))
    if entry.status in _REFUSALS:
        code, message = _REFUSALS[entry.status]
        raise FairdropError(code, message)
    view = entry_view(event_id, fan_id, entry, None)
    # Signed for the new place: in a resale round, a receipt of that round.
    view["receipt"] = await entry_receipt(request, record, fan_id, entry)
    return JSONResponse(view)


routes = [Route("/api/events/{event_id}/queue-again", queue_again, methods=["POST"])]
