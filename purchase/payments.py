"""Payment providers behind one small interface.

The purchase worker asks a provider to start a payment for a hold, with the
amount computed on the server from the ticket types. The local provider
confirms at once (the embedded default and the tests); Stripe plugs in here.
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


@dataclass(frozen=True)
class PaymentStart:
    reference: str
    # True when the money is already taken; False when confirmation comes later
    # (e.g. a Stripe webhook), with client_secret for the fan's page.
    confirmed: bool
    client_secret: str | None = None


class PaymentProvider(Protocol):
    name: str

    def start_payment(self, request: PaymentRequest) -> PaymentStart: ...

    def refund(
        self, payment_ref: str, amount_cents: int, currency: str, idempotency_key: str
    ) -> str:
        """Gives the money back; returns the refund's reference.

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

    def refund(
        self, payment_ref: str, amount_cents: int, currency: str, idempotency_key: str
    ) -> str:
        # Instant and moves no money; one reference per key, like a real refund.
        return f"local_refund_{idempotency_key}"


def provider_named(name: str) -> PaymentProvider:
    if name == "local":
        return LocalInstantProvider()
    raise ValueError(f"unknown payment provider {name!r}")
