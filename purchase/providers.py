"""The payment provider by name: the local one or Stripe (purchase/payments.py,
purchase/stripe_payments.py). Apart from both, so that neither imports the other."""

from __future__ import annotations

from fairdrop.settings import Settings
from purchase.payments import LocalInstantProvider, PaymentProvider
from purchase.stripe_payments import StripeProvider


def provider_named(name: str, settings: Settings) -> PaymentProvider:
    """The provider an order was paid with (``Order.payment_provider``), or the configured one."""
    if name == "local":
        return LocalInstantProvider()
    if name == "stripe":
        return StripeProvider.from_settings(settings)
    raise ValueError(f"unknown payment provider {name!r}")
