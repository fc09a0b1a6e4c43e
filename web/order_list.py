"""Organiser API: the orders list (search and pages) and the door check-ins per door.

``GET /api/events/{id}/orders?q=&after=&limit=`` finds orders by order id (or
its start), the buyer's email (any part) or a ticket code; ``after`` is the
previous page's ``next_after``. ``GET /api/events/{id}/check-ins`` counts the
sale's paid tickets let in, per door.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from purchase.models import Order, OrderItem
from purchase.order_search import (
    MAX_PAGE,
    MAX_QUERY_CHARS,
    OrderRow,
    UnknownCursor,
    check_ins_by_door,
    search_orders,
)
from web.context import organiser_sale
from web.validation import CONTROL, invalid

DEFAULT_PAGE = 50
# Order ids are at most this long (purchase/models.py Order.id).
MAX_ORDER_ID_CHARS = 64
_PARAMS = ("q", "after", "limit")


def order_view(order: Order, items: list[OrderItem] | None = None) -> dict[str, Any]:
    """An order as the organiser API shows it (the list, a cancel's answer)."""
    view: dict[str, Any] = {
        "id": order.id,
        "event_id": order.event_id,
        "status": order.status,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "payment_provider": order.payment_provider,
        "refund_ref": order.refund_ref,
        "email": order.email,
        "buyer": order.buyer,
        "created_at": order.created_at.isoformat(),
        "discount_code": order.discount_code,
        "discount_cents": order.discount_cents,
    }
    if items is not None:
        view["items"] = [{"type": item.ticket_type_id, "quantity": item.quantity} for item in items]
    return view


def _row_view(row: OrderRow) -> dict[str, Any]:
    view = order_view(row.order, row.items)
    view["tickets"] = [
        {
            "code": ticket.code,
            "type": ticket.ticket_type_id,
            "checked_in_at": ticket.checked_in_at.isoformat() if ticket.checked_in_at else None,
            "checked_in_by": ticket.checked_in_by,
        }
        for ticket in row.tickets
    ]
    return view


def _query_text(request: Request, name: str, max_chars: int) -> str:
    value = request.query_params.get(name, "")
    if len(value) > max_chars:
        raise invalid(f"{name} must be at most {max_chars} characters")
    if CONTROL.search(value):
        raise invalid(f"{name} must not contain control characters")
    return value


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise invalid(f"limit must be a whole number between 1 and {MAX_PAGE}")
    return int(raw)


async def list_orders(request: Request) -> JSONResponse:
    ctx, record = await organiser_sale(request)
    event_id = record.event.id
    unknown = sorted(set(request.query_params) - set(_PARAMS))
    if unknown:
        raise invalid(f"unknown parameter {unknown[0]!r}: the list takes q, after and limit")
    text = _query_text(request, "q", MAX_QUERY_CHARS)
    after = _query_text(request, "after", MAX_ORDER_ID_CHARS) or None
    limit = _limit(request)
    try:
        page = await run_in_threadpool(search_orders, ctx.engine, event_id, text, after, limit)
    except UnknownCursor as error:
        raise invalid(f"after must be an order of this sale: no order {error}") from None
    return JSONResponse(
        {
            "orders": [_row_view(row) for row in page.orders],
            "matching": page.matching,
            "next_after": page.next_after,
        }
    )


async def door_check_ins(request: Request) -> JSONResponse:
    ctx, record = await organiser_sale(request)
    event_id = record.event.id
    figures = await run_in_threadpool(check_ins_by_door, ctx.engine, event_id)
    return JSONResponse(
        {
            "tickets": figures.tickets,
            "checked_in": figures.checked_in,
            "doors": [{"door": d.door, "checked_in": d.checked_in} for d in figures.doors],
        }
    )


routes = [
    Route("/api/events/{event_id}/orders", list_orders, methods=["GET"]),
    Route("/api/events/{event_id}/check-ins", door_check_ins, methods=["GET"]),
]
