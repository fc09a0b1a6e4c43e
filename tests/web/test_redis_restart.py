"""Redis restarts empty mid-sale: the clock puts the sale back from PostgreSQL
(purchase/restore.py, restore_sale.lua), so what the database sold stays sold
and nothing is sold twice (DESIGN invariant 6, then 1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import Crowd, Message, client, open_sale

RESTORE_WAIT_S = 15.0


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    # Sales older than a second count as lost when Redis lacks them.
    workdir = Path(tmp_path_factory.mktemp("restart-stack"))
    with running_stack(postgres_server, workdir, restore_grace_seconds=1.0) as stack:
        yield stack


async def _stats_when_back(stack: LiveStack, event_id: str) -> Message:
    deadline = time.monotonic() + RESTORE_WAIT_S
    async with client(stack, stack.organiser_headers) as http:
        while time.monotonic() < deadline:
            answer = await http.get(f"/api/events/{event_id}/stats")
            if answer.status_code == 200:
                figures: Message = answer.json()
                return figures
            await asyncio.sleep(0.1)
    raise AssertionError(f"sale {event_id} not back within {RESTORE_WAIT_S}s")


async def test_a_sale_redis_lost_comes_back_with_what_the_database_sold(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    buyer, holder = crowd.fan(event_id), crowd.fan(event_id)
    order = await buyer.buy(2)
    await holder.join()
    await holder.hold(1)
    await asyncio.sleep(1.0)  # past the grace for new sales
    lost = redis.Redis.from_url(str(live_stack.settings.redis_url))
    try:
        assert lost.flushall()  # a restart without persistence
    finally:
        lost.close()

    figures = await _stats_when_back(live_stack, event_id)

    # The two tickets the database sold are sold again; the live hold is gone.
    assert (figures["sold"], figures["held"], figures["remaining_total"]) == (2, 0, 8), figures
    # The order's hold came back too: an organiser cancel gives its stock back once.
    cancel = f"{live_stack.base_url}/api/events/{event_id}/orders/{order['order_id']}/cancel"
    refunded = httpx.post(cancel, headers=live_stack.organiser_headers, timeout=10)
    assert refunded.status_code == 200, refunded.text
    after = await _stats_when_back(live_stack, event_id)
    assert (after["sold"], after["remaining_total"]) == (0, 10), after
    # And the sale goes on: a fan who comes now joins at the back and buys.
    again = await crowd.fan(event_id).buy(2)
    assert len(again["tickets"]) == 2
    assert (await _stats_when_back(live_stack, event_id))["sold"] == 2
