"""What the chaos demo's faults cost, each counted from the servers' own data
(the sale's Redis, PostgreSQL, RQ's Redis and the fan API) once the faults
are over, never from the demo's own bookkeeping of what it meant to do.

- ``paid_orders_lost``: holds sold in Redis (status ``confirmed``) with no
  order row for them in the database, after up to ORDERS_WAIT_S for the last
  orders to be written; ``orders_not_sold_in_redis`` is the other way round.
- ``holds_lost``: ``hold_requests_unanswered`` (hold requests the API took
  with a 202 that ``GET .../purchases/{id}`` still does not answer at the end)
  plus ``hold_tickets_unaccounted`` (in Redis, for each ticket type, tickets
  neither available, nor in a hold whose status is ``held``, nor sold; and
  any difference between the ``held`` counter and those holds: a hold that
  vanished without its stock coming back, or counted twice).
- ``fans_lost_place``: fans whose status messages named more than one queue
  number over all their sockets, or who never reached a final state.
- ``oversold``: tickets beyond the stock, by the sale's stats (sold + held)
  or by the ticket rows in the database, whichever is more.
  ``fans_stuck`` shows what the first few of them last knew.
- ``jobs_requeued``: the jobs the workers' reapers put back in the queue
  (purchase/reaper.py ``reaped_counts``), by why in ``jobs_requeued_by``:
  moves, not distinct jobs. While a killed worker's RQ scheduler still holds
  its lock (61 s), the reaper moves every due retry itself, so a pay job
  retried every few seconds through the PostgreSQL outage counts at each
  retry (``scheduler_died``: 20 to 840 in runs here).
- ``last_order_at``: when the sale's last order row was written (epoch
  seconds, the row's ``created_at``): how long the last paid fan waited.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import col, select

from fairdrop.connections import SaleRedis, rq_redis, sync_redis
from fairdrop.settings import Settings
from launch.chaos_fans import ChaosFan
from launch.demo_payments import count_orders
from launch.fan_client import FanClient
from purchase.db import make_engine, open_session
from purchase.models import Order
from purchase.reaper import reaped_counts
from queue_engine.keys import EventKeys

ORDERS_WAIT_S = 60.0
# Fans who lost their place that the summary describes.
STUCK_SHOWN = 5
# Fans whose hold requests are looked up at once.
LOOKUPS_AT_ONCE = 20


async def chaos_figures(
    base_url: str, settings: Settings, event_id: str, fans: list[ChaosFan], stats: dict[str, Any]
) -> dict[str, Any]:
    """The figures of the module docstring; ``settings`` must name live Redis nodes."""
    unanswered = await hold_requests_unanswered(base_url, event_id, fans)
    counted = await asyncio.to_thread(_server_counts, settings, event_id, stats)
    return {
        "oversold": counted.pop("oversold"),
        "paid_orders_lost": counted["paid_orders_lost"],
        "holds_lost": unanswered + counted["hold_tickets_unaccounted"],
        "hold_requests_unanswered": unanswered,
        "fans_lost_place": sum(1 for fan in fans if fan.lost_place()),
        # What the first few of them last knew: a failed run says where they stopped.
        "fans_stuck": [fan.last_known() for fan in fans if fan.lost_place()][:STUCK_SHOWN],
        "fan_reconnects": sum(max(0, fan.sockets_opened - 1) for fan in fans),
        **counted,
    }


async def hold_requests_unanswered(base_url: str, event_id: str, fans: list[ChaosFan]) -> int:
    """Hold requests the API took that it still answers ``pending`` or does not know."""
    gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    async def unanswered(fan: ChaosFan) -> int:
        client = FanClient(base_url, event_id, fan.cookie or "", local_address=fan.address)
        count = 0
        async with gate:
            for request_id in fan.request_ids:
                response = await client.purchase_answer(request_id)
                if not response.is_success or response.json().get("status") == "pending":
                    count += 1
        return count

    return sum(await asyncio.gather(*(unanswered(fan) for fan in fans)))


def _server_counts(settings: Settings, event_id: str, stats: dict[str, Any]) -> dict[str, Any]:
    sale = sync_redis(settings)
    engine = make_engine(settings)
    rq = rq_redis(settings)
    try:
        lost, unsold = paid_orders_lost(sale, engine, event_id)
        requeued = reaped_counts(rq, settings.rq_queue)
        stock = stats["stock_by_type"]
        by_stats = sum(
            max(0, stats["sold_by_type"][t] + stats["held_by_type"][t] - stock[t]) for t in stock
        )
        by_database = count_orders(settings, event_id)["tickets_in_db"] - sum(stock.values())
        return {
            "oversold": max(0, by_stats, by_database),
            "paid_orders_lost": lost,
            "orders_not_sold_in_redis": unsold,
            "hold_tickets_unaccounted": hold_tickets_unaccounted(sale, event_id),
            "jobs_requeued": sum(requeued.values()),
            "jobs_requeued_by": requeued,
            "last_order_at": last_order_at(engine, event_id),
        }
    finally:
        sale.close()
        engine.dispose()
        rq.close()


def _holds(sale: SaleRedis, event_id: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in sale.hgetall(EventKeys(event_id).holds).values()]


def paid_orders_lost(
    sale: SaleRedis, engine: Engine, event_id: str, wait_s: float = ORDERS_WAIT_S
) -> tuple[int, int]:
    """(holds sold in Redis with no order in the database, orders whose hold Redis
    does not say sold), once every sold hold has its order or ``wait_s`` passed."""
    deadline = time.monotonic() + wait_s
    while True:
        sold = {str(h["id"]) for h in _holds(sale, event_id) if h["status"] == "confirmed"}
        with open_session(engine) as session:
            query = select(Order.hold_id).where(col(Order.event_id) == event_id)
            ordered = {str(hold_id) for hold_id in session.exec(query).all()}
        if sold <= ordered or time.monotonic() > deadline:
            return len(sold - ordered), len(ordered - sold)
        time.sleep(1.0)


def last_order_at(engine: Engine, event_id: str) -> float | None:
    with open_session(engine) as session:
        query = select(func.max(Order.created_at)).where(col(Order.event_id) == event_id)
        latest = session.exec(query).one()
    if latest is None:
        return None
    # Written as UTC; a column without a time zone gives it back naive.
    return float((latest if latest.tzinfo else latest.replace(tzinfo=UTC)).timestamp())


def hold_tickets_unaccounted(sale: SaleRedis, event_id: str) -> int:
    """Tickets Redis cannot account for (see the module docstring)."""
    keys = EventKeys(event_id)
    counters = [
        {_text(t): int(n) for t, n in sale.hgetall(key).items()}
        for key in (keys.stock, keys.available, keys.held, keys.sold)
    ]
    stock, available, held, sold = counters
    live: dict[str, int] = dict.fromkeys(stock, 0)
    for hold in _holds(sale, event_id):
        if hold["status"] == "held":
            for type_id, quantity in hold["items"]:
                live[str(type_id)] = live.get(str(type_id), 0) + int(quantity)
    return sum(
        abs(stock.get(t, 0) - available.get(t, 0) - live[t] - sold.get(t, 0))
        + abs(held.get(t, 0) - live[t])
        for t in live
    )


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw
