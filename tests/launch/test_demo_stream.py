"""launch/demo_stream.py: the demo's last line counts the lifecycle stream, and
its count equals the changes the sale made (holds in Redis, orders and
check-ins in PostgreSQL), kind by kind."""

from __future__ import annotations

import pytest

from fairdrop.settings import Settings
from launch.demo import DemoPlan, run_demo

pytestmark = pytest.mark.e2e


def test_the_demo_counts_one_stream_entry_per_change(demo_settings: Settings) -> None:
    plan = DemoPlan(fans=30, tickets=10, seed=5)
    summary = run_demo(demo_settings, plan)

    assert summary["fans_unfinished"] == 0 and summary["fan_errors"] == 0, summary
    assert summary["checked_in"] > 0, summary
    by_kind = summary["stream_by_kind"]
    assert by_kind["checked_in"] == summary["checked_in"], summary
    assert by_kind["sold"] == summary["orders_in_db"] and by_kind["held"] >= by_kind["sold"]
    assert summary["stream_events"] == summary["stream_changes_made"] == sum(by_kind.values())
    assert summary["stream_matches_changes"] is True, summary
