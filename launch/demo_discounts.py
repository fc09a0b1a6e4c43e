"""The demo's discount code: made through the organiser API, typed by a share of
the fans, and counted afterwards from the database (paid orders with a code),
each discounted order's amount checked against Stripe's PaymentIntent where
the demo pays through localstripe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import stripe
from sqlmodel import col, select

from fairdrop.settings import Settings
from launch.demo_fans import SimulatedFan
from purchase.db import make_engine, open_session
from purchase.models import Order, OrderItem

DEMO_CODE = "FAIRDROP20"
DEMO_PERCENT = 20
# About one fan in this many types the code.
EVERY_NTH_FAN = 3


def code_fans(fans: int) -> list[int]:
    """Which fans (by arrival index) type the code: every third, from the first."""
    return list(range(0, fans, EVERY_NTH_FAN))


async def create_demo_code(
    http: httpx.AsyncClient, token: str, event_id: str, uses: int
) -> dict[str, Any]:
    """20% off the order, as many uses as fans who will type it, for a day."""
    expires = datetime.now(UTC) + timedelta(days=1)
    response = await http.post(
        f"/api/events/{event_id}/discounts",
        json={
            "code": DEMO_CODE,
            "kind": "percent",
            "amount": DEMO_PERCENT,
            "max_uses": max(1, uses),
            "expires_at": expires.isoformat(),
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    response.raise_for_status()
    code: dict[str, Any] = response.json()
    return code


async def hand_out_code(
    http: httpx.AsyncClient, token: str, event_id: str, fans: list[SimulatedFan]
) -> None:
    """Makes the sale's code and gives it to a share of the fans, who type it when they buy."""
    with_code = code_fans(len(fans))
    code = await create_demo_code(http, token, event_id, len(with_code))
    for who in with_code:
        fans[who].discount_code = str(code["code"])


def _discounted_orders(settings: Settings, event_id: str) -> list[tuple[Order, int]]:
    """The event's paid orders with a code, each with its undiscounted subtotal."""
    engine = make_engine(settings)
    try:
        with open_session(engine) as session:
            orders = session.exec(
                select(Order).where(
                    Order.event_id == event_id,
                    Order.status == "paid",
                    col(Order.discount_code).is_not(None),
                )
            ).all()
            items = session.exec(
                select(OrderItem).where(col(OrderItem.order_id).in_([o.id for o in orders]))
            ).all()
            for order in orders:
                session.expunge(order)
    finally:
        engine.dispose()
    subtotal: dict[str, int] = {}
    for item in items:
        subtotal[item.order_id] = (
            subtotal.get(item.order_id, 0) + item.quantity * item.unit_price_cents
        )
    return [(order, subtotal.get(order.id, 0)) for order in orders]


def discount_figures(
    settings: Settings, event_id: str, client: stripe.StripeClient | None
) -> dict[str, Any]:
    """``discounts_used``: paid orders with a code, from the database. Each must cost
    its subtotal less its discount, and, with Stripe, be what the intent charged."""
    orders = _discounted_orders(settings, event_id)
    priced = all(o.total_cents == subtotal - o.discount_cents > 0 for o, subtotal in orders)
    figures: dict[str, Any] = {
        "discounts_used": len(orders),
        "discount_cents": sum(o.discount_cents for o, _ in orders),
        "discount_prices_ok": priced,
    }
    if client is not None:
        charged = [
            client.v1.payment_intents.retrieve(o.payment_ref).amount == o.total_cents
            for o, _ in orders
        ]
        figures["discounts_match_stripe"] = all(charged)
    return figures
