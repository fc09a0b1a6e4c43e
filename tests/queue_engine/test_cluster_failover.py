"""A cluster master killed mid-sale (SIGKILL, as a crashed machine): its replica
takes over within seconds, the clients find it, and no ticket is sold twice.

The fans hold and pay one after the other while the master of the sale's slot
dies under them. Every confirm the "worker" was told succeeded (the orders it
would have written to PostgreSQL) must still be sold on the promoted replica:
confirm.lua's writes go with ``WAIT 1`` (SyncScripts.run_replicated), so an
answered confirm is on the replica before anyone hears of it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager

from buffer.arrivals import NO_SHARE
from fairdrop.connections import async_redis, sync_redis
from fairdrop.settings import Settings
from fairdrop.tokens import Signer
from launch.redis_cluster import RedisCluster
from loadtests.crowds import admitted_crowd
from purchase.holds import HoldAsk, confirm_hold, hold_many
from queue_engine.admission import TickResult, admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.scripts import AsyncScripts, SyncScripts
from web.rooms import Room, RoomServices


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


FANS = 40
STOCK = 24
KILL_AT = 10


def test_a_master_killed_mid_sale_loses_no_paid_ticket_and_sells_none_twice(
    fresh_cluster: Callable[[], AbstractContextManager[RedisCluster]],
) -> None:
    with fresh_cluster() as cluster:
        client = sync_redis(Settings(redis_url=cluster.url, redis_cluster=True))
        scripts = SyncScripts(client)
        event_id, fans = admitted_crowd(scripts, FANS, STOCK, start_ms=1_000)
        keys = EventKeys(event_id)
        master = cluster.master_of_key(keys.meta)
        paid: list[str] = []  # hold ids whose confirm answered ok: the orders written
        refused = 0
        failover_s = 0.0
        for n, fan in enumerate(fans):
            if n == KILL_AT:
                cluster.kill(master)
                killed_at = time.monotonic()
            [held] = hold_many(scripts, event_id, [HoldAsk(fan, f"r-{fan}", [("ga", 1)])], 3_000)
            if n == KILL_AT:
                failover_s = time.monotonic() - killed_at
            if not held.ok:
                refused += 1
                continue
            assert held.hold is not None
            answer = confirm_hold(scripts, event_id, held.hold.id, f"pay-{fan}", 3_100)
            assert answer.ok, answer.body
            paid.append(held.hold.id)
        print(f"first hold after the kill answered in {failover_s:.1f}s")
        cluster.wait_ok()
        new_master = cluster.master_of_key(keys.meta)
        assert new_master.port != master.port  # the replica took the slot

        # Every paid hold is sold on the new master; nothing beyond the stock.
        assert len(paid) == STOCK and refused == FANS - STOCK
        holds = {_text(k): json.loads(v) for k, v in client.hgetall(keys.holds).items()}
        assert all(holds[h]["status"] == "confirmed" for h in paid)
        sold = int(client.hget(keys.sold, "ga") or 0)
        available = int(client.hget(keys.available, "ga") or 0)
        held_now = int(client.hget(keys.held, "ga") or 0)
        assert sold == STOCK and available == 0 and held_now == 0
        confirmed = [h for h in holds.values() if h["status"] == "confirmed"]
        assert sum(q for h in confirmed for _, q in h["items"]) == STOCK
        assert len({h["fan"] for h in confirmed}) == STOCK  # one each, nobody twice
        client.close()


def test_a_room_resubscribes_to_the_new_master_after_a_failover(
    fresh_cluster: Callable[[], AbstractContextManager[RedisCluster]],
) -> None:
    """web/rooms.py's subscription (sharded, on the slot's master) dies with the
    master; the room subscribes again, on the promoted replica, and hears the clock."""
    with fresh_cluster() as cluster:
        settings = Settings(redis_url=cluster.url, redis_cluster=True)
        client = sync_redis(settings)
        scripts = SyncScripts(client)
        start_ms = int(time.time() * 1000)
        event_id, _fans = admitted_crowd(scripts, 3, 3, start_ms=start_ms)
        master = cluster.master_of_key(EventKeys(event_id).meta)

        async def scenario() -> float:
            web_client = async_redis(settings)
            services = RoomServices(web_client, AsyncScripts(web_client), Signer("k"), NO_SHARE)
            room = Room(services, event_id)
            await room.start()
            try:
                step = 0
                ticks: list[TickResult] = []

                async def heard_a_step() -> bool:
                    nonlocal step
                    step += 1
                    before = room.progress
                    # Heartbeat 0 at a later time each step: every step publishes.
                    now = start_ms + 60_000 * step
                    ticks.append(
                        await asyncio.to_thread(admit_next_batch, scripts, event_id, 0, now)
                    )
                    for _ in range(40):
                        if room.progress is not before:  # a new message arrived
                            return True
                        await asyncio.sleep(0.05)
                    return False

                assert await heard_a_step()
                # The sale on the replica first: a master killed before its
                # replica copied the sale would take it along (replication is
                # asynchronous; the clock puts back a sale Redis lacks from
                # PostgreSQL, purchase/restore.py).
                cluster.wait_caught_up(master)
                cluster.kill(master)
                killed = time.monotonic()
                while not await heard_a_step():
                    owner = cluster.master_of_key(EventKeys(event_id).meta).port
                    assert time.monotonic() - killed < 30, (
                        f"the room never heard again; the slot's master is {owner}, "
                        f"the last tick {ticks[-1]}"
                    )
                return time.monotonic() - killed
            finally:
                await room.stop()
                await web_client.aclose()

        took = asyncio.run(scenario())
        print(f"the room heard the clock again {took:.1f}s after the kill")
        assert cluster.master_of_key(EventKeys(event_id).meta).port != master.port
        client.close()
        _collect_dropped_connections()


def _collect_dropped_connections() -> None:
    """About one run in ten, redis-py's cluster clients, rebuilding their view
    of the nodes through the failover, drop a connection without closing it;
    the garbage collector closes it with a ResourceWarning, which at the end
    of the run fails it (warnings are errors). Every client this test made is
    closed by now, the room's own subscription included (web/subscription.py
    closes it however the room stops), so what is left is that: collected
    here, where it is known, not blamed on the whole run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
