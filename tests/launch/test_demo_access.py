"""``fairdrop demo --access ...`` end to end: every fan signs in the way the
sale asks (a link or code from a real SMTP server, a login at a real OpenID
provider, a personal link from the organiser's list), some come back on a
second device, and outsiders try to get in. Each identity must be one
entrant with one place, and nobody unsigned gets in."""

from __future__ import annotations

import pytest

from fairdrop.identity import ACCESS_POLICIES
from fairdrop.settings import Settings
from launch.demo import DemoPlan, run_demo
from launch.demo_access import one_place_each

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("access", ACCESS_POLICIES)
def test_each_identity_is_one_entrant_with_one_place(demo_settings: Settings, access: str) -> None:
    plan = DemoPlan(fans=30, tickets=10, access=access, second_devices=0.2, seed=7)
    summary = run_demo(demo_settings, plan)

    assert summary["access"] == access
    assert summary["fans_unfinished"] == 0 and summary["fan_errors"] == 0, summary
    assert summary["identities"] == 30 == summary["entrants"], summary
    assert summary["max_entries_per_identity"] == 1, summary
    assert summary["second_devices"] == 6 and summary["second_device_same_place"] is True, summary
    assert summary["places_within_identities"] is True, summary
    want_refused = 0 if access == "open" else plan.outsiders
    assert summary["outsiders"] == summary["outsiders_refused"] == want_refused, summary
    assert one_place_each(summary)
    assert summary["sold"] == 10 and summary["oversold"] == 0, summary
    assert summary["admitted_in_order"] is True and summary["draw_verified"] is True, summary
    assert summary["tickets_in_db"] == summary["sold"], summary


def test_each_demo_fan_speaks_from_its_own_address(demo_settings: Settings) -> None:
    # Two new fans a minute per address: were the fans one client, all but two
    # would be refused. Spread over their own loopback addresses, none is.
    settings = demo_settings.with_overrides(limit_join_per_address="2/minute")
    summary = run_demo(settings, DemoPlan(fans=40, tickets=10, seed=3))

    assert summary["fan_errors"] == 0 and summary["fans_unfinished"] == 0, summary
    assert summary["entrants"] == summary["identities"] == 40, summary
    assert summary["sold"] == 10 and summary["oversold"] == 0, summary
