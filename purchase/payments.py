"""Payment providers behind one small interface.

The purchase worker asks a provider to start a payment for a hold, with the
amount computed on the server from the ticket types. The local provider
confirms at once (the embedded default and most tests); Stripe
(purchase/stripe_payments.py) confirms later, by webhook.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PaymentRequest:
    event_id: str
    hold_id: str
    fan_id: str
    amount_cents: int
    currency: str
    # Where the order confirmation goes; travels with a payment confirmed later.
    email: str | None = None


@dataclass(frozen=True)
class PaymentStart:
    reference: str
    # True when the money is already taken; False when confirmation comes later
    # (e.g. a Stripe webhook), with client_secret for the fan's page.
    confirmed: bool
    client_secret: str | None = None


class PaymentProvider(Protocol):
    name: str

    def start_payment(self, request: PaymentRequest) -> PaymentStart:
        """Starts (or, for the same hold, finds again) the payment for a hold."""
        ...

    def resume_payment(self, reference: str) -> PaymentStart:
        """The payment a hold already has, for a fan who asks to pay again."""
        ...

    def cancel_payment(self, reference: str) -> None:
        """Stops a payment nobody should complete any more (a second one for a hold)."""
        ...

    def payment_status(self, reference: str) -> str:
        """Where the payment stands now, in Stripe's words ("succeeded", "canceled", ...)."""
        ...

    def refund(
        self, payment_ref: str, amount_cents: int | None, currency: str, idempotency_key: str
    ) -> str:
        """Gives the money back (all of it when ``amount_cents`` is None); returns its reference.

        The same ``idempotency_key`` (the order id) always means the same
        refund, so a repeated cancel never pays out twice.
        """
        ...


class LocalInstantProvider:
    """Confirms every payment at once: no money moves. For demos and tests."""

    name = "local"

    def start_payment(self, request: PaymentRequest) -> PaymentStart:
        # One reference per hold, so a retried job cannot make a second payment.
        return PaymentStart(reference=f"local_{request.hold_id}", confirmed=True)

    def resume_payment(self, reference: str) -> PaymentStart:
        return PaymentStart(reference=reference, confirmed=True)

    def cancel_payment(self, reference: str) -> None:
        return None

    def payment_status(self, reference: str) -> str:
        return "succeeded"

    def refund(
        self, payment_ref: str, amount_cents: int | None, currency: str, idempotency_key: str
    ) -> str:
        # Instant and moves no money; one reference per key, like a real refund.
        return f"local_refund_{idempotency_key}"
