"""The organiser's orders list: search, pages, each order's tickets, and check-ins per door.

One search box finds an order by what the organiser has in hand: the order
id (or its first characters, as a receipt or a support mail shows it), the
buyer's email (any part of it, in any case), or a ticket code read off a
phone at the door. Pages follow each other by the last order shown (keyset
paging): a page is one indexed range read however deep it is, and orders
paid while the organiser reads do not shift the next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, and_, func, or_
from sqlmodel import col, select

from purchase.db import open_session
from purchase.models import Order, OrderItem, Ticket

# Longer than any order id, email or ticket code the database holds.
MAX_QUERY_CHARS = 254
MAX_PAGE = 200


@dataclass(frozen=True)
class OrderTicket:
    code: str
    ticket_type_id: str
    checked_in_at: datetime | None
    checked_in_by: str | None


@dataclass(frozen=True)
class OrderRow:
    order: Order
    items: list[OrderItem]
    tickets: list[OrderTicket]


@dataclass(frozen=True)
class OrderPage:
    orders: list[OrderRow]
    # How many orders of the event match the search, across every page.
    matching: int
    # The last order of this page when another page follows, else None.
    next_after: str | None


class UnknownCursor(ValueError):
    """``after`` names no order of this event."""


def _escaped(text: str) -> str:
    """``text`` as a LIKE pattern's literal part: its own % and _ match only themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matching(event_id: str, text: str) -> ColumnElement[bool]:
    within = col(Order.event_id) == event_id
    if not text:
        return within
    literal = _escaped(text)
    by_code = select(col(Ticket.order_id)).where(col(Ticket.code) == text)
    return and_(
        within,
        or_(
            col(Order.id).like(f"{literal}%", escape="\\"),
            func.lower(col(Order.email)).like(f"%{literal.lower()}%", escape="\\"),
            col(Order.id).in_(by_code),
        ),
    )


def search_orders(
    engine: Engine, event_id: str, text: str = "", after: str | None = None, limit: int = 50
) -> OrderPage:
    """The event's orders matching ``text``, newest first, ``limit`` after order ``after``.

    Raises :class:`UnknownCursor` when ``after`` is not one of the event's orders.
    """
    where = _matching(event_id, text.strip())
    with open_session(engine) as session:
        matching = session.exec(select(func.count()).select_from(Order).where(where)).one()
        page = select(Order).where(where)
        if after is not None:
            last = session.get(Order, after)
            if last is None or last.event_id != event_id:
                raise UnknownCursor(after)
            # Newest first, ties in id order: what follows ``last`` in that order.
            page = page.where(
                or_(
                    col(Order.created_at) < last.created_at,
                    and_(col(Order.created_at) == last.created_at, col(Order.id) > last.id),
                )
            )
        # One more than asked, to know whether another page follows.
        found = list(
            session.exec(
                page.order_by(col(Order.created_at).desc(), col(Order.id)).limit(limit + 1)
            ).all()
        )
        orders, more = found[:limit], len(found) > limit
        ids = [order.id for order in orders]
        items: dict[str, list[OrderItem]] = {order_id: [] for order_id in ids}
        tickets: dict[str, list[OrderTicket]] = {order_id: [] for order_id in ids}
        if ids:
            for item in session.exec(
                select(OrderItem)
                .where(col(OrderItem.order_id).in_(ids))
                .order_by(col(OrderItem.id))
            ):
                items[item.order_id].append(item)
            for ticket in session.exec(
                select(Ticket).where(col(Ticket.order_id).in_(ids)).order_by(col(Ticket.code))
            ):
                tickets[ticket.order_id].append(
                    OrderTicket(
                        ticket.code,
                        ticket.ticket_type_id,
                        ticket.checked_in_at,
                        ticket.checked_in_by,
                    )
                )
    rows = [OrderRow(order, items[order.id], tickets[order.id]) for order in orders]
    return OrderPage(rows, int(matching), orders[-1].id if more else None)


@dataclass(frozen=True)
class DoorCount:
    door: str
    checked_in: int


@dataclass(frozen=True)
class CheckInFigures:
    """The event's paid tickets, and how many each door has let in."""

    tickets: int
    checked_in: int
    doors: list[DoorCount]


def check_ins_by_door(engine: Engine, event_id: str) -> CheckInFigures:
    """Tickets of the event's paid orders, and check-ins per door, busiest door first."""
    paid = select(col(Order.id)).where(col(Order.event_id) == event_id, col(Order.status) == "paid")
    of_paid = col(Ticket.order_id).in_(paid)
    with open_session(engine) as session:
        tickets = session.exec(select(func.count()).select_from(Ticket).where(of_paid)).one()
        door = func.coalesce(col(Ticket.checked_in_by), "")
        rows = session.exec(
            select(door, func.count())
            .where(of_paid, col(Ticket.checked_in_at).is_not(None))
            .group_by(door)
            .order_by(func.count().desc(), door)
        ).all()
    doors = [DoorCount(str(name), int(count)) for name, count in rows]
    return CheckInFigures(int(tickets), sum(d.checked_in for d in doors), doors)
