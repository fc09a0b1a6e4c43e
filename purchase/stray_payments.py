"""Refunds payments that bought nothing, exactly once, with a record of each.

A payment can succeed when it can no longer buy its tickets: after its hold
ended and the tickets went to someone else, or as a second payment for a hold
another payment already bought. The money goes back; the row in
``stray_payment`` says why, and that the refund went through.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from fairdrop.metrics import count_payment
from purchase.db import open_session
from purchase.models import StrayPayment
from purchase.payments import PaymentProvider


@dataclass(frozen=True)
class Stray:
    event_id: str
    hold_id: str
    fan_id: str
    payment_ref: str
    reason: str


def refund_stray_payment(engine: Engine, provider: PaymentProvider, stray: Stray) -> str:
    """Gives the whole payment back and returns the refund's reference.

    The row goes in first: a retried job (a crash, the database or the
    provider briefly down) finds it and asks the provider again with the same
    idempotency key, or, once the refund is recorded, not at all.
    """
    row = _record(engine, provider.name, stray)
    if row.refund_ref:
        return row.refund_ref
    refund_ref = provider.refund(stray.payment_ref, None, "", f"stray-{stray.payment_ref}")
    count_payment("refunded")
    with open_session(engine) as session:
        session.execute(
            update(StrayPayment)
            .where(col(StrayPayment.payment_ref) == stray.payment_ref)
            .values(refund_ref=refund_ref)
        )
        session.commit()
    return refund_ref


def _record(engine: Engine, provider_name: str, stray: Stray) -> StrayPayment:
    with open_session(engine) as session:
        found = session.get(StrayPayment, stray.payment_ref)
        if found is not None:
            return found
    row = StrayPayment(
        payment_ref=stray.payment_ref,
        payment_provider=provider_name,
        event_id=stray.event_id,
        hold_id=stray.hold_id,
        fan_id=stray.fan_id,
        reason=stray.reason,
    )
    try:
        with open_session(engine) as session:
            session.add(row)
            session.commit()
            session.refresh(row)
            return row
    except IntegrityError:
        # Another attempt at the same payment wrote it first.
        with open_session(engine) as session:
            found = session.get(StrayPayment, stray.payment_ref)
        if found is None:
            raise
        return found
