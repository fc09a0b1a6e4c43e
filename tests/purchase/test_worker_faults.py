"""A purchase worker killed with SIGKILL mid-job, and another started: nothing lost.

Real processes (web, clock, PostgreSQL, Redis, RQ workers started here as
``python -m launch.cli worker``). The worker to kill runs with a fault point
(purchase/faults.py, FAIRDROP_FAULT) so it stops exactly where a crash
hurts; the test kills it there with SIGKILL and starts a plain worker, whose
reaper (purchase/reaper.py) puts the dead worker's job back in the queue.
Each test prints how long after the kill the abandoned job finished.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from sqlmodel import select

from launch.fan_client import NoMatchingMessage
from purchase.db import make_engine, open_session
from purchase.faults import FAULT_ENV, PAUSE_AFTER_CONFIRM, PAUSE_IN_HOLD_BATCH
from purchase.models import Order, Ticket
from purchase.reaper import ALIVE_KEY, reaped_counts
from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack, running_fleet
from tests.servers import (
    PostgresServer,
)
from tests.web.fans import Crowd, Fan, is_message, open_sale, ticket_type
from web.hold_batches import batch_job_id

pytestmark = pytest.mark.e2e

# The reaper's promise: a dead worker's job runs again within about
# ALIVE_TTL_MS + a reaper pass (+ STUCK_S for a job never started).
FINISHED_WITHIN_S = 15.0
WAIT_S = 30.0
STOCK = 10


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    """Web and clock with no worker: each test starts (and kills) its own."""
    workdir = tmp_path_factory.mktemp("faults-stack")
    with running_fleet(postgres_server, workdir, 1, workers=0) as stack:
        yield stack


@pytest.fixture
def rq(live_stack: LiveStack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(live_stack.settings.redis_url or "")
    yield client
    client.close()


@contextmanager
def worker(stack: LiveStack, rq: redis.Redis, name: str, fault: str = "") -> Iterator[Any]:
    """A worker process, ready (its alive key set) when this yields; stopped after."""
    alive_before = set(rq.keys(ALIVE_KEY.format("*")))
    env = {**os.environ, **stack.settings.as_env(), FAULT_ENV: fault}
    with (stack.settings.data_dir / "logs" / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "launch.cli", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # Its own process group: RQ's scheduler is a child of the worker.
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + WAIT_S
        while not set(rq.keys(ALIVE_KEY.format("*"))) - alive_before:
            assert process.poll() is None, f"worker {name} exited: see its log"
            assert time.monotonic() < deadline, f"worker {name} never started"
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _kill_group(process)


def _kill_group(process: Any) -> None:
    """Whatever the worker left (its scheduler child), gone."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def kill_9(process: Any) -> float:
    """SIGKILL to the worker and its scheduler child, as a crash of its machine or
    container would; when it died (epoch seconds)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return time.time()


async def eventually(check: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)


def stock(rq: redis.Redis, event_id: str) -> tuple[int, int, int]:
    """(available, held, sold) of the event's one ticket type, from Redis."""
    keys, type_id = EventKeys(event_id), f"{event_id}.ga"
    return tuple(  # type: ignore[return-value]
        int(rq.hget(key, type_id) or 0) for key in (keys.available, keys.held, keys.sold)
    )


async def finished_after(job_id: str, rq: redis.Redis, killed_at: float) -> float:
    """Seconds from the kill to the job's end (RQ marks it a moment after it publishes)."""
    job = Job.fetch(job_id, connection=rq)
    await eventually(lambda: job.get_status() == JobStatus.FINISHED, f"{job_id} finished")
    job.refresh()  # type: ignore[no-untyped-call]
    assert job.ended_at is not None
    return job.ended_at.timestamp() - killed_at


