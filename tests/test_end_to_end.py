"""The user story end to end: web, worker and clock as real processes, 300 fans
on real websockets for 60 tickets, against real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, text
from sqlmodel import Session, select

from fairdrop.settings import Settings
from launch.demo import DemoPlan, simulate_drop
from launch.stack import Stack
from purchase.models import Order, Ticket

pytestmark = pytest.mark.e2e


def test_three_hundred_fans_for_sixty_tickets(
    redis_url: str, database_url: str, tmp_path: Path, beacon_url: str
) -> None:
    settings = Settings(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=tmp_path,
        port=0,
        beacon_url=beacon_url,
    )
    plan = DemoPlan(fans=300, tickets=60, window_seconds=4.0, seed=1234)
    with Stack(settings, workers=2) as stack:
        summary = asyncio.run(simulate_drop(stack.base_url, stack.settings.organiser_token, plan))

    assert summary["fans_unfinished"] == 0 and summary["fan_errors"] == 0, summary
    assert summary["sold"] == 60
    assert summary["oversold"] == 0
    assert summary["tickets_received"] == 60
    assert summary["admitted_in_order"] is True
    assert summary["admitted_found_empty_share"] <= 0.01, summary  # tick.lua's bound
    assert summary["draw_verified"] is True
    # The organiser doubled the rate once the first fans were in; the log says so.
    assert summary["rate_changes"] == 1, summary
    assert summary["rate_per_min_final"] == 2 * plan.rate_per_min
    # Drawn with the (local) beacon's value, and every placed fan's signed
    # receipt is in the published list at its number.
    assert summary["draw_algorithm"] == "fairdrop-draw-v2"
    assert summary["draw_promise"] == "unsteerable" and summary["beacon_round"], summary
    placed = summary["entrants_drawn"] + summary["late_joiners"]
    assert summary["receipts_checked"] is True and summary["receipts"] == placed, summary
    assert placed + summary["joined_after_sold_out"] == 300

    engine = create_engine(database_url)
    with Session(engine) as session:
        orders = session.exec(select(Order).where(Order.event_id == summary["event_id"])).all()
        tickets = session.exec(
            select(func.count()).select_from(Ticket).join(Order, Ticket.order_id == Order.id)  # type: ignore[arg-type]
        ).one()
        # Every order once per hold, and one ticket per seat sold.
        assert len(orders) == summary["fans_with_tickets"]
        assert len({o.hold_id for o in orders}) == len(orders)
        assert tickets == 60
        assert session.exec(text("SELECT version()")).one()[0].startswith("PostgreSQL")  # type: ignore[call-overload]
    engine.dispose()
