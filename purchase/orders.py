"""Paid orders and their tickets, written to the database exactly once."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from purchase.db import open_session
from purchase.holds import Hold
from purchase.models import Order, OrderItem, Ticket, TicketType


class PricingError(LookupError):
    """A held ticket type has no row in the database."""


def price_hold(engine: Engine, event_id: str, hold: Hold) -> tuple[int, str, dict[str, int]]:
    """Total, currency and unit prices, from the database: never from the client."""
    types = event_prices(engine, event_id)
    missing = {t for t, _ in hold.items} - types.keys()
    if missing:
        raise PricingError(f"ticket types {sorted(missing)} are not in the database")
    prices = {t: types[t][0] for t, _ in hold.items}
    currencies = {types[t][1] for t, _ in hold.items}
    total = sum(prices[t] * q for t, q in hold.items)
    return total, currencies.pop(), prices


# A sale's ticket types never change once created (web/catalog.py caches them
# too), so a worker reads an event's prices once. A payment made while the
# database is briefly unreachable is then still priced and confirmed in Redis,
# and only the order's write waits for RQ's retry.
@lru_cache(maxsize=4096)
def event_prices(engine: Engine, event_id: str) -> Mapping[str, tuple[int, str]]:
    """Price in cents and currency of each of the event's ticket types."""
    with open_session(engine) as session:
        rows = session.exec(select(TicketType).where(TicketType.event_id == event_id)).all()
    if not rows:
        # Raised, so not cached: the event may be written a moment later.
        raise PricingError(f"event {event_id} has no ticket types in the database")
    return MappingProxyType({row.id: (row.price_cents, row.currency) for row in rows})


def find_order(engine: Engine, hold_id: str) -> Order | None:
    with open_session(engine) as session:
        return session.exec(select(Order).where(Order.hold_id == hold_id)).first()


def record_paid_order(
    engine: Engine,
    event_id: str,
    hold: Hold,
    payment_ref: str,
    provider: str,
    email: str | None = None,
) -> Order:
    """Writes the order for a confirmed hold, or returns the one already written.

    The unique hold id makes a retried job a no-op (invariant 6); the first
    write's email stands.
    """
    existing = find_order(engine, hold.id)
    if existing is not None:
        return existing
    total, currency, prices = price_hold(engine, event_id, hold)
    order = Order(
        id=uuid.uuid4().hex,
        event_id=event_id,
        fan_id=hold.fan_id,
        hold_id=hold.id,
        payment_ref=payment_ref,
        payment_provider=provider,
        total_cents=total,
        currency=currency,
        email=email,
    )
    try:
        with open_session(engine) as session:
            session.add(order)
            session.flush()
            for type_id, quantity in hold.items:
                session.add(
                    OrderItem(
                        order_id=order.id,
                        ticket_type_id=type_id,
                        quantity=quantity,
                        unit_price_cents=prices[type_id],
                    )
                )
                for _ in range(quantity):
                    session.add(
                        Ticket(
                            id=uuid.uuid4().hex,
                            order_id=order.id,
                            ticket_type_id=type_id,
                            code=secrets.token_urlsafe(16),
                        )
                    )
            session.commit()
            session.refresh(order)
            return order
    except IntegrityError:
        # Another attempt at the same hold won the race: its order stands.
        found = find_order(engine, hold.id)
        if found is None:
            raise
        return found


def tickets_for_order(engine: Engine, order_id: str) -> list[Ticket]:
    with open_session(engine) as session:
        return list(session.exec(select(Ticket).where(Ticket.order_id == order_id)).all())