async def test_a_worker_killed_mid_hold_batch_loses_and_doubles_no_hold(
    live_stack: LiveStack, rq: redis.Redis
) -> None:
    fans_count = 6
    event_id = open_sale(
        live_stack,
        # One each: the clock lets in as many fans as the stock may serve.
        ticket_types=[ticket_type(stock=STOCK, per_person_limit=1)],
        hold_seconds=15,
    )
    keys = EventKeys(event_id)
    crowd = Crowd(live_stack)
    try:
        fans = [crowd.fan(event_id) for _ in range(fans_count)]
        for fan in fans:
            await fan.join()
        sockets = [await fan.open_socket() for fan in fans]
        tokens = [await fan.admission_token() for fan in fans]
        with worker(live_stack, rq, "worker-doomed", PAUSE_IN_HOLD_BATCH) as doomed:
            asked = await asyncio.gather(
                *(fan.ask_for(token) for fan, token in zip(fans, tokens, strict=True))
            )
            request_ids = [response.json()["request_id"] for response in asked]
            # hold.lua has run for the first batch; its fans have heard nothing.
            await eventually(lambda: rq.hlen(keys.requests) > 0, "the first batch held")
            paused = batch_job_id(next(r for r in request_ids if rq.hexists(keys.requests, r)))
            assert Job.fetch(paused, connection=rq).get_status() == JobStatus.STARTED
            killed_at = kill_9(doomed)
        with worker(live_stack, rq, "worker-after-hold-kill"):
            answers = await asyncio.gather(
                *(
                    socket.next(is_message("hold_result", request_id=r), WAIT_S)
                    for socket, r in zip(sockets, request_ids, strict=True)
                )
            )
            heard_after = time.time() - killed_at
            took = await finished_after(paused, rq, killed_at)
            print(f"\nhold batch of a killed worker finished {took:.2f}s after the kill")
            print(f"every fan answered {heard_after:.2f}s after the kill")
            assert took < FINISHED_WITHIN_S
            # Each fan hears its answer once: nothing more comes.
            for socket in sockets:
                with pytest.raises(NoMatchingMessage):
                    await socket.next(is_message("hold_result"), 1.0)
        assert all(answer["ok"] for answer in answers), answers
        holds = {answer["hold"]["id"] for answer in answers}
        assert len(holds) == fans_count
        assert rq.hlen(keys.holds) == fans_count
        assert stock(rq, event_id) == (STOCK - fans_count, fans_count, 0)

        # No fan pays: every hold expires and its ticket comes back once.
        await eventually(lambda: stock(rq, event_id)[1] == 0, "every hold expired", timeout=WAIT_S)
        assert stock(rq, event_id) == (STOCK, 0, 0)
        await asyncio.sleep(1.5)  # a few more clock ticks: nothing comes back twice
        assert stock(rq, event_id) == (STOCK, 0, 0)
    finally:
        await crowd.close()


async def test_a_worker_killed_after_confirm_writes_the_order_within_seconds(
    live_stack: LiveStack, rq: redis.Redis
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=STOCK, per_person_limit=3)])
    keys = EventKeys(event_id)
    engine = make_engine(live_stack.settings)
    crowd = Crowd(live_stack)
    try:
        fan = crowd.fan(event_id)
        await fan.join()
        socket = await fan.open_socket()
        with worker(live_stack, rq, "worker-doomed-pay", PAUSE_AFTER_CONFIRM) as doomed:
            hold_id = await fan.hold(2)
            paid = await fan.pay(hold_id)
            assert paid.status_code == 202, paid.text
            await eventually(
                lambda: b'"status":"confirmed"' in (rq.hget(keys.holds, hold_id) or b""),
                "confirm.lua sold the hold",
            )
            killed_at = kill_9(doomed)
        # Sold in Redis, no order yet: the state a crash leaves.
        assert stock(rq, event_id) == (STOCK - 2, 0, 2)
        assert _orders(engine, hold_id) == []
        # The fan clicks pay again: the hold is sold, so it is refused (409)...
        again = await fan.pay(hold_id)
        assert again.status_code == 409, again.text
        with worker(live_stack, rq, "worker-after-pay-kill"):
            order = await socket.next(is_message("order", hold_id=hold_id), WAIT_S)
            heard_after = time.time() - killed_at
            took = await finished_after(f"pay-{hold_id}", rq, killed_at)
        print(f"\npay job of a killed worker finished {took:.2f}s after the kill")
        print(f"the fan heard its order {heard_after:.2f}s after the kill")
        assert took < FINISHED_WITHIN_S
        assert order["ok"] is True and len(order["tickets"]) == 2, order
        (written,) = _orders(engine, hold_id)
        assert written.id == order["order_id"]
        assert len(_tickets(engine, written.id)) == 2
        assert stock(rq, event_id) == (STOCK - 2, 0, 2)
        # ...and the page, reloaded, finds the order and its codes.
        mine = await fan.request("GET", fan.path("/orders/mine"))
        assert mine.status_code == 200, mine.text
        (shown,) = mine.json()["orders"]
        assert {t["code"] for t in shown["tickets"]} == {t["code"] for t in order["tickets"]}
    finally:
        await crowd.close()
        engine.dispose()


