"""What a payment provider's event does to a hold (the webhook's RQ job).

Events arrive late, twice and out of order; each handler asks the one
source of truth before it acts, so any order gives the same end:

- ``succeeded``: the confirm script sells the hold (or, for a hold that
  ended, the free tickets it can still take) and the order is written once;
  a payment that bought nothing is refunded (purchase/jobs.py confirm_job).
- ``payment_failed`` / ``canceled``: the hold is let go at once, so its
  tickets go to the next fan, unless Stripe says the intent has since
  succeeded (a failed attempt reported after the good one) or the hold is
  now paying with another intent.
"""

from __future__ import annotations

from typing import Any

from fairdrop.errors import ErrorCode
from fairdrop.metrics import count_payment
from fairdrop.protocol import MessageType
from purchase.holds import read_hold, release_hold
from purchase.jobs import WorkerContext, confirm_job, refund_unplaced, worker_context
from purchase.orders import price_hold
from purchase.stripe_payments import IntentFacts
from queue_engine.notify import publish_to_fan

SUCCEEDED = "payment_intent.succeeded"
# Statuses in which the money has gone or is going through.
NOT_FAILED = frozenset({"succeeded", "processing", "requires_capture"})


def payment_event_job(event_type: str, intent: dict[str, Any]) -> dict[str, Any]:
    """``intent`` is :class:`IntentFacts` as a dict (web/stripe_webhook.py)."""
    ctx = worker_context()
    facts = IntentFacts(**intent)
    if event_type == SUCCEEDED:
        return _succeeded(ctx, facts)
    return _failed(ctx, facts, event_type)


def _succeeded(ctx: WorkerContext, facts: IntentFacts) -> dict[str, Any]:
    hold = read_hold(ctx.scripts, facts.event_id, facts.hold_id)
    if hold is not None:
        amount, currency, _ = price_hold(ctx.engine, facts.event_id, hold)
        if (facts.amount, facts.currency) != (amount, currency):
            # Only someone with the secret key could change an intent's amount;
            # such a payment never buys tickets priced otherwise.
            release_hold(ctx.scripts, facts.event_id, facts.hold_id)
            why = f"paid {facts.amount} {facts.currency}, but the tickets cost {amount} {currency}"
            return refund_unplaced(
                ctx, facts.event_id, facts.hold_id, facts.id, ErrorCode.AMOUNT_MISMATCH, why
            )
    return confirm_job(facts.event_id, facts.hold_id, facts.id, facts.email)


def _failed(ctx: WorkerContext, facts: IntentFacts, event_type: str) -> dict[str, Any]:
    status = ctx.payments.payment_status(facts.id)
    if status in NOT_FAILED:
        return {"ok": True, "ignored": f"the intent is {status} now"}
    hold = read_hold(ctx.scripts, facts.event_id, facts.hold_id)
    if hold is None or hold.payment != facts.id or hold.status != "held":
        return {"ok": True, "ignored": "the hold is not waiting for this payment"}
    answer = release_hold(ctx.scripts, facts.event_id, facts.hold_id)
    count_payment("failed")
    what = "was cancelled" if event_type.endswith("canceled") else "failed"
    message = {
        "t": MessageType.PAYMENT,
        "ok": False,
        "code": ErrorCode.PAYMENT_FAILED,
        "released": bool(answer.body.get("released")),
        "hold_id": facts.hold_id,
        "message": f"the payment {what}, so your tickets were let go",
    }
    publish_to_fan(ctx.client, facts.event_id, hold.fan_id, message)
    return {k: v for k, v in message.items() if k != "t"}
