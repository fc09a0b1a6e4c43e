"""Stripe as a payment provider, through the official ``stripe`` library.

A hold gets one PaymentIntent: the amount and currency come from the ticket
types in the database (never from the fan's page), the hold is named in the
metadata so the webhook can find it again, and the idempotency key is the
hold id, so a retried job never creates a second charge. The money moves when
the fan confirms on the page with Stripe.js; ``payment_intent.*`` webhooks
(web/stripe_webhook.py -> purchase/payment_events.py) turn that into an order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from fairdrop.settings import Settings
from purchase.payments import PaymentRequest, PaymentStart

# Stripe's own recommendation for a client that sends idempotency keys.
NETWORK_RETRIES = 2


@dataclass(frozen=True)
class IntentFacts:
    """What fairdrop reads off a PaymentIntent, from the API or a webhook."""

    id: str
    status: str
    amount: int
    currency: str
    event_id: str
    hold_id: str
    fan_id: str
    email: str | None

    @classmethod
    def from_intent(cls, intent: Any) -> IntentFacts:
        """``intent`` is a PaymentIntent object or its dict (as in a webhook's data.object)."""
        data: dict[str, Any] = intent.to_dict() if hasattr(intent, "to_dict") else dict(intent)
        metadata: dict[str, Any] = data.get("metadata") or {}
        return cls(
            id=str(data["id"]),
            status=str(data.get("status", "")),
            amount=int(data.get("amount") or 0),
            currency=str(data.get("currency", "")).upper(),
            event_id=str(metadata.get("event_id", "")),
            hold_id=str(metadata.get("hold_id", "")),
            fan_id=str(metadata.get("fan_id", "")),
            email=str(metadata["email"]) if metadata.get("email") else None,
        )


class StripeProvider:
    name = "stripe"

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeProvider:
        extra: dict[str, Any] = {}
        if settings.stripe_api_base:
            extra["base_addresses"] = {"api": settings.stripe_api_base.rstrip("/")}
        return cls(
            stripe.StripeClient(
                settings.stripe_secret_key, max_network_retries=NETWORK_RETRIES, **extra
            )
        )

    def start_payment(self, request: PaymentRequest) -> PaymentStart:
        metadata = {
            "event_id": request.event_id,
            "hold_id": request.hold_id,
            "fan_id": request.fan_id,
        }
        if request.email:
            # The webhook confirms the order, so the address must travel with the intent.
            metadata["email"] = request.email
        intent = self.client.v1.payment_intents.create(
            params={
                "amount": request.amount_cents,
                "currency": request.currency.lower(),
                "metadata": metadata,
            },
            options={"idempotency_key": f"fairdrop-hold-{request.hold_id}"},
        )
        return _start(intent)

    def resume_payment(self, reference: str) -> PaymentStart:
        return _start(self.client.v1.payment_intents.retrieve(reference))

    def cancel_payment(self, reference: str) -> None:
        if self.payment_status(reference) not in {"succeeded", "canceled", "processing"}:
            self.client.v1.payment_intents.cancel(reference)

    def payment_status(self, reference: str) -> str:
        return str(self.client.v1.payment_intents.retrieve(reference).status)

    def refund(
        self, payment_ref: str, amount_cents: int | None, currency: str, idempotency_key: str
    ) -> str:
        params: dict[str, Any] = {"payment_intent": payment_ref}
        if amount_cents is not None:
            params["amount"] = amount_cents
        refund = self.client.v1.refunds.create(
            params=params,  # type: ignore[arg-type]
            options={"idempotency_key": f"fairdrop-refund-{idempotency_key}"},
        )
        return str(refund.id)


def _start(intent: Any) -> PaymentStart:
    return PaymentStart(
        reference=str(intent.id),
        confirmed=intent.status == "succeeded",
        client_secret=str(intent.client_secret),
    )
