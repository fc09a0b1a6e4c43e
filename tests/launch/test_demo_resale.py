"""``fairdrop demo``'s resale (launch/demo_resale.py): fans put tickets back
mid-sale, the next fans in line buy them, and ``resold`` is counted in the
database (listings resold with the seller refunded), not by the demo."""

from __future__ import annotations

import pytest

from fairdrop.settings import Settings
from launch.demo import DemoPlan, run_demo

pytestmark = pytest.mark.e2e


def test_tickets_put_back_mid_sale_are_resold_and_the_sellers_refunded(
    demo_settings: Settings,
) -> None:
    # Many more fans than seats, instant payments and fans let in two a second:
    # the first buyers have their tickets while most fans still wait, so the
    # seats put back go to them (once the crowd has gone, a seat put back waits
    # for the turns of the fans who left: launch/demo_resale.py).
    plan = DemoPlan(fans=30, tickets=8, resellers=2, rate_per_min=120, seed=99)
    summary = run_demo(demo_settings, plan)

    assert summary["fans_unfinished"] == 0 and summary["fan_errors"] == 0, summary
    assert summary["resold"] == 2, summary
    assert summary["oversold"] == 0 and summary["sold"] == 8, summary
    # One valid ticket per seat: the two resold codes are void, their seats counted once.
    assert summary["tickets_in_db"] == summary["sold"], summary
    assert summary["tickets_received"] == summary["sold"] + summary["resold"], summary
    assert summary["admitted_in_order"] is True, summary
