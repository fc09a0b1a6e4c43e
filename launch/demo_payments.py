"""What the demo's Stripe payments came to, counted in the database and at
Stripe (localstripe), and the settings that pay through it."""

from __future__ import annotations

import secrets
from typing import Any

import stripe
from sqlalchemy import func
from sqlmodel import col, select

from fairdrop.settings import Settings
from launch.demo_resale import resale_refunds
from purchase.db import make_engine, open_session
from purchase.models import Order, StrayPayment, Ticket


def count_orders(settings: Settings, event_id: str) -> dict[str, int]:
    """What the database holds for the event: orders and tickets, counted there."""
    engine = make_engine(settings)
    try:
        with open_session(engine) as session:
            orders = session.exec(
                select(func.count()).select_from(Order).where(Order.event_id == event_id)
            ).one()
            tickets = session.exec(
                select(func.count())
                .select_from(Ticket)
                .join(Order, Ticket.order_id == Order.id)  # type: ignore[arg-type]
                # A ticket resold is void: its seat is counted once, by its new code.
                .where(Order.event_id == event_id, col(Ticket.voided_at).is_(None))
            ).one()
    finally:
        engine.dispose()
    return {"orders_in_db": int(orders), "tickets_in_db": int(tickets)}


def count_payments(settings: Settings, event_id: str) -> tuple[int, set[str]]:
    """Paid orders, and the payments refunded because they bought nothing, from the database."""
    engine = make_engine(settings)
    try:
        with open_session(engine) as session:
            paid = session.exec(
                select(func.count())
                .select_from(Order)
                .where(Order.event_id == event_id, Order.status == "paid")
            ).one()
            refunded = session.exec(
                select(StrayPayment.payment_ref).where(
                    StrayPayment.event_id == event_id,
                    StrayPayment.refund_ref.is_not(None),  # type: ignore[union-attr]
                )
            ).all()
    finally:
        engine.dispose()
    return int(paid), set(refunded)


def refunded_at_stripe(client: stripe.StripeClient) -> set[str]:
    """The payment intents with a refund, as Stripe's (here localstripe's) API lists them."""
    listed = client.v1.refunds.list(params={"limit": 100})
    return {str(refund.payment_intent) for refund in listed.auto_paging_iter()}


def payment_figures(
    settings: Settings, client: stripe.StripeClient, summary: dict[str, Any]
) -> dict[str, Any]:
    """What the database and Stripe say was paid and refunded, and whether it adds up."""
    paid, refunded = count_payments(settings, summary["event_id"])
    at_stripe = refunded_at_stripe(client)
    # Sellers refunded for a resale (launch/demo_resale.py) are Stripe's refunds too.
    resold = resale_refunds(settings, summary["event_id"])
    consistent = (
        summary["orders_in_db"] == paid
        and summary["tickets_in_db"] == summary["sold"]
        and summary["oversold"] == 0
        and summary["late_paid"] + summary["late_refunded"] == summary["late_payers"]
        and refunded | resold == at_stripe
    )
    return {
        "paid": paid,
        "refunded": len(refunded),
        "refunds_at_stripe": len(at_stripe),
        "payments_consistent": consistent,
    }


def with_localstripe(settings: Settings, api_base: str) -> Settings:
    """Stripe payments against localstripe, with keys made up for this run."""
    return settings.with_overrides(
        payment_provider="stripe",
        stripe_secret_key="sk_test_" + secrets.token_hex(12),
        stripe_webhook_secret="whsec_" + secrets.token_hex(16),
        stripe_publishable_key="pk_test_" + secrets.token_hex(12),
        stripe_api_base=api_base,
        stripe_js_url=f"{api_base}/js.stripe.com/v3/",
    )
