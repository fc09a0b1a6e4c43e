"""An event's orders, one row per ticket: who bought what, and who came in.

For the organiser's CSV download (web/export.py). The rows come from one
query read ``CHUNK_ROWS`` at a time (a server-side cursor on PostgreSQL) and
are handed on a chunk at a time, so a 100,000-ticket event never sits in
memory whole. One query is one snapshot: the rows agree with each other even
while doors keep scanning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, select
from sqlmodel import col

from purchase.models import Order, OrderItem, Ticket, TicketType, aware

COLUMNS = (
    "order_id",
    "order_created_at",
    "order_status",
    "buyer_kind",
    "buyer",
    "ticket_type_id",
    "ticket_type",
    "unit_price_cents",
    "currency",
    "ticket_code",
    "ticket_created_at",
    "checked_in_at",
    "checked_in_by",
)
# Rows per fetch and per piece of the download: a few hundred KB of CSV.
CHUNK_ROWS = 1_000
# Order.buyer is NULL for a browser session with no sign-in.
ANONYMOUS = "anonymous"

Cell = str | int | None

_TICKETS = (
    select(
        col(Order.id),
        col(Order.created_at),
        col(Order.status),
        col(Order.buyer),
        col(Order.fan_id),
        col(TicketType.id),
        col(TicketType.name),
        col(OrderItem.unit_price_cents),
        col(Order.currency),
        col(Ticket.code),
        col(Ticket.created_at),
        col(Ticket.checked_in_at),
        col(Ticket.checked_in_by),
    )
    .join(Order, col(Order.id) == col(Ticket.order_id))
    .join(TicketType, col(TicketType.id) == col(Ticket.ticket_type_id))
    # One item per type in an order (web/fans.py refuses a type asked for twice);
    # outer, so a ticket is never left out of the file, even without its price.
    .join(
        OrderItem,
        and_(
            col(OrderItem.order_id) == col(Ticket.order_id),
            col(OrderItem.ticket_type_id) == col(Ticket.ticket_type_id),
        ),
        isouter=True,
    )
    .order_by(col(Order.created_at), col(Order.id), col(Ticket.created_at), col(Ticket.id))
)


def buyer_columns(buyer: str | None, fan_id: str) -> tuple[str, str]:
    """(kind, identity) from ``Order.buyer`` (fairdrop/identity.py ``Identity.label``).

    ``email:<address>`` gives the address, ``oidc:<issuer> <subject>`` the
    issuer and subject, ``member:<id>`` the organiser's id; an anonymous
    buyer is known only by the entrant id.
    """
    if not buyer:
        return ANONYMOUS, fan_id
    kind, _, identity = buyer.partition(":")
    return kind, identity


def _cell(value: Cell | datetime) -> Cell:
    if isinstance(value, datetime):
        return aware(value).isoformat().replace("+00:00", "Z")
    return value


def _row(row: Sequence[Any]) -> list[Cell]:
    order_id, order_at, status, buyer, fan_id, *ticket = row
    kind, identity = buyer_columns(buyer, fan_id)
    return [_cell(v) for v in (order_id, order_at, status, kind, identity, *ticket)]


def ticket_rows(engine: Engine, event_id: str) -> Iterator[list[list[Cell]]]:
    """The event's tickets in ``COLUMNS`` order, oldest order first, ``CHUNK_ROWS`` a chunk."""
    query = _TICKETS.where(col(Order.event_id) == event_id)
    with engine.connect() as connection:
        result = connection.execution_options(yield_per=CHUNK_ROWS).execute(query)
        for rows in result.partitions():
            yield [_row(row) for row in rows]
