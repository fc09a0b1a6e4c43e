"""sample.lua on a real Redis (and a real Redis Cluster): one sample a second
of a live sale, the newest kept, none for a sale not live yet or sold out long
ago (queue_engine/samples.py)."""

from __future__ import annotations

import json
from typing import Any

import redis

from fairdrop.connections import async_redis, sync_redis
from fairdrop.settings import Settings
from launch.redis_cluster import RedisCluster
from loadtests.crowds import admitted_crowd
from queue_engine.keys import EventKeys
from queue_engine.samples import SAMPLE_LEAD_MS, SAMPLE_TAIL_S, Sampler, read_samples
from queue_engine.scripts import SyncScripts


def _samples(scripts: SyncScripts, event_id: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in scripts.client.lrange(EventKeys(event_id).samples, 0, -1)]


def test_one_sample_a_second_with_the_sale_s_figures(scripts: SyncScripts) -> None:
    event_id, _fans = admitted_crowd(scripts, 3, 10, per_person_limit=2)
    sampler = Sampler(scripts.client)
    assert sampler.sample(event_id, now_ms=3_000)
    # A second clock in the same second adds nothing.
    assert not sampler.sample(event_id, now_ms=3_900)
    assert sampler.sample(event_id, now_ms=4_000)
    first, second = _samples(scripts, event_id)
    assert (first["s"], second["s"]) == (3, 4)
    assert first["a"] == 3 and first["sh"] == 3  # all three fans let in and shopping
    assert first["l"] == 10 and first["sd"] == {"ga": 0} and first["h"] == {"ga": 0}
    assert first["r"] == 60_000_000 and first["cap"] == 3
    assert (first["o"], first["d"]) == (1_000, 2_000)
    assert first["so"] is None and first["p"] == 0
    assert scripts.client.pttl(EventKeys(event_id).samples) > 0


def test_only_the_newest_samples_are_kept(scripts: SyncScripts) -> None:
    event_id, _fans = admitted_crowd(scripts, 2, 10)
    sampler = Sampler(scripts.client, kept=3)
    for second in range(5):
        assert sampler.sample(event_id, now_ms=10_000 + second * 1_000)
    assert [s["s"] for s in _samples(scripts, event_id)] == [12, 13, 14]


def test_no_samples_long_before_the_window_opens(scripts: SyncScripts) -> None:
    opens = 10_000_000
    event_id, _fans = admitted_crowd(scripts, 2, 10, start_ms=opens)
    scripts.client.hset(EventKeys(event_id).meta, "state", "scheduled")
    sampler = Sampler(scripts.client)
    assert not sampler.sample(event_id, now_ms=opens - SAMPLE_LEAD_MS - 1_000)
    assert sampler.sample(event_id, now_ms=opens - SAMPLE_LEAD_MS + 1_000)
    assert not sampler.sample("no-such-sale", now_ms=opens)


def test_a_sold_out_sale_is_sampled_for_a_while_then_no_more(scripts: SyncScripts) -> None:
    event_id, _fans = admitted_crowd(scripts, 2, 10)
    sampler = Sampler(scripts.client)
    assert sampler.sample(event_id, now_ms=5_000)
    scripts.client.hset(EventKeys(event_id).meta, "state", "sold_out")
    assert sampler.sample(event_id, now_ms=6_000)
    assert sampler.sample(event_id, now_ms=(6 + SAMPLE_TAIL_S) * 1_000)
    assert not sampler.sample(event_id, now_ms=(7 + SAMPLE_TAIL_S) * 1_000)
    samples = _samples(scripts, event_id)
    assert [s["so"] for s in samples] == [None, 6, 6]
    # Sold out before its first sample (or its samples expired): none begin.
    scripts.client.delete(EventKeys(event_id).samples)
    assert not sampler.sample(event_id, now_ms=(8 + SAMPLE_TAIL_S) * 1_000)


def test_sample_all_samples_every_live_sale(scripts: SyncScripts) -> None:
    first, _ = admitted_crowd(scripts, 2, 10)
    second, _ = admitted_crowd(scripts, 2, 10)
    sampler = Sampler(scripts.client)
    assert sampler.sample_all() >= 2  # other tests' sales may be live too
    assert len(_samples(scripts, first)) == 1 and len(_samples(scripts, second)) == 1


async def test_samples_on_a_redis_cluster(redis_cluster: RedisCluster) -> None:
    settings = Settings(redis_url=redis_cluster.url, redis_cluster=True)
    client = sync_redis(settings)
    async_client = async_redis(settings)
    assert isinstance(client, redis.RedisCluster)
    try:
        event_id, _fans = admitted_crowd(SyncScripts(client), 2, 10)
        sampler = Sampler(client)
        assert sampler.sample(event_id, now_ms=3_000)
        assert sampler.sample(event_id, now_ms=4_000)
        raws = await read_samples(async_client, event_id)
        assert [json.loads(raw)["s"] for raw in raws] == [3, 4]
        assert [json.loads(raw)["s"] for raw in await read_samples(async_client, event_id, 1)] == [
            4
        ]
    finally:
        client.close()
        await async_client.aclose()
