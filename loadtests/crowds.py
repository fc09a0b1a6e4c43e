"""A sale with a crowd already admitted, built through the real scripts.

Shared by the benchmarks and the concurrency tests, which both need many
admitted fans at once without waiting for the clock.
"""

from __future__ import annotations

import uuid
from typing import cast

from buffer.draw import run_draw
from buffer.order import new_seed, seed_commitment
from fairdrop.connections import SaleRedis
from loadtests.sync_sale import create_sale_sync, join_sync
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.scripts import SyncScripts


def admitted_crowd(
    scripts: SyncScripts, fans: int, stock: int, per_person_limit: int = 1, start_ms: int = 1_000
) -> tuple[str, list[str]]:
    """A new sale of one type ``"ga"`` whose ``fans`` entrants are all admitted.

    The window opens at ``start_ms`` and the drop is a second later; the fans
    are admitted just after the drop, for ten minutes. Pass the real time
    when the holds will use Redis's clock.

    The clock admits no more fans than tickets (tick.lua); fans beyond the
    stock are put at the counter directly, in queue order, because these
    crowds exist to press more fans on hold.lua than it has tickets: the edge
    it must guard by itself.
    """
    opens_ms, drop_ms = start_ms, start_ms + 1_000
    event_id = uuid.uuid4().hex[:10]
    seed = new_seed()
    create_sale_sync(
        scripts,
        SaleSpec(
            event_id,
            "crowd",
            opens_ms,
            drop_ms,
            60_000_000,
            fans,
            600,
            seed,
            seed_commitment(seed),
            (TicketTypeSpec("ga", "GA", 100, "EUR", stock, per_person_limit),),
        ),
    )
    fan_ids = [f"fan-{i}" for i in range(fans)]
    for fan in fan_ids:
        join_sync(scripts, event_id, fan, opens_ms + 500)
    admit_next_batch(scripts, event_id, 1_000, now_ms=drop_ms)  # closes the window
    run_draw(scripts, event_id)
    now = drop_ms + 1
    while admit_next_batch(scripts, event_id, 1_000, now_ms=now).admitted:
        now += 1
    _let_in_the_rest(scripts.client, event_id, now + 600_000)
    return event_id, fan_ids


def _let_in_the_rest(client: SaleRedis, event_id: str, deadline_ms: int) -> None:
    keys = EventKeys(event_id)
    serving = int(client.hget(keys.meta, "serving") or 0)
    rest = cast(list[bytes], client.zrangebyscore(keys.queue, f"({serving}", "+inf"))
    if rest:
        client.zadd(keys.shopping, dict.fromkeys(rest, deadline_ms))
        client.hset(keys.meta, "serving", serving + len(rest))
