"""``fairdrop demo --payments localstripe`` end to end: fans pay through the real
``stripe`` library against localstripe, some of them after their hold ended,
and what the database and Stripe hold must add up."""

from __future__ import annotations

from typing import Any

import pytest

from fairdrop.settings import Settings
from launch.demo import LOCALSTRIPE_HOLD_SECONDS, DemoPlan, run_demo

pytestmark = pytest.mark.e2e


def stripe_demo(settings: Settings, **plan: Any) -> dict[str, Any]:
    """The localstripe demo on the test's Redis and PostgreSQL; its summary, checked."""
    summary = run_demo(
        settings,
        DemoPlan(
            payments="localstripe",
            hold_seconds=LOCALSTRIPE_HOLD_SECONDS,
            deadline_seconds=40.0,
            **plan,
        ),
    )
    assert summary["fans_unfinished"] == 0 and summary["fan_errors"] == 0, summary
    assert summary["oversold"] == 0, summary
    assert summary["paid"] >= 1 and summary["late_payers"] >= 1, summary
    # Every paid order is in the database with its tickets, and nothing more.
    assert summary["orders_in_db"] == summary["paid"] == summary["fans_with_tickets"], summary
    assert summary["tickets_in_db"] == summary["sold"] == summary["tickets_received"], summary
    # Each late payer got the tickets (still free, in a late order) or their money back.
    late_outcomes = summary["late_paid"] + summary["late_refunded"]
    assert late_outcomes == summary["late_payers"], summary
    # Refunded once each, as both the database and Stripe tell it.
    assert summary["refunded"] == summary["refunds_at_stripe"] >= summary["late_refunded"], summary
    assert summary["payments_consistent"] is True, summary
    # /metrics counted the payments that succeeded and the refunds as the database has them.
    assert summary["metrics_ok"] is True, summary["metrics_compared"]
    assert summary["admitted_in_order"] is True and summary["draw_verified"] is True, summary
    # A share of the fans typed the demo's code: paid orders with it, counted in the
    # database, each priced less its discount and charged that at Stripe.
    assert summary["discounts_used"] >= 1, summary
    assert summary["discount_prices_ok"] and summary["discounts_match_stripe"], summary
    return summary


def test_late_payers_whose_tickets_went_to_others_are_refunded(demo_settings: Settings) -> None:
    summary = stripe_demo(demo_settings, fans=40, tickets=12, late_payers=0.3, seed=4321)

    assert summary["sold"] == 12, summary
    assert summary["late_refunded"] >= 1, summary


def test_late_payers_get_tickets_still_free(demo_settings: Settings) -> None:
    summary = stripe_demo(demo_settings, fans=8, tickets=30, late_payers=0.5, seed=4321)

    assert summary["late_paid"] == summary["late_payers"], summary
    assert summary["refunded"] == 0, summary
