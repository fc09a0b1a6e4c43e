"""Hold requests in batches: web/hold_batches.py feeding purchase.jobs.hold_batch_job.

A real RQ worker process runs the jobs against a real Redis; the test reads
what it stored and what it published.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis
from rq import Queue

from fairdrop.protocol import FANS_FIELD
from fairdrop.settings import Settings
from loadtests.crowds import admitted_crowd
from queue_engine.keys import EventKeys
from queue_engine.notify import sharded_pubsub
from queue_engine.scripts import SyncScripts
from web.hold_batches import HoldBatcher, batch_job_id, still_pending

FANS, STOCK, MAX_BATCH = 20, 15, 8


def _run_worker(settings: Settings) -> None:
    subprocess.run(
        [sys.executable, "-m", "launch.cli", "worker", "--burst"],
        env={**os.environ, **settings.as_env()},
        check=True,
        timeout=120,
        capture_output=True,
    )


def _queue(redis_url: str, tmp_path: Path) -> tuple[redis.Redis, Queue]:
    client = redis.Redis.from_url(redis_url)
    return client, Queue(
        Settings(redis_url=redis_url, data_dir=tmp_path).rq_queue, connection=client
    )


def _published(pubsub: redis.client.PubSub, wanted: int) -> list[list[dict[str, Any]]]:
    """The first ``wanted`` channel messages, each a batch's list of fan messages."""
    batches: list[list[dict[str, Any]]] = []
    deadline = time.monotonic() + 10
    while len(batches) < wanted and time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            batches.append(json.loads(message["data"])[FANS_FIELD])
    return batches


async def test_requests_at_once_share_jobs_and_each_fan_gets_its_own_answer(
    redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(redis_url=redis_url, data_dir=tmp_path)
    client = redis.Redis.from_url(redis_url)
    keys_now = int(time.time() * 1000)
    event_id, fans = admitted_crowd(SyncScripts(client), FANS, STOCK, start_ms=keys_now - 2_000)
    keys = EventKeys(event_id)
    queue = Queue(settings.rq_queue, connection=client)
    batcher = HoldBatcher(queue, linger_s=0.05, max_batch=MAX_BATCH)

    ids = await asyncio.gather(*(batcher.submit(event_id, fan, [["ga", 1]]) for fan in fans))

    # 20 requests in one moment: two full batches of 8 and one of 4 closed by time.
    assert len(set(ids)) == FANS
    assert Counter(batch_job_id(i) for i in ids).most_common() == [
        (batch_job_id(ids[0]), 8),
        (batch_job_id(ids[8]), 8),
        (batch_job_id(ids[16]), 4),
    ]
    assert queue.count == 3
    assert all(still_pending(client, i) for i in ids)

    pubsub = client.pubsub()  # type: ignore[no-untyped-call]
    # Sharded or plain, by queue_engine/notify.py's rule.
    (pubsub.ssubscribe if sharded_pubsub(client) else pubsub.subscribe)(keys.channel)
    _run_worker(settings)

    answers = {i: json.loads(client.hget(keys.requests, i) or "{}") for i in ids}
    for fan, request_id in zip(fans, ids, strict=True):
        assert answers[request_id]["fan"] == fan
        assert answers[request_id]["request_id"] == request_id
    outcomes = Counter(a["code"] if not a["ok"] else "held" for a in answers.values())
    assert outcomes == {"held": STOCK, "sold_out": FANS - STOCK}
    assert int(client.hget(keys.available, "ga") or -1) == 0
    assert int(client.hget(keys.held, "ga") or -1) == STOCK

    # Every fan was told its own answer, on the event's channel: one message per batch.
    batches = _published(pubsub, 3)
    assert sorted(len(b) for b in batches) == [4, 8, 8]
    told = [message for batch in batches for message in batch]
    assert sorted((m["fan"], m["request_id"]) for m in told) == sorted(zip(fans, ids, strict=True))
    for message in told:
        assert message["t"] == "hold_result"
        if message["ok"]:
            assert message["hold"]["fan"] == message["fan"]

    # Once its batch is done, a request id nobody was given is not "pending".
    assert not any(still_pending(client, i) for i in ids)
    forged = ids[16][:-4] + "0fff"
    assert client.hget(keys.requests, forged) is None
    assert not still_pending(client, forged)

    # A batch that runs again (an RQ retry) repeats every answer and changes nothing.
    queue.enqueue("purchase.jobs.hold_batch_job", event_id, [[fans[0], ids[0], [["ga", 1]]]])
    held_before = client.hgetall(keys.held)
    _run_worker(settings)
    assert json.loads(client.hget(keys.requests, ids[0]) or "{}") == answers[ids[0]]
    assert client.hgetall(keys.held) == held_before
    pubsub.close()
    client.close()


async def test_a_lone_request_is_sent_after_the_linger(redis_url: str, tmp_path: Path) -> None:
    client, queue = _queue(redis_url, tmp_path)
    batcher = HoldBatcher(queue, linger_s=0.02, max_batch=MAX_BATCH)
    started = time.monotonic()
    request_id = await asyncio.wait_for(batcher.submit("e1", "fan-1", [["ga", 1]]), timeout=5)
    assert time.monotonic() - started >= 0.02
    assert queue.count == 1
    job = queue.jobs[0]
    assert job.id == batch_job_id(request_id)
    assert job.args == ("e1", [["fan-1", request_id, [["ga", 1]]]])
    client.close()


async def test_partial_batches_leave_no_closer_together_than_the_gap_and_full_ones_at_once(
    redis_url: str, tmp_path: Path
) -> None:
    """Holds that trickle in are gathered, not sent a job each (RQ's cost per job)."""
    client, queue = _queue(redis_url, tmp_path)
    batcher = HoldBatcher(queue, linger_s=0.005, max_batch=2, min_gap_s=3.0)
    await batcher.submit("e1", "fan-1", [["ga", 1]])
    started = time.monotonic()
    lone = await batcher.submit("e1", "fan-2", [["ga", 1]])
    assert time.monotonic() - started >= 2.9  # the gap, not the linger
    assert queue.count == 2
    # Another event has a gap of its own; and a full batch never waits.
    started = time.monotonic()
    await asyncio.gather(*(batcher.submit("e2", f"fan-{n}", [["ga", 1]]) for n in (3, 4)))
    both = await asyncio.gather(*(batcher.submit("e1", f"fan-{n}", [["ga", 1]]) for n in (5, 6)))
    assert time.monotonic() - started < 2.0  # neither waited for a gap
    assert queue.count == 4
    assert len({batch_job_id(i) for i in [lone, *both]}) == 2
    client.close()


async def test_a_fan_that_goes_away_does_not_cancel_its_batch(
    redis_url: str, tmp_path: Path
) -> None:
    client, queue = _queue(redis_url, tmp_path)
    batcher = HoldBatcher(queue, linger_s=0.05, max_batch=MAX_BATCH)
    leaving = asyncio.create_task(batcher.submit("e1", "fan-1", [["ga", 1]]))
    staying = asyncio.create_task(batcher.submit("e1", "fan-2", [["ga", 1]]))
    await asyncio.sleep(0.01)
    leaving.cancel()
    request_id = await asyncio.wait_for(staying, timeout=5)
    assert leaving.cancelled()
    # Both requests went: the one whose fan left is answered on the channel all the same.
    [job] = queue.jobs
    assert job.id == batch_job_id(request_id)
    assert [fan for fan, _, _ in job.args[1]] == ["fan-1", "fan-2"]
    client.close()
