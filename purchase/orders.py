"""Paid orders and their tickets, written to the database exactly once."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.protocol import MessageType
from fairdrop.settings import Settings
from purchase.db import open_session
from purchase.discount_terms import discount_cents
from purchase.holds import Hold
from purchase.models import Order, OrderItem, Ticket, TicketType
from purchase.providers import provider_named
from purchase.resale import order_has_resale, take_listings
from queue_engine.notify import publish_to_fan
from queue_engine.scripts import SyncScripts

log = logging.getLogger("fairdrop.orders")


class PricingError(LookupError):
    """A held ticket type has no row in the database."""


def price_hold(engine: Engine, event_id: str, hold: Hold) -> tuple[int, str, dict[str, int]]:
    """Total (less the hold's discount), currency and unit prices, from the
    database and the hold: never from the client."""
    types = event_prices(engine, event_id)
    missing = {t for t, _ in hold.items} - types.keys()
    if missing:
        raise PricingError(f"ticket types {sorted(missing)} are not in the database")
    prices = {t: types[t][0] for t, _ in hold.items}
    currencies = {types[t][1] for t, _ in hold.items}
    total = sum(prices[t] * q for t, q in hold.items)
    return total - discount_cents(hold.items, prices, hold.discount), currencies.pop(), prices


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
        buyer=hold.buyer or None,
        presale_id=hold.presale,
        discount_code=hold.discount.code if hold.discount else None,
        discount_cents=discount_cents(hold.items, prices, hold.discount),
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
            # Tickets put back for resale that this order's seats came from are
            # void from this same commit (purchase/resale.py).
            take_listings(session, event_id, order.id, hold.items)
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


def orders_of_fan(engine: Engine, event_id: str, fan_id: str) -> list[tuple[Order, list[Ticket]]]:
    """A fan's orders in an event, oldest first, each with its tickets (two queries).

    What the fan page shows after a reload: the ``order`` message on the
    socket is said once, and a page that was not listening then missed it.
    """
    with open_session(engine) as session:
        orders = session.exec(
            select(Order)
            .where(Order.event_id == event_id, Order.fan_id == fan_id)
            .order_by(col(Order.created_at), col(Order.id))
        ).all()
        tickets: dict[str, list[Ticket]] = {order.id: [] for order in orders}
        if tickets:
            rows = session.exec(
                select(Ticket).where(col(Ticket.order_id).in_(tickets)).order_by(col(Ticket.id))
            ).all()
            for ticket in rows:
                tickets[ticket.order_id].append(ticket)
    return [(order, tickets[order.id]) for order in orders]


# A cancel goes paid -> refunding -> refunded. Every step is safe to repeat,
# so a cancel that died half-way (a crash, a provider timeout) is finished by
# asking again: "refunding" orders are picked up where they stopped.
PAID, REFUNDING, REFUNDED = "paid", "refunding", "refunded"


def cancel_order(
    engine: Engine, scripts: SyncScripts, settings: Settings, event_id: str, order_id: str
) -> Order:
    """Refunds a paid order and gives its tickets back to the sale; returns it refunded.

    Raises ``unknown_order`` when the event has no such order and
    ``order_not_paid`` when it is refunded already, changing nothing.
    """
    order = _start_refund(engine, event_id, order_id)
    # Refunded by the provider that took the money; the order id is the
    # idempotency key, so a repeated cancel never refunds twice.
    provider = provider_named(order.payment_provider, settings)
    refund_ref = provider.refund(order.payment_ref, order.total_cents, order.currency, order.id)
    # After the refund, not before: a crash in between leaves the tickets sold
    # and the order "refunding" (its tickets void), never tickets resold
    # while the money is still kept. return_sold.lua gives them back once.
    answer = return_sold_tickets(scripts, event_id, order.hold_id, order.id)
    if not answer["ok"]:
        # Redis no longer knows this sale's hold (lost and rebuilt): the money
        # is back and the tickets are void all the same, so the order is
        # refunded; only its stock cannot go back on sale from here.
        log.warning("order %s refunded, but its stock was not returned: %s", order.id, answer)
    with open_session(engine) as session:
        session.execute(
            update(Order)
            .where(col(Order.id) == order.id, col(Order.status) == REFUNDING)
            .values(status=REFUNDED, refund_ref=refund_ref)
        )
        session.commit()
        refunded = session.get(Order, order.id)
    assert refunded is not None
    # The fan's own page hears it too, not only the fans waiting in line.
    publish_to_fan(
        scripts.client,
        event_id,
        refunded.fan_id,
        {
            "t": MessageType.ORDER_REFUNDED,
            "order_id": refunded.id,
            "refund_ref": refunded.refund_ref,
        },
    )
    return refunded


def return_sold_tickets(
    scripts: SyncScripts, event_id: str, hold_id: str, order_id: str, now_ms: int = 0
) -> dict[str, Any]:
    """return_sold.lua: ``{"ok": true, "returned": bool, ...}``; returned once per hold."""
    answer: dict[str, Any] = json.loads(
        scripts.run("return_sold", event_id, now_ms, hold_id, order_id)
    )
    return answer


def _start_refund(engine: Engine, event_id: str, order_id: str) -> Order:
    """Marks a paid order "refunding" (one conditional UPDATE) and returns it."""
    with open_session(engine) as session:
        session.execute(
            update(Order)
            .where(
                col(Order.id) == order_id,
                col(Order.event_id) == event_id,
                col(Order.status) == PAID,
            )
            .values(status=REFUNDING)
        )
        # Asked with the order's row locked by the UPDATE: a ticket put back
        # (listed under the same lock) has its seat on sale or resold already,
        # and a whole refund would give it back twice.
        if order_has_resale(session, order_id):
            session.rollback()
            raise FairdropError(
                ErrorCode.ORDER_HAS_RESALE,
                f"order {order_id} has a ticket put back for resale: it cannot be cancelled whole",
            )
        session.commit()
        order = session.get(Order, order_id)
    if order is None or order.event_id != event_id:
        raise FairdropError(ErrorCode.UNKNOWN_ORDER, f"no order {order_id} in event {event_id}")
    if order.status != REFUNDING:
        raise FairdropError(
            ErrorCode.ORDER_NOT_PAID, f"order {order_id} is {order.status}, not paid"
        )
    return order
