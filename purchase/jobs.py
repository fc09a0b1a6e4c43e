"""The RQ jobs of the purchase worker: hold (in batches), pay, confirm, release, email.

Each job is safe to run twice: the Lua scripts remember request ids and hold
states, and the order table is unique per hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import redis
from rq import Queue, Retry
from sqlalchemy import Engine

from fairdrop.connections import sync_redis
from fairdrop.settings import Settings
from purchase.db import make_engine
from purchase.emails import send_order_confirmation
from purchase.holds import HoldAsk, confirm_hold, hold_many, read_hold, release_hold
from purchase.orders import price_hold, record_paid_order, tickets_for_order
from purchase.payments import PaymentProvider, PaymentRequest, provider_named
from queue_engine.notify import publish_to_fan
from queue_engine.scripts import SyncScripts


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    client: redis.Redis
    scripts: SyncScripts
    engine: Engine
    payments: PaymentProvider
    queue: Queue


@cache
def worker_context() -> WorkerContext:
    """Built once per worker process (RQ's SimpleWorker runs jobs in-process)."""
    settings = Settings.from_env()
    client = sync_redis(settings)
    return WorkerContext(
        settings=settings,
        client=client,
        scripts=SyncScripts(client),
        engine=make_engine(settings),
        payments=provider_named(settings.payment_provider),
        queue=Queue(settings.rq_queue, connection=client),
    )


# An SMTP server that is down or refuses for a while: about 8 minutes of tries.
EMAIL_RETRY = Retry(max=5, interval=[2, 10, 30, 120, 300])


def hold_batch_job(event_id: str, requests: list[list[Any]]) -> list[dict[str, Any]]:
    """A web process's batch of hold requests: one pipeline of hold.lua, one of results.

    ``requests`` is ``[[fan id, request id, [[type, quantity], ...]], ...]``
    (see web/hold_batches.py). A retry repeats nothing: each request id keeps
    its first answer in Redis.
    """
    ctx = worker_context()
    asks = [
        HoldAsk(str(fan), str(request_id), [(str(t), int(q)) for t, q in items])
        for fan, request_id, items in requests
    ]
    answers = hold_many(ctx.scripts, event_id, asks)
    pipe = ctx.client.pipeline(transaction=False)
    for ask, answer in zip(asks, answers, strict=True):
        publish_to_fan(pipe, event_id, ask.fan_id, {"t": "hold_result", **answer.body})
    pipe.execute()
    return [answer.body for answer in answers]


def pay_job(event_id: str, fan_id: str, hold_id: str, email: str | None = None) -> dict[str, Any]:
    """Starts the payment for a live hold; the local provider confirms at once.

    ``email`` (checked by web/fans.py) is where the order confirmation goes.
    """
    ctx = worker_context()
    hold = read_hold(ctx.scripts, event_id, hold_id)
    if hold is None or hold.fan_id != fan_id:
        result: dict[str, Any] = {"ok": False, "code": "unknown_hold", "message": "no such hold"}
        publish_to_fan(ctx.client, event_id, fan_id, {"t": "payment", **result})
        return result
    amount, currency, _ = price_hold(ctx.engine, event_id, hold)
    start = ctx.payments.start_payment(PaymentRequest(event_id, hold_id, fan_id, amount, currency))
    if not start.confirmed:
        result = {
            "ok": True,
            "pending": True,
            "client_secret": start.client_secret,
            "hold_id": hold_id,
        }
        publish_to_fan(ctx.client, event_id, fan_id, {"t": "payment", **result})
        return result
    return confirm_job(event_id, hold_id, start.reference, email)


def confirm_job(
    event_id: str, hold_id: str, payment_ref: str, email: str | None = None
) -> dict[str, Any]:
    """A payment went through: sell the held tickets and write the order once."""
    ctx = worker_context()
    answer = confirm_hold(ctx.scripts, event_id, hold_id, payment_ref)
    if not answer.ok or answer.hold is None:
        # Issue: refund late payments through the provider (Stripe issue).
        body = {"t": "order", **answer.body, "hold_id": hold_id}
        hold = read_hold(ctx.scripts, event_id, hold_id)
        if hold is not None:
            publish_to_fan(ctx.client, event_id, hold.fan_id, body)
        return answer.body
    # Written after the Lua confirm: if the database is down the job fails,
    # RQ retries it, and the confirm answers "already" the second time.
    order = record_paid_order(
        ctx.engine, event_id, answer.hold, payment_ref, ctx.payments.name, email
    )
    tickets = tickets_for_order(ctx.engine, order.id)
    result = {
        "ok": True,
        "order_id": order.id,
        "hold_id": hold_id,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "tickets": [{"type": t.ticket_type_id, "code": t.code} for t in tickets],
    }
    publish_to_fan(ctx.client, event_id, answer.hold.fan_id, {"t": "order", **result})
    # The order's own email (a retried confirm finds the first one's). No
    # fixed job id: RQ would overwrite a job still waiting for its retry. The
    # email job's marker sends it once however often it is enqueued.
    if ctx.settings.emails_enabled and order.email:
        ctx.queue.enqueue("purchase.jobs.send_order_email", order.id, retry=EMAIL_RETRY)
    return result


def send_order_email(order_id: str) -> str:
    """The order's confirmation over SMTP; raises while the server fails, so RQ retries."""
    ctx = worker_context()
    return send_order_confirmation(ctx.settings, ctx.client, ctx.engine, order_id).value


def release_job(event_id: str, fan_id: str, hold_id: str) -> dict[str, Any]:
    """The fan lets a hold go: its tickets go to the next fans in line at once."""
    ctx = worker_context()
    answer = release_hold(ctx.scripts, event_id, hold_id, fan_id)
    publish_to_fan(
        ctx.client, event_id, fan_id, {"t": "released", **answer.body, "hold_id": hold_id}
    )
    return answer.body
