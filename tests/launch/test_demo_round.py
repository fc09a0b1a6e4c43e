"""``fairdrop demo``'s after-sale resale round (launch/demo_round.py): a sale
sold out with nobody left in line, a ticket put back, new fans in the round's
window; the round's first number buys the seat, the seller is refunded, and the
round verifies from what the server publishes."""

from __future__ import annotations

import pytest

from fairdrop.settings import Settings
from launch.demo import DemoPlan, run_demo

pytestmark = pytest.mark.e2e


def test_a_ticket_put_back_after_the_sale_goes_to_the_round_s_first_number(
    demo_settings: Settings,
) -> None:
    plan = DemoPlan(fans=12, tickets=4, resellers=0, round_fans=6, seed=7)
    summary = run_demo(demo_settings, plan)

    assert summary["round_opened"] is True, summary
    assert summary["round_fan_errors"] == 0 and summary["round_fans_unfinished"] == 0, summary
    # Every fan who came in the window was drawn, and placed by the draw.
    assert summary["round_entrants"] == summary["round_fans_placed"] == 6, summary
    assert summary["round_first_bought"] is True, summary
    assert summary["round_resold"] == 1, summary
    assert summary["round_verified"] is True, summary