async def test_a_job_dequeued_by_a_worker_that_died_before_starting_it_still_runs(
    live_stack: LiveStack, rq: redis.Redis
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=STOCK)])
    crowd = Crowd(live_stack)
    queue = Queue(live_stack.settings.rq_queue, connection=rq)
    try:
        fan: Fan = crowd.fan(event_id)
        await fan.join()
        socket = await fan.open_socket()
        asked = await fan.ask_for(await fan.admission_token())
        request_id = asked.json()["request_id"]
        job_id = batch_job_id(request_id)
        # What a worker's dequeue does (RQ's own call), then it dies: the job
        # is in RQ's intermediate list and in no registry.
        taken = Queue.lmove(rq, queue.key, timeout=None)
        killed_at = time.time()
        assert taken is not None and taken[1].decode() == job_id
        assert job_id not in StartedJobRegistry(queue=queue).get_job_ids()
        assert queue.count == 0
        with worker(live_stack, rq, "worker-after-dequeue-kill"):
            answer = await socket.next(is_message("hold_result", request_id=request_id), WAIT_S)
            took = await finished_after(job_id, rq, killed_at)
        print(f"\nhold batch dequeued by a dead worker finished {took:.2f}s after it died")
        assert took < FINISHED_WITHIN_S
        assert reaped_counts(rq, queue.name).get("never_started", 0) >= 1
        assert answer["ok"] is True, answer
        assert stock(rq, event_id) == (STOCK - 1, 1, 0)
    finally:
        await crowd.close()


async def test_retries_due_while_the_scheduler_worker_is_dead_still_run(
    live_stack: LiveStack, rq: redis.Redis
) -> None:
    """RQ's scheduler lock outlives its worker by 61 s, and the others look every 600 s."""
    queue = Queue(live_stack.settings.rq_queue, connection=rq)
    lock = RQScheduler.get_locking_key(queue.name)
    with worker(live_stack, rq, "worker-doomed-scheduler") as doomed:
        await eventually(lambda: _scheduler_beating(rq, lock), "its scheduler runs")
        killed_at = kill_9(doomed)
    assert rq.exists(lock)  # held by the dead scheduler for up to a minute more
    # A retry waiting its turn, as RQ schedules one (a real job, harmless here).
    job = queue.enqueue_in(timedelta(seconds=1), "purchase.jobs.release_job", "e", "f", "h")
    with worker(live_stack, rq, "worker-after-scheduler-kill"):
        took = await finished_after(job.id, rq, killed_at)
    print(f"\na retry due while the scheduler was dead ran {took:.2f}s after the kill")
    assert took < FINISHED_WITHIN_S


def _scheduler_beating(rq: redis.Redis, lock: str) -> bool:
    holder = rq.get(lock)
    key = SCHEDULER_KEY_TEMPLATE % holder.decode("ascii") if isinstance(holder, bytes) else ""
    return bool(key) and rq.hget(key, "last_heartbeat") is not None


def _orders(engine: Any, hold_id: str) -> list[Order]:
    with open_session(engine) as session:
        return list(session.exec(select(Order).where(Order.hold_id == hold_id)).all())


def _tickets(engine: Any, order_id: str) -> list[Ticket]:
    with open_session(engine) as session:
        return list(session.exec(select(Ticket).where(Ticket.order_id == order_id)).all())
