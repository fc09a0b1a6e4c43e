"""Order confirmation emails end to end: a fan pays with an email address, the
worker writes the order and an RQ job sends the confirmation to a real SMTP
server on loopback (aiosmtpd), which the tests read.

The stack here is this module's own, with SMTP settings; other modules' stacks
send no email.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import Engine
from sqlmodel import select

from fairdrop.errors import ErrorCode
from purchase.db import make_engine, open_session
from purchase.emails import EmailOutcome
from purchase.models import Order
from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.smtp_server import Delivered, SmtpServer
from tests.web.fans import Crowd, Fan, Message, expect_error, is_message, open_sale, stats

SENDER = "tickets@fairdrop.test"
WAIT_S = 10.0
# The email job's first retry comes 2 s after a failure; the scheduler looks every second.
RETRY_WAIT_S = 20.0


# This module's own stack, with SMTP settings; tests/web/conftest.py's crowd
# fixture makes its fans here.
@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer
) -> Iterator[LiveStack]:
    with running_stack(
        postgres_server,
        tmp_path_factory.mktemp("mail-stack"),
        **smtp.stack_settings(SENDER),
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def engine(live_stack: LiveStack) -> Iterator[Engine]:
    engine = make_engine(live_stack.settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def queue(live_stack: LiveStack) -> Iterator[Queue]:
    with redis.Redis.from_url(live_stack.settings.redis_url or "") as client:
        yield Queue(live_stack.settings.rq_queue, connection=client)


async def mail_to(smtp: SmtpServer, address: str, timeout: float = WAIT_S) -> Delivered:
    """The one message to ``address`` (waited for in a thread, not on the event loop)."""
    delivered = await asyncio.to_thread(smtp.mailbox.wait_for, address, 1, timeout)
    assert len(delivered) == 1, [d.message["Subject"] for d in delivered]
    return delivered[0]


async def held(crowd: Crowd, event_id: str, quantity: int = 1) -> tuple[Fan, str, Any]:
    """A fan of ``event_id`` with a live hold and an open socket."""
    fan = crowd.fan(event_id)
    await fan.join()
    socket = await fan.open_socket()
    return fan, await fan.hold(quantity), socket


async def pay(fan: Fan, hold_id: str, **kwargs: Any) -> Any:
    return await fan.request("POST", fan.path(f"/holds/{hold_id}/pay"), **kwargs)


async def paid(crowd: Crowd, event_id: str, email: str, quantity: int = 1) -> Message:
    """A fan holds, pays with ``email`` and hears the order: the order message."""
    fan, hold_id, socket = await held(crowd, event_id, quantity)
    response = await pay(fan, hold_id, json={"email": email})
    assert response.status_code == 202, response.text
    order: Message = await socket.next(is_message("order", hold_id=hold_id))
    assert order["ok"] is True, order
    return order


def order_for_hold(engine: Engine, hold_id: str) -> Order | None:
    with open_session(engine) as session:
        return session.exec(select(Order).where(Order.hold_id == hold_id)).first()


async def test_a_fan_who_pays_with_an_email_gets_a_link_to_each_ticket(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer, engine: Engine
) -> None:
    event_id = open_sale(live_stack, name="Night one")
    order = await paid(crowd, event_id, "first.fan@example.test", quantity=2)

    delivered = await mail_to(smtp, "first.fan@example.test")
    message = delivered.message
    assert delivered.mail_from == SENDER
    assert message["From"] == SENDER
    assert message["Subject"] == "Your tickets for Night one"
    text = message.get_body(("plain",))
    assert text is not None
    content = text.get_content()
    assert order["order_id"] in content
    assert "80.00 EUR" in content
    codes = [ticket["code"] for ticket in order["tickets"]]
    assert len(codes) == 2
    for code in codes:
        # FAIRDROP_PUBLIC_URL is unset: links go to where the web process listens.
        assert f"{live_stack.base_url}/tickets/{code}" in content
    stored = order_for_hold(engine, order["hold_id"])
    assert stored is not None and stored.email == "first.fan@example.test"


async def test_paying_again_or_retried_jobs_send_one_email(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer, queue: Queue
) -> None:
    event_id = open_sale(live_stack)
    fan, hold_id, socket = await held(crowd, event_id)
    first = await pay(fan, hold_id, json={"email": "once@example.test"})
    assert first.status_code == 202, first.text
    order = await socket.next(is_message("order", hold_id=hold_id))
    await mail_to(smtp, "once@example.test")

    # The hold is confirmed: a second click is refused...
    again = await pay(fan, hold_id, json={"email": "once@example.test"})
    expect_error(again, ErrorCode.HOLD_EXPIRED)
    # ...and a retried pay job (with another address) and repeated email jobs send nothing.
    fan_id = hold_state(queue, event_id, hold_id)["fan"]
    jobs = [
        queue.enqueue("purchase.jobs.pay_job", event_id, fan_id, hold_id, "again@example.test"),
        queue.enqueue("purchase.jobs.send_order_email", order["order_id"]),
        queue.enqueue("purchase.jobs.send_order_email", order["order_id"]),
    ]
    results = [await asyncio.to_thread(finished, job) for job in jobs]

    assert results[0]["order_id"] == order["order_id"]
    assert results[1:] == [EmailOutcome.ALREADY_SENT.value] * 2
    # The email job the retried pay job enqueued has run too.
    await asyncio.to_thread(worker_idle, queue)
    assert len(smtp.mailbox.to("once@example.test")) == 1
    assert smtp.mailbox.to("again@example.test") == []


async def test_an_smtp_server_down_at_first_gets_the_email_on_a_retry(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer, queue: Queue
) -> None:
    event_id = open_sale(live_stack)
    smtp.stop()
    try:
        order = await paid(crowd, event_id, "patient@example.test")
        # The first try failed (connection refused): RQ has scheduled the retry.
        job = await asyncio.to_thread(scheduled_email_job, queue, order["order_id"])
        assert job.retries_left is not None and job.retries_left < 5
    finally:
        smtp.start()
    delivered = await mail_to(smtp, "patient@example.test", timeout=RETRY_WAIT_S)
    assert order["tickets"][0]["code"] in str(delivered.message.get_body(("plain",)))
    await asyncio.to_thread(worker_idle, queue)
    assert len(smtp.mailbox.to("patient@example.test")) == 1


async def test_paying_without_an_email_still_works_and_keeps_no_address(
    live_stack: LiveStack, crowd: Crowd, engine: Engine
) -> None:
    event_id = open_sale(live_stack)
    for body in ({}, {"content": b""}, {"json": {"email": None}}):
        fan, hold_id, socket = await held(crowd, event_id)
        response = await pay(fan, hold_id, **body)
        assert response.status_code == 202, (body, response.text)
        order = await socket.next(is_message("order", hold_id=hold_id))
        assert order["ok"] is True, order
        stored = order_for_hold(engine, hold_id)
        assert stored is not None and stored.email is None


# Each is refused with the field named, before anything is queued.
BAD_EMAILS: dict[str, Any] = {
    "empty": "",
    "too long": "a" * 242 + "@example.test",  # 255 characters
    "no @": "fan.example.test",
    "two @": "fan@home@example.test",
    "CRLF header injection": "fan@example.test\r\nBcc: thief@example.test",
    "LF header injection": "fan@example.test\nBcc: thief@example.test",
    "CR alone": "fan@example.test\rBcc: thief@example.test",
    "unicode line separator": "fan@example.test\u2028Bcc: thief@example.test",
    "NUL": "fan@example.test\x00",
    "tab": "fan@exam\tple.test",
    "space": "fan @example.test",
    "display name": "Fan <fan@example.test>",
    "two recipients": "fan@example.test, thief@example.test",
    "not ASCII": "fän@example.test",
    "no dot in the domain": "fan@localhost",
    "a number": 42,
    "a list": ["fan@example.test"],
    "an object": {"address": "fan@example.test"},
    "true": True,
}
BAD_BODIES: dict[str, tuple[dict[str, Any], ErrorCode]] = {
    "not JSON": (
        {"content": b"{email", "headers": {"content-type": "application/json"}},
        ErrorCode.MALFORMED_JSON,
    ),
    "a JSON list": ({"json": ["fan@example.test"]}, ErrorCode.INVALID_FIELD),
    "too large": (
        {"json": {"email": "fan@example.test", "pad": "x" * 20_000}},
        ErrorCode.BODY_TOO_LARGE,
    ),
}


async def test_bad_emails_are_refused_and_change_nothing(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer, engine: Engine, queue: Queue
) -> None:
    event_id = open_sale(live_stack)
    fan, hold_id, socket = await held(crowd, event_id)
    before = stats(live_stack, event_id)
    cases = [
        (name, {"json": {"email": value}}, ErrorCode.INVALID_FIELD)
        for name, value in BAD_EMAILS.items()
    ]
    cases += [(name, body, code) for name, (body, code) in BAD_BODIES.items()]
    for name, body, code in cases:
        error = expect_error(await pay(fan, hold_id, **body), code)
        if code == ErrorCode.INVALID_FIELD and name in BAD_EMAILS:
            assert "email" in error["message"], (name, error)
        # Nothing queued, nothing sold, no order; the hold is still the fan's to pay.
        assert not Job.exists(f"pay-{hold_id}", connection=queue.connection), name
        assert order_for_hold(engine, hold_id) is None, name
        assert hold_state(queue, event_id, hold_id)["status"] == "held", name
        assert stats(live_stack, event_id) == before, name

    # The same hold, paid with a good address, sells and mails once.
    good = await pay(fan, hold_id, json={"email": "careful+fan@example.test"})
    assert good.status_code == 202, good.text
    order = await socket.next(is_message("order", hold_id=hold_id))
    assert order["ok"] is True, order
    await mail_to(smtp, "careful+fan@example.test")
    assert not [d for d in smtp.mailbox.delivered if "thief@example.test" in d.rcpt_tos]


def hold_state(queue: Queue, event_id: str, hold_id: str) -> dict[str, Any]:
    raw = queue.connection.hget(EventKeys(event_id).holds, hold_id)
    assert raw, f"no hold {hold_id}"
    state: dict[str, Any] = json.loads(raw)
    return state


def finished(job: Job, timeout: float = WAIT_S) -> Any:
    """Waits for an RQ job to finish; its return value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.get_status(refresh=True)
        if status == JobStatus.FINISHED:
            return job.return_value()
        assert status != JobStatus.FAILED, job.latest_result()
        time.sleep(0.05)
    raise AssertionError(f"job {job.id} not finished in {timeout}s: {job.get_status()}")


def worker_idle(queue: Queue, timeout: float = WAIT_S) -> None:
    """Nothing queued, running or waiting for a retry."""
    registries = (queue.started_job_registry, queue.scheduled_job_registry)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue.count == 0 and all(r.count == 0 for r in registries):
            return
        time.sleep(0.05)
    raise AssertionError(f"worker still busy after {timeout}s")


def scheduled_email_job(queue: Queue, order_id: str, timeout: float = WAIT_S) -> Job:
    """The order's email job once it has failed and waits for its retry."""
    registry = queue.scheduled_job_registry
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job_id in registry.get_job_ids():
            job = queue.fetch_job(job_id)
            if job is not None and job.args == (order_id,):
                return job
        time.sleep(0.05)
    raise AssertionError(f"no email job for order {order_id} waiting to retry in {timeout}s")
