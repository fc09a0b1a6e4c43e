"""``fairdrop demo --cluster --web 2``: a whole drop whose sale state is a
Redis Cluster the stack forms itself (3 masters, a replica each, RQ on a lone
Redis) and whose fans reach two web processes through nginx."""

from __future__ import annotations

import pytest

from fairdrop.settings import Settings
from launch.demo import DemoPlan, run_demo

pytestmark = pytest.mark.e2e


def test_a_drop_on_a_cluster_behind_nginx(demo_settings: Settings) -> None:
    # No REDIS_URL: the stack starts a cluster of its own, as `fairdrop demo --cluster` does.
    settings = demo_settings.with_overrides(redis_url=None, redis_cluster=True)
    summary = run_demo(settings, DemoPlan(fans=40, tickets=20, web_processes=2, seed=99))

    assert summary["redis_masters"] == 3 and summary["web_processes"] == 2, summary
    assert summary["fans_unfinished"] == 0 and summary["fan_errors"] == 0, summary
    assert summary["oversold"] == 0 and summary["sold"] == 20, summary
    assert summary["orders_in_db"] == summary["fans_with_tickets"], summary
    assert summary["admitted_in_order"] is True and summary["draw_verified"] is True, summary
    assert summary["receipts_checked"] is True, summary
    # Two web processes, workers and the clock counted as one; sales read from the cluster.
    assert summary["metrics_ok"] is True, summary["metrics_compared"]
