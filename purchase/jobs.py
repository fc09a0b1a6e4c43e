"""The RQ jobs of the purchase worker: hold (in batches), pay, confirm, release, email.

Each job is safe to run twice: the Lua scripts remember request ids and hold
states, and the order table is unique per hold. So a job of a worker that
died is simply run again (purchase/reaper.py requeues it within seconds).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

from rq import Queue, Retry
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from fairdrop.connections import SaleRedis, rq_redis, sync_redis
from fairdrop.errors import ErrorCode
from fairdrop.metrics import count_hold_answers, count_payment
from fairdrop.protocol import MessageType
from fairdrop.settings import Settings
from purchase.db import make_engine
from purchase.db_changes_stream import stream_resales
from purchase.emails import SignInMail, send_order_confirmation, send_sign_in
from purchase.faults import PAUSE_AFTER_CONFIRM, PAUSE_IN_HOLD_BATCH, fault_point
from purchase.holds import (
    Hold,
    HoldAsk,
    ScriptAnswer,
    attach_payment,
    confirm_hold,
    hold_many,
    read_hold,
    release_hold,
)
from purchase.orders import (
    PricingError,
    price_hold,
    record_paid_order,
    return_sold_tickets,
    tickets_for_order,
)
from purchase.payments import PaymentProvider, PaymentRequest, PaymentStart
from purchase.providers import provider_named
from purchase.resale import settle_resales
from purchase.stray_payments import Stray, refund_stray_payment
from queue_engine.notify import publish_to_fan, publish_to_fans
from queue_engine.scripts import SyncScripts

log = logging.getLogger("fairdrop.jobs")


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    client: SaleRedis
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
        scripts=SyncScripts(client, settings.lifecycle_stream_maxlen),
        engine=make_engine(settings),
        payments=provider_named(settings.payment_provider, settings),
        queue=Queue(settings.rq_queue, connection=rq_redis(settings)),
    )


# An SMTP server that is down or refuses for a while: about 8 minutes of tries.
EMAIL_RETRY = Retry(max=5, interval=[2, 10, 30, 120, 300])


def hold_batch_job(event_id: str, requests: list[list[Any]]) -> dict[str, int]:
    """A web process's batch of hold requests: one pipeline of hold.lua, one message of answers.

    ``requests`` is ``[[fan id, request id, [[type, quantity], ...]], ...]``
    (see web/hold_batches.py). A retry repeats nothing: each request id keeps
    its first answer in Redis. Returns how many requests were held and how
    many refused, by code: RQ keeps a job's return value, and the answers
    themselves are in Redis already (hold.lua stores each under its request id).
    """
    ctx = worker_context()
    # A request's optional fourth element is its discount code (web/hold_batches.py).
    asks = [
        HoldAsk(str(fan), str(request_id), [(str(t), int(q)) for t, q in items], *map(str, code))
        for fan, request_id, items, *code in requests
    ]
    answers = hold_many(ctx.scripts, event_id, asks)
    # A worker dying here has held and told nobody: purchase/reaper.py requeues
    # the job, hold.lua hands back each request's stored answer, and the fans
    # hear it then.
    fault_point(PAUSE_IN_HOLD_BATCH)
    publish_to_fans(
        ctx.client,
        event_id,
        (
            (
                ask.fan_id,
                {"t": MessageType.HOLD_RESULT, **answer.body, **_price(ctx, event_id, answer)},
            )
            for ask, answer in zip(asks, answers, strict=True)
        ),
    )
    # Counted once told: a batch requeued after its worker died above is counted once.
    count_hold_answers(None if answer.ok else answer.code for answer in answers)
    return dict(Counter("held" if answer.ok else answer.code for answer in answers))


def _price(ctx: WorkerContext, event_id: str, answer: ScriptAnswer) -> dict[str, Any]:
    """A discounted hold's price as the server computes it, for the fan's page to show.

    Only holds with a code: the page works out an undiscounted total from the
    prices it shows. The prices are cached per worker (purchase/orders.py).
    """
    hold = answer.hold
    if not answer.ok or hold is None or hold.discount is None:
        return {}
    try:
        total, currency, prices = price_hold(ctx.engine, event_id, hold)
    except (PricingError, SQLAlchemyError):
        # The hold stands without a figure: pay_job prices it again for the charge.
        log.warning("no price for discounted hold %s yet", hold.id, exc_info=True)
        return {}
    subtotal = sum(prices[t] * q for t, q in hold.items)
    return {
        "price": {
            "total_cents": total,
            "discount_cents": subtotal - total,
            "currency": currency,
            "discount_code": hold.discount.code,
        }
    }


def pay_job(event_id: str, fan_id: str, hold_id: str, email: str | None = None) -> dict[str, Any]:
    """Starts the payment for a live hold; the local provider confirms at once.

    ``email`` (checked by web/fans.py) is where the order confirmation goes.
    A second call for the same hold (a double click, a retry) finds the
    payment already attached to the hold and hands the fan that one again.
    """
    ctx = worker_context()
    hold = read_hold(ctx.scripts, event_id, hold_id)
    if hold is None or hold.fan_id != fan_id:
        return _tell_payment(ctx, event_id, fan_id, ErrorCode.UNKNOWN_HOLD, "no such hold")
    if hold.payment is not None:
        start = ctx.payments.resume_payment(hold.payment)
    elif hold.status != "held":
        return _tell_payment(
            ctx, event_id, fan_id, ErrorCode.HOLD_EXPIRED, f"this hold is {hold.status}"
        )
    else:
        amount, currency, _ = price_hold(ctx.engine, event_id, hold)
        request = PaymentRequest(event_id, hold_id, fan_id, amount, currency, email)
        started = ctx.payments.start_payment(request)
        attached = started if started.confirmed else _attach(ctx, event_id, hold_id, started)
        if attached is None:
            return _tell_payment(ctx, event_id, fan_id, ErrorCode.HOLD_EXPIRED, "this hold ended")
        start = attached
    if start.confirmed:
        return confirm_job(event_id, hold_id, start.reference, email)
    count_payment("started")
    result: dict[str, Any] = {
        "ok": True,
        "pending": True,
        "hold_id": hold_id,
        "provider": ctx.payments.name,
        "client_secret": start.client_secret,
    }
    if ctx.payments.name == "stripe":
        result["stripe"] = {
            "publishable_key": ctx.settings.stripe_publishable_key,
            "js_url": ctx.settings.stripe_js_url,
        }
    publish_to_fan(ctx.client, event_id, fan_id, {"t": MessageType.PAYMENT, **result})
    return result


def _attach(
    ctx: WorkerContext, event_id: str, hold_id: str, start: PaymentStart
) -> PaymentStart | None:
    """Makes ``start`` the hold's one payment, or switches to the one attached first."""
    answer = attach_payment(ctx.scripts, event_id, hold_id, start.reference)
    if answer.ok and answer.body["payment"] == start.reference:
        return start
    # Nobody must be able to complete a payment the hold will not take.
    ctx.payments.cancel_payment(start.reference)
    if not answer.ok:
        return None
    return ctx.payments.resume_payment(str(answer.body["payment"]))


