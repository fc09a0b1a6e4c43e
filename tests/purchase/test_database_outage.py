"""PostgreSQL goes away in the middle of a drop and comes back.

Fans who pay while it is down have their holds confirmed in Redis at once (so
their tickets cannot go to anyone else); writing the order fails, RQ retries
the pay job, and once PostgreSQL is back every paid hold has exactly one order
with its tickets, and each fan hears its order.

The module runs a PostgreSQL cluster of its own: stopping the session's
cluster would break every other test running on it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import Engine
from sqlmodel import select

from launch.processes import wait_until_answered
from purchase.db import make_engine, open_session
from purchase.models import Order, Ticket
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer, private_postgres
from tests.web.fans import Crowd, Fan, Message, Socket, is_message, open_sale, stats, ticket_type
from web.fans import PAYMENT_RETRY

pytestmark = pytest.mark.e2e

# Fans who buy before the outage: the worker has read the event's prices by then.
FANS_BEFORE = 2
FANS_DURING = 5
OUTAGE_S = 4.0
# web/fans.py's PAYMENT_RETRY tries again after 1, 2 and then every 5 s;
# the scheduler moves a due job to the queue within about a second.
RECOVERY_WAIT_S = 60.0
CONFIRM_WAIT_S = 10.0


@pytest.fixture(scope="module")
def outage_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[PostgresServer, LiveStack]]:
    """A PostgreSQL cluster of the module's own, and a stack on it."""
    workdir = tmp_path_factory.mktemp("outage-stack")
    with private_postgres() as postgres, running_stack(postgres, workdir) as stack:
        yield postgres, stack


@dataclass
class Payer:
    fan: Fan
    socket: Socket
    hold_id: str
    quantity: int


async def held(crowd: Crowd, event_id: str, quantity: int) -> Payer:
    fan = crowd.fan(event_id)
    await fan.join()
    socket = await fan.open_socket()
    return Payer(fan, socket, await fan.hold(quantity), quantity)


async def pay(payer: Payer) -> None:
    response = await payer.fan.request("POST", payer.fan.path(f"/holds/{payer.hold_id}/pay"))
    assert response.status_code == 202, response.text


def hear_order(payer: Payer, timeout: float) -> asyncio.Task[Message]:
    """Reads the fan's socket (so it never backs up) until its order arrives."""
    return asyncio.create_task(
        payer.socket.next(is_message("order", hold_id=payer.hold_id), timeout)
    )


def pay_job(queue: Queue, hold_id: str) -> Job:
    # web/fans.py enqueues one pay job per hold under this id.
    return Job.fetch(f"pay-{hold_id}", connection=queue.connection)


def waiting_for_retry(job: Job) -> bool:
    """The job has failed (the order write) and RQ has scheduled it again."""
    tried_again = job.retries_left is not None and job.retries_left < PAYMENT_RETRY.max
    return tried_again and job.get_status() in (JobStatus.SCHEDULED, JobStatus.QUEUED)


async def eventually(check: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.1)


def orders_and_tickets(engine: Engine, event_id: str) -> tuple[list[Order], list[Ticket]]:
    with open_session(engine) as session:
        orders = list(session.exec(select(Order).where(Order.event_id == event_id)).all())
        ids = [order.id for order in orders]
        tickets = list(session.exec(select(Ticket).where(Ticket.order_id.in_(ids))).all())  # type: ignore[attr-defined]
    return orders, tickets


