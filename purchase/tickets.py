"""Tickets as the fan and the door see them, and the door's check-in.

A ticket checks in exactly once, however many doors scan it at the same
moment: the check-in is one conditional UPDATE, and whoever's UPDATE finds
the ticket not yet checked in is the one that lets the holder in. A door that
finds no row to change only then reads the row, to say when and where it was
used; nothing is decided from that read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Select, select, update
from sqlmodel import col

from purchase.models import Event, Order, Ticket, TicketType

# The order status a ticket is good for; any other (cancelled, refunded) voids it.
PAID = "paid"
# The check-in's answer when a door of one event is shown another event's ticket.
ANOTHER_EVENT = "another_event"


@dataclass(frozen=True)
class TicketDetails:
    code: str
    event_id: str
    event_name: str
    ticket_type_id: str
    ticket_type_name: str
    order_id: str
    order_status: str
    checked_in_at: datetime | None
    checked_in_by: str | None
    # Put back for resale (purchase/resale.py), and void once resold.
    listed: bool = False
    voided: bool = False


@dataclass(frozen=True)
class CheckIn:
    """``valid`` (this scan let the holder in), ``already_used``, ``void`` (order not paid,
    ticket put back for resale or resold) or ``another_event`` (a door of one event was
    shown another event's ticket).
    """

    result: str
    ticket: TicketDetails


# What the ticket page and the door show about a ticket, named as TicketDetails' fields.
_DETAILS: Select[*tuple[Any, ...]] = (
    select(
        col(Ticket.code).label("code"),
        col(Event.id).label("event_id"),
        col(Event.name).label("event_name"),
        col(TicketType.id).label("ticket_type_id"),
        col(TicketType.name).label("ticket_type_name"),
        col(Order.id).label("order_id"),
        col(Order.status).label("order_status"),
        col(Ticket.checked_in_at).label("checked_in_at"),
        col(Ticket.checked_in_by).label("checked_in_by"),
        col(Ticket.listed_at).label("listed"),
        col(Ticket.voided_at).label("voided"),
    )
    .join(Order, col(Order.id) == col(Ticket.order_id))
    .join(Event, col(Event.id) == col(Order.event_id))
    .join(TicketType, col(TicketType.id) == col(Ticket.ticket_type_id))
)


def _details(connection: Connection, code: str) -> TicketDetails | None:
    query = _DETAILS.where(col(Ticket.code) == code)
    row = connection.execute(query).mappings().first()
    if row is None:
        return None
    fields = dict(row)
    checked_in_at = fields["checked_in_at"]
    if checked_in_at is not None and checked_in_at.tzinfo is None:
        # SQLite gives naive datetimes back; they were stored in UTC.
        fields["checked_in_at"] = checked_in_at.replace(tzinfo=UTC)
    fields["listed"] = fields["listed"] is not None
    fields["voided"] = fields["voided"] is not None
    return TicketDetails(**fields)


def find_ticket(engine: Engine, code: str) -> TicketDetails | None:
    with engine.connect() as connection:
        return _details(connection, code)


def check_in(
    engine: Engine, code: str, door: str, at: datetime, event_id: str | None = None
) -> CheckIn | None:
    """Checks the ticket in at ``door``; None when no ticket has this code.

    Exactly once: the ``checked_in_at IS NULL`` condition is evaluated by the
    database on the row it locks, so of two doors scanning at once one UPDATE
    changes the row and the other changes nothing (PostgreSQL re-checks the
    condition after waiting for the first; SQLite runs writers one at a time).
    With ``event_id`` (a door token's event) only that event's tickets can be
    checked in; the condition is part of the same UPDATE.
    """
    paid_orders = select(col(Order.id)).where(col(Order.status) == PAID)
    if event_id is not None:
        paid_orders = paid_orders.where(col(Order.event_id) == event_id)
    claim = (
        update(Ticket)
        .where(
            col(Ticket.code) == code,
            col(Ticket.checked_in_at).is_(None),
            # A ticket put back has its seat on sale again (purchase/resale.py):
            # checked on this row, which the put-back's UPDATE also changes.
            col(Ticket.listed_at).is_(None),
            col(Ticket.voided_at).is_(None),
            col(Ticket.order_id).in_(paid_orders),
        )
        .values(checked_in_at=at, checked_in_by=door)
        .returning(col(Ticket.id))
    )
    with engine.begin() as connection:
        claimed = connection.execute(claim).first() is not None
        ticket = _details(connection, code)
    if ticket is None:
        return None
    if claimed:
        return CheckIn("valid", ticket)
    # Before "already used": what a door of another event needs to hear is "not here".
    if event_id is not None and ticket.event_id != event_id:
        return CheckIn(ANOTHER_EVENT, ticket)
    if ticket.checked_in_at is not None:
        return CheckIn("already_used", ticket)
    return CheckIn("void", ticket)