def _tell_payment(
    ctx: WorkerContext, event_id: str, fan_id: str, code: ErrorCode, message: str
) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": False, "code": code, "message": message}
    count_payment("refused")
    publish_to_fan(ctx.client, event_id, fan_id, {"t": MessageType.PAYMENT, **result})
    return result


def confirm_job(
    event_id: str, hold_id: str, payment_ref: str, email: str | None = None
) -> dict[str, Any]:
    """A payment went through: sell its tickets and write the order once, or refund it.

    Safe to run again and in any order with the other payment jobs: the
    confirm script remembers which payment bought the hold, the order is
    unique per hold, and a payment that bought nothing is refunded once.
    """
    ctx = worker_context()
    answer = confirm_hold(ctx.scripts, event_id, hold_id, payment_ref)
    if not answer.ok or answer.hold is None or answer.hold.payment != payment_ref:
        # The hold ended and its tickets are gone, or another payment bought it.
        reason = answer.code or ErrorCode.PAID_TWICE
        why = answer.message or "another payment already bought these tickets"
        return refund_unplaced(ctx, event_id, hold_id, payment_ref, reason, why)
    if not answer.body.get("already"):
        count_payment("succeeded")  # once per hold sold, however often the job runs
    # Written after the Lua confirm: if the database is down the job fails,
    # RQ retries it, and the confirm answers "already" the second time. If the
    # worker dies here, purchase/reaper.py requeues the job within seconds
    # and the re-run (pay_job resumes the hold's payment) writes the order.
    fault_point(PAUSE_AFTER_CONFIRM)
    try:
        order = record_paid_order(
            ctx.engine, event_id, answer.hold, payment_ref, ctx.payments.name, email
        )
    except (DataError, IntegrityError) as error:
        return undo_unrecordable_sale(ctx, event_id, answer.hold, payment_ref, error)
    # Sellers whose tickets this order took get their money back (once).
    # The seats changed hands when the order was written: on the lifecycle
    # stream before the refunds, which may wait on the provider (the clock's
    # sweep writes them if this worker dies first).
    stream_resales(ctx.engine, ctx.scripts, order.id)
    settle_resales(ctx.engine, ctx.settings, order.id)
    tickets = tickets_for_order(ctx.engine, order.id)
    result = {
        "ok": True,
        "order_id": order.id,
        "hold_id": hold_id,
        "total_cents": order.total_cents,
        "currency": order.currency,
        "late": bool(answer.body.get("late")),
        "tickets": [{"type": t.ticket_type_id, "code": t.code} for t in tickets],
    }
    publish_to_fan(ctx.client, event_id, answer.hold.fan_id, {"t": MessageType.ORDER, **result})
    # The order's own email (a retried confirm finds the first one's). No
    # fixed job id: RQ would overwrite a job still waiting for its retry. The
    # email job's marker sends it once however often it is enqueued.
    if ctx.settings.emails_enabled and order.email:
        ctx.queue.enqueue("purchase.jobs.send_order_email", order.id, retry=EMAIL_RETRY)
    return result