async def test_payments_made_while_postgres_is_down_are_written_once_when_it_is_back(
    outage_stack: tuple[PostgresServer, LiveStack],
) -> None:
    postgres, stack = outage_stack
    event_id = open_sale(stack, ticket_types=[ticket_type(stock=30, per_person_limit=3)])
    engine = make_engine(stack.settings)
    crowd = Crowd(stack)
    connection = redis.Redis.from_url(stack.settings.redis_url or "")
    queue = Queue(stack.settings.rq_queue, connection=connection)
    hearing: list[asyncio.Task[Message]] = []
    try:
        bought_before = [await crowd.fan(event_id).buy() for _ in range(FANS_BEFORE)]
        payers = [await held(crowd, event_id, 1 + i % 3) for i in range(FANS_DURING)]
        paid_during = sum(payer.quantity for payer in payers)
        assert stats(stack, event_id)["held"] == paid_during

        postgres.stop()
        try:
            for payer in payers:
                await pay(payer)
            hearing += [hear_order(payer, RECOVERY_WAIT_S) for payer in payers]
            await eventually(
                lambda: all(waiting_for_retry(pay_job(queue, p.hold_id)) for p in payers),
                CONFIRM_WAIT_S,
                "every pay job failed to write its order and waits for RQ's retry",
            )
            # Sold in Redis, at once: the tickets are the fans' whatever the database does.
            figures = stats(stack, event_id)
            assert figures["sold"] == FANS_BEFORE + paid_during, figures
            assert figures["held"] == 0, figures
            await asyncio.sleep(OUTAGE_S)
            # No order reaches a fan before it is in the database.
            assert not any(task.done() for task in hearing), [t for t in hearing if t.done()]
        finally:
            postgres.start()

        heard = await asyncio.gather(*hearing)
        for payer, order in zip(payers, heard, strict=True):
            assert order["ok"] is True, order
            assert len(order["tickets"]) == payer.quantity, order
        await eventually(
            lambda: all(
                pay_job(queue, p.hold_id).get_status() == JobStatus.FINISHED for p in payers
            ),
            CONFIRM_WAIT_S,
            "every pay job finished",
        )

        orders, tickets = orders_and_tickets(engine, event_id)
        by_hold = Counter(order.hold_id for order in orders)
        expected_holds = {o["hold_id"] for o in bought_before} | {p.hold_id for p in payers}
        assert set(by_hold) == expected_holds
        assert set(by_hold.values()) == {1}, by_hold
        assert {order.id for order in orders} == {o["order_id"] for o in [*bought_before, *heard]}
        assert len({order.payment_ref for order in orders}) == len(orders)
        tickets_by_order = Counter(ticket.order_id for ticket in tickets)
        for payer, order in zip(payers, heard, strict=True):
            assert tickets_by_order[order["order_id"]] == payer.quantity
            codes = {t.code for t in tickets if t.order_id == order["order_id"]}
            assert codes == {t["code"] for t in order["tickets"]}
        assert len({ticket.code for ticket in tickets}) == len(tickets)
        assert stats(stack, event_id)["sold"] == len(tickets) == FANS_BEFORE + paid_during
    finally:
        for task in hearing:
            task.cancel()
        await asyncio.gather(*hearing, return_exceptions=True)
        await crowd.close()
        connection.close()
        engine.dispose()


async def test_a_web_process_started_while_postgres_is_down_answers_503_then_serves(
    outage_stack: tuple[PostgresServer, LiveStack],
) -> None:
    """A web process restarted mid-outage (its own crash, a deploy) used to exit
    on the migration check at start. Now it starts; a sale not yet in its
    catalog gets 503 unavailable (the page tries again), never a 500; once
    PostgreSQL is back, the fan joins."""
    postgres, stack = outage_stack
    event_id = open_sale(stack, ticket_types=[ticket_type(stock=5)])
    crowd = Crowd(stack)
    try:
        postgres.stop()
        try:
            stack.stack.restart("web")
            # It exited here before; wait_until_answered fails at once if it exits.
            wait_until_answered(f"{stack.base_url}/healthz", stack.stack.processes)
            fan = crowd.fan(event_id)
            refused = await fan.request("POST", fan.path("/join"))
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "unavailable", refused.text
            assert refused.headers["retry-after"] == "1"
        finally:
            postgres.start()
        joined = await fan.join()
        assert joined["number"] >= 1, joined
    finally:
        await crowd.close()
