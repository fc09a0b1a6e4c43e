"""``fairdrop demo --chaos``, small and fast: one real drop on a Redis Cluster, two
web processes behind nginx, two clocks and a private PostgreSQL, through every
fault of launch/chaos.py; each must happen and recover, and the figures counted
from the servers afterwards must show nothing lost, doubled or oversold."""

from __future__ import annotations

import json

import pytest

from fairdrop.connections import sync_redis
from fairdrop.settings import Settings
from launch.chaos import FAULT_KINDS, ChaosPlan, chaos_survived
from launch.chaos_figures import hold_tickets_unaccounted, paid_orders_lost
from launch.demo import DemoPlan, run_demo
from purchase.db import make_engine, upgrade_database
from queue_engine.keys import EventKeys

pytestmark = pytest.mark.e2e

TICKETS = 20


def test_a_drop_survives_every_fault(demo_settings: Settings) -> None:
    # The stack makes its own cluster and PostgreSQL: the fixture's servers are not killed.
    plan = DemoPlan(
        fans=50,
        tickets=TICKETS,
        web_processes=2,
        seed=14,
        chaos=ChaosPlan(postgres_seconds=3),
        deadline_seconds=60,
    )
    summary = run_demo(demo_settings, plan)

    faults = {fault["kind"]: fault for fault in summary["faults"]}
    assert sorted(faults) == sorted(FAULT_KINDS), summary
    assert summary["faults_failed"] == [], summary
    for fault in faults.values():
        assert fault["recovered_s"] is not None, fault
        assert fault["at_s"] <= fault["recovered_s"], fault
    assert summary["redis_masters"] == 3 and summary["web_processes"] == 2, summary
    # Each worker killed mid-job had its job put back by a reaper.
    assert summary["jobs_requeued_by"].get("worker_died", 0) >= 2, summary
    # The web process died with fans on it: they came back through nginx.
    assert summary["fan_reconnects"] > 0, summary

    lost = ("oversold", "paid_orders_lost", "holds_lost", "fans_lost_place")
    assert {figure: summary[figure] for figure in lost} == dict.fromkeys(lost, 0), summary
    assert summary["orders_not_sold_in_redis"] == 0, summary
    assert summary["fans_unfinished"] == 0 and summary["fan_errors"] == 0, summary
    assert summary["sold"] == TICKETS and summary["tickets_in_db"] == TICKETS, summary
    assert summary["tickets_received"] == TICKETS, summary
    # Killed workers, a killed web process and clock: every count once, none lost.
    assert summary["metrics_ok"] is True, summary["metrics_compared"]
    assert summary["admitted_in_order"] is True and summary["draw_verified"] is True, summary
    assert summary["receipts_checked"] is True, summary
    assert chaos_survived(summary)


def test_the_loss_figures_count_what_the_servers_hold(redis_url: str, database_url: str) -> None:
    """Each loss figure shows a loss when one is there: a hold gone with its ticket,
    and a hold sold in Redis with no order row in the database."""
    settings = Settings(redis_url=redis_url, database_url=database_url)
    upgrade_database(settings)
    event_id, type_id = "chaosfig", "chaosfig.ga"
    keys = EventKeys(event_id)
    sale = sync_redis(settings)
    engine = make_engine(settings)
    try:
        holds = {
            "h-held": {"id": "h-held", "status": "held", "items": [[type_id, 1]]},
            "h-sold": {"id": "h-sold", "status": "confirmed", "items": [[type_id, 2]]},
        }
        sale.hset(keys.holds, mapping={k: json.dumps(v) for k, v in holds.items()})
        sale.hset(keys.sold, type_id, 2)
        # 10 tickets: 6 free, 1 in the live hold, 2 sold; one more is nowhere.
        for key, count in ((keys.stock, 10), (keys.available, 6), (keys.held, 1)):
            sale.hset(key, type_id, count)
        assert hold_tickets_unaccounted(sale, event_id) == 1
        sale.hset(keys.available, type_id, 7)
        assert hold_tickets_unaccounted(sale, event_id) == 0
        # The sold hold has no order: a paid order lost, until its row is written.
        assert paid_orders_lost(sale, engine, event_id, wait_s=0) == (1, 0)
    finally:
        sale.close()
        engine.dispose()