def refund_unplaced(
    ctx: WorkerContext, event_id: str, hold_id: str, payment_ref: str, reason: str, why: str
) -> dict[str, Any]:
    """A payment bought nothing: the money goes back, once, and the fan is told why."""
    hold = read_hold(ctx.scripts, event_id, hold_id)
    fan_id = hold.fan_id if hold is not None else ""
    refund_ref = refund_stray_payment(
        ctx.engine, ctx.payments, Stray(event_id, hold_id, fan_id, payment_ref, reason)
    )
    result: dict[str, Any] = {
        "ok": False,
        "code": ErrorCode.REFUNDED,
        "reason": reason,
        "hold_id": hold_id,
        "refund_ref": refund_ref,
        "message": f"{why}; this payment was refunded in full",
    }
    if fan_id:
        publish_to_fan(ctx.client, event_id, fan_id, {"t": MessageType.ORDER, **result})
    return result


def undo_unrecordable_sale(
    ctx: WorkerContext, event_id: str, hold: Hold, payment_ref: str, error: Exception
) -> dict[str, Any]:
    """A sold hold whose order the database refuses: the money goes back, then the tickets.

    A DataError (a value its column cannot hold) or an IntegrityError other
    than the hold's own order written already (which record_paid_order turns
    into that order) fails the same way on every retry, until RQ gives up with
    the money taken and no order. So the payment is refunded the way a late
    one is (refund_unplaced: a ``stray_payment`` row, one refund) and the
    tickets go back on sale (return_sold.lua, once per hold). Refund first: a
    crash in between leaves tickets out of sale, never money kept for nothing,
    and the retried job fails the write again, finds the refund recorded and
    returns the tickets.
    """
    log.error("the order of hold %s cannot be written (%s): refunding it", hold.id, error)
    result = refund_unplaced(
        ctx,
        event_id,
        hold.id,
        payment_ref,
        ErrorCode.ORDER_NOT_RECORDED,
        "the order could not be recorded",
    )
    returned = return_sold_tickets(ctx.scripts, event_id, hold.id, "")
    if not returned["ok"]:
        log.warning("hold %s refunded, but its tickets were not returned: %s", hold.id, returned)
    return result


def send_order_email(order_id: str) -> str:
    """The order's confirmation over SMTP; raises while the server fails, so RQ retries."""
    ctx = worker_context()
    return send_order_confirmation(ctx.settings, ctx.client, ctx.engine, order_id).value


def send_sign_in_email(
    address: str, challenge_id: str, link: str, code: str, expires_at: int
) -> str:
    """An email sign-in's link and code over SMTP; raises while the server fails, so RQ retries.

    Enqueued by web/email_sign_in.py with a short retry and no memory of the
    job once it is done: its arguments are a live link and code.
    """
    ctx = worker_context()
    mail = SignInMail(address, challenge_id, link, code, expires_at)
    return send_sign_in(ctx.settings, mail).value


def release_job(event_id: str, fan_id: str, hold_id: str) -> dict[str, Any]:
    """The fan lets a hold go: its tickets go to the next fans in line at once."""
    ctx = worker_context()
    answer = release_hold(ctx.scripts, event_id, hold_id, fan_id)
    publish_to_fan(
        ctx.client, event_id, fan_id, {"t": MessageType.RELEASED, **answer.body, "hold_id": hold_id}
    )
    return answer.body
