"""Many fans asking for the last tickets at the same moment: exactly the stock is held."""

from __future__ import annotations

import threading
import uuid

import redis

from buffer.draw import run_draw
from buffer.order import new_seed, seed_commitment
from loadtests.crowds import admitted_crowd
from loadtests.sync_sale import create_sale_sync, hold_tickets, join_sync, snapshot_sync
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.scripts import SyncScripts
from tests.reads import zset_members, zset_scores

FANS = 200
STOCK = 37


def test_simultaneous_holds_take_exactly_the_stock(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    event_id, fans = admitted_crowd(SyncScripts(client), FANS, STOCK)
    barrier = threading.Barrier(FANS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def fan_buys(fan: str) -> None:
        # One connection per thread: the requests really are concurrent.
        scripts = SyncScripts(redis.Redis.from_url(redis_url))
        barrier.wait()
        answer = hold_tickets(scripts, event_id, fan, uuid.uuid4().hex, [("ga", 1)], 3_000)
        with lock:
            outcomes.append(answer.code or "ok")
        scripts.client.close()

    threads = [threading.Thread(target=fan_buys, args=(fan,)) for fan in fans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert len(outcomes) == FANS
    assert outcomes.count("ok") == STOCK
    assert outcomes.count("sold_out") == FANS - STOCK
    live = snapshot_sync(SyncScripts(client), event_id)
    assert live is not None
    assert live["held_by_type"]["ga"] == STOCK
    assert live["remaining"]["ga"] == 0
    assert client.zcard(EventKeys(event_id).hold_expiry) == STOCK


def test_two_clocks_at_once_admit_what_one_would(redis_url: str) -> None:
    """Invariant 4 with failover clocks: concurrent steps neither double-admit nor skip."""
    client = redis.Redis.from_url(redis_url)
    scripts = SyncScripts(client)
    event_id = uuid.uuid4().hex[:10]
    seed = new_seed()
    rate = 600  # ten a second, burst of twenty
    create_sale_sync(
        scripts,
        SaleSpec(
            event_id,
            "clocks",
            1_000,
            2_000,
            rate,
            10_000,
            600,
            seed,
            seed_commitment(seed),
            (TicketTypeSpec("ga", "GA", 100, "EUR", 1_000, 1),),
        ),
    )
    for i in range(500):
        join_sync(scripts, event_id, f"fan-{i}", 1_500)
    admit_next_batch(scripts, event_id, 1_000, now_ms=2_000)
    assert run_draw(scripts, event_id) is not None

    admitted: list[int] = []
    lock = threading.Lock()

    def clock(now_values: list[int]) -> None:
        own = SyncScripts(redis.Redis.from_url(redis_url))
        for now in now_values:
            result = admit_next_batch(own, event_id, 1_000, now_ms=now)
            with lock:
                admitted.append(result.admitted)

    steps = [2_000 + 100 * i for i in range(30)]  # three seconds of steps
    clocks = [threading.Thread(target=clock, args=(steps,)) for _ in range(2)]
    for t in clocks:
        t.start()
    for t in clocks:
        t.join(timeout=60)

    burst = rate // 30
    expected = burst + rate * (steps[-1] - steps[0]) // 60_000
    serving = int(client.hget(EventKeys(event_id).meta, "serving") or 0)
    assert sum(admitted) == serving == expected
    shopping = zset_members(client, EventKeys(event_id).shopping)
    queue = zset_scores(client, EventKeys(event_id).queue)
    numbers = sorted(queue[f] for f in shopping)
    assert numbers == list(range(1, serving + 1))
