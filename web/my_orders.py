"""The fan's own orders in a sale, for a page that reloads or missed its socket.

The ``order`` message on the fan's socket is said once, when the worker
writes the order; a page whose socket was down then (a web process killed, a
network change) or that was reloaded since never hears it again. The fan
page asks here whenever it (re)connects and its fan has bought, so the ticket
codes always show. Only the session's own entrant's orders: another fan's
cookie names another entrant.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from purchase.models import Order, Ticket
from purchase.orders import orders_of_fan
from web.auth import entrant_of
from web.context import context_of


def order_view(order: Order, tickets: list[Ticket]) -> dict[str, Any]:
    """As the socket's ``order`` message says it (purchase/jobs.py confirm_job), plus status."""
    return {
        "ok": True,
        "order_id": order.id,
        "hold_id": order.hold_id,
        "status": order.status,
        "refund_ref": order.refund_ref,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "created_at": order.created_at.isoformat(),
        "tickets": [{"type": t.ticket_type_id, "code": t.code} for t in tickets],
    }


async def my_orders(request: Request) -> JSONResponse:
    """``{"orders": [...]}``, oldest first; empty when the fan has bought nothing."""
    ctx = context_of(request)
    event_id = request.path_params["event_id"]
    if await ctx.catalog.get(event_id) is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    fan_id = entrant_of(request, ctx.signer, event_id)
    found = await run_in_threadpool(orders_of_fan, ctx.engine, event_id, fan_id)
    orders = [order_view(order, tickets) for order, tickets in found]
    # Personal: no shared cache may keep one fan's tickets for another.
    return JSONResponse({"orders": orders}, headers={"Cache-Control": "private, no-store"})


routes = [Route("/api/events/{event_id}/orders/mine", my_orders, methods=["GET"])]
