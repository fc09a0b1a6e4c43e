"""Stripe for real, against localstripe on loopback (purchase/stripe_payments.py,
web/stripe_webhook.py, purchase/payment_events.py).

The worker creates PaymentIntents with the official ``stripe`` library;
localstripe charges test cards and sends signed ``payment_intent.*``
webhooks to the stack's endpoint, exactly as Stripe would. What localstripe
cannot do (an event delivered twice or out of order, an old replayed
delivery) is sent by the test as payloads signed with the webhook secret.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from sqlmodel import select

from fairdrop.errors import ErrorCode
from launch import localstripe_server as localstripe
from launch.localstripe_server import register_webhook, running_localstripe
from purchase.db import make_engine, open_session
from purchase.models import Order, StrayPayment, Ticket
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import (
    Crowd,
    Fan,
    Message,
    Socket,
    expect_error,
    is_message,
    open_sale,
    stats,
)
from tests.web.fans import ticket_type as make_type
from web.stripe_webhook import WEBHOOK_PATH

# localstripe sends a webhook about 1 s after the call; the worker then needs a moment.
WEBHOOK_WAIT_S = 15.0
VISA = "pm_card_visa"
DECLINED = "pm_card_chargeCustomerFail"


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    """A whole fairdrop taking payments through Stripe's API, served by localstripe."""
    workdir = Path(tmp_path_factory.mktemp("stripe-stack"))
    with running_localstripe(workdir / "localstripe.log") as base:
        secret = "whsec_" + secrets.token_hex(16)
        with running_stack(
            postgres_server,
            workdir,
            payment_provider="stripe",
            stripe_secret_key="sk_test_fairdrop",
            stripe_webhook_secret=secret,
            stripe_publishable_key="pk_test_fairdrop",
            stripe_api_base=base,
            stripe_js_url=f"{base}/js.stripe.com/v3/",
            # A seat put back after a sell-out is drawn in a resale round
            # (tests/web/test_resale.py): a second, well inside a fan's wait to be let in.
            resale_round_seconds=1.0,
        ) as stack:
            register_webhook(base, stack.base_url, secret)
            yield stack


def stripe_client(stack: LiveStack) -> stripe.StripeClient:
    return localstripe.stripe_client(stack.settings.stripe_api_base, "sk_test_fairdrop")


def pay_with_card(stack: LiveStack, intent_id: str, card: str) -> None:
    localstripe.pay_with_card(stripe_client(stack), intent_id, card)


def intent_id(payment: Message) -> str:
    return str(payment["client_secret"]).split("_secret_")[0]


async def holding(fan: Fan, quantity: int = 1) -> tuple[Socket, str]:
    """Joins with a socket open and holds; the socket and the hold id."""
    await fan.join()
    socket = await fan.open_socket()
    return socket, await fan.hold(quantity)


async def pending_payment(
    fan: Fan, quantity: int = 1, body: dict[str, Any] | None = None
) -> tuple[Socket, str, Message]:
    """Holds, asks to pay; the fan's socket, the hold id and the ``payment`` message."""
    socket, hold_id = await holding(fan, quantity)
    asked = await fan.request("POST", fan.path(f"/holds/{hold_id}/pay"), json=body or {})
    assert asked.status_code == 202, asked.text
    payment = await socket.next(is_message("payment"))
    assert payment["ok"] is True and payment["pending"] is True, payment
    return socket, hold_id, payment


def orders_for(stack: LiveStack, hold_id: str) -> list[tuple[Order, list[Ticket]]]:
    engine = make_engine(stack.settings)
    try:
        with open_session(engine) as session:
            orders = session.exec(select(Order).where(Order.hold_id == hold_id)).all()
            return [
                (o, list(session.exec(select(Ticket).where(Ticket.order_id == o.id)).all()))
                for o in orders
            ]
    finally:
        engine.dispose()


def stray_payments(stack: LiveStack, event_id: str) -> list[StrayPayment]:
    engine = make_engine(stack.settings)
    try:
        with open_session(engine) as session:
            rows = session.exec(select(StrayPayment).where(StrayPayment.event_id == event_id))
            return list(rows.all())
    finally:
        engine.dispose()


def refunds_of(stack: LiveStack, payment_intent: str) -> list[Any]:
    listed = stripe_client(stack).v1.refunds.list(params={"limit": 100})
    return [r for r in listed.data if r.payment_intent == payment_intent]


def signed_post(
    stack: LiveStack, payload: str, secret: str | None = None, at: int | None = None
) -> httpx.Response:
    header = stripe.WebhookSignature.generate_signature_header(
        payload, secret or stack.settings.stripe_webhook_secret, at
    )
    return httpx.post(
        stack.base_url + WEBHOOK_PATH,
        content=payload.encode(),
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
        timeout=10,
    )


def event_payload(event_type: str, intent: Any, event_id: str | None = None) -> str:
    """A Stripe event as Stripe would deliver it, for a real intent's current state."""
    return json.dumps(
        {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": intent.to_dict()},
        }
    )


async def wait_for(check: Any, timeout: float = WEBHOOK_WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_a_card_payment_becomes_one_paid_order_through_the_webhook(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, ticket_types=[make_type(price_cents=2_500, currency="EUR")])
    fan = crowd.fan(event_id)
    socket, hold_id, payment = await pending_payment(fan, 2, {"email": "fan@example.com"})

    # The intent was made on the server: the price of two tickets, the hold named.
    client = stripe_client(live_stack)
    intent = client.v1.payment_intents.retrieve(intent_id(payment))
    assert (intent.amount, intent.currency, intent.status) == (
        5_000,
        "eur",
        "requires_payment_method",
    )
    assert intent.metadata.to_dict() == {
        "event_id": event_id,
        "hold_id": hold_id,
        "fan_id": intent.metadata["fan_id"],
        "email": "fan@example.com",
    }
    assert payment["stripe"] == {
        "publishable_key": "pk_test_fairdrop",
        "js_url": live_stack.settings.stripe_js_url,
    }
    # Asking again (a double click, a reload) gives the same intent, not a second one.
    again = await fan.request("POST", fan.path(f"/holds/{hold_id}/pay"))
    assert again.status_code == 202, again.text
    assert (await socket.next(is_message("payment")))["client_secret"] == payment["client_secret"]
    assert stats(live_stack, event_id)["sold"] == 0

    pay_with_card(live_stack, intent.id, VISA)

    order = await socket.next(is_message("order"), timeout=WEBHOOK_WAIT_S)
    assert order["ok"] is True and order["late"] is False, order
    assert len(order["tickets"]) == 2
    [(row, tickets)] = orders_for(live_stack, hold_id)
    assert (row.payment_ref, row.payment_provider, row.total_cents, row.currency) == (
        intent.id,
        "stripe",
        5_000,
        "EUR",
    )
    assert row.email == "fan@example.com"  # travelled with the intent's metadata
    assert sorted(t.code for t in tickets) == sorted(t["code"] for t in order["tickets"])
    figures = stats(live_stack, event_id)
    assert (figures["sold"], figures["held"]) == (2, 0), figures


async def test_a_declined_card_lets_the_hold_go_at_once(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    socket, hold_id, payment = await pending_payment(crowd.fan(event_id))
    assert stats(live_stack, event_id)["held"] == 1

    with pytest.raises(stripe.CardError):
        pay_with_card(live_stack, intent_id(payment), DECLINED)

    failed = await socket.next(is_message("payment", ok=False), timeout=WEBHOOK_WAIT_S)
    assert (failed["code"], failed["released"], failed["hold_id"]) == (
        "payment_failed",
        True,
        hold_id,
    )
    figures = stats(live_stack, event_id)
    assert (figures["held"], figures["sold"], figures["remaining_total"]) == (0, 0, 10), figures
    assert orders_for(live_stack, hold_id) == []
    # The fan's socket forgets the hold too: no later status names it again.
    status = await socket.next(is_message("status"))
    assert status["hold_id"] == "", status


async def test_a_cancelled_intent_lets_the_hold_go(live_stack: LiveStack, crowd: Crowd) -> None:
    event_id = open_sale(live_stack)
    socket, hold_id, payment = await pending_payment(crowd.fan(event_id))

    stripe_client(live_stack).v1.payment_intents.cancel(intent_id(payment))

    failed = await socket.next(is_message("payment", ok=False), timeout=WEBHOOK_WAIT_S)
    assert failed["code"] == "payment_failed" and "cancelled" in failed["message"], failed
    assert failed["hold_id"] == hold_id
    assert stats(live_stack, event_id)["held"] == 0


async def test_a_payment_after_the_hold_expired_gets_tickets_still_free(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, hold_seconds=5)
    socket, hold_id, payment = await pending_payment(crowd.fan(event_id))
    assert await wait_for(lambda: stats(live_stack, event_id)["held"] == 0, timeout=10)

    pay_with_card(live_stack, intent_id(payment), VISA)

    order = await socket.next(is_message("order"), timeout=WEBHOOK_WAIT_S)
    assert order["ok"] is True and order["late"] is True, order
    assert len(orders_for(live_stack, hold_id)) == 1
    figures = stats(live_stack, event_id)
    assert (figures["sold"], figures["held"], figures["remaining_total"]) == (1, 0, 9), figures


async def test_a_late_payment_whose_tickets_are_gone_is_refunded(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, hold_seconds=5, ticket_types=[make_type(stock=1)])
    late_fan, next_fan = crowd.fan(event_id), crowd.fan(event_id)
    socket, hold_id, payment = await pending_payment(late_fan)
    await next_fan.join()
    # The hold expires and the one ticket goes to the next fan in line.
    assert await wait_for(lambda: stats(live_stack, event_id)["held"] == 0, timeout=10)
    await next_fan.hold(1)
    assert stats(live_stack, event_id)["remaining_total"] == 0

    pay_with_card(live_stack, intent_id(payment), VISA)

    refunded = await socket.next(is_message("order", ok=False), timeout=WEBHOOK_WAIT_S)
    assert (refunded["code"], refunded["reason"]) == ("refunded", "no_stock"), refunded
    [refund] = refunds_of(live_stack, intent_id(payment))
    assert (refund.id, refund.amount) == (refunded["refund_ref"], 4_000)
    [stray] = stray_payments(live_stack, event_id)
    assert (stray.payment_ref, stray.refund_ref, stray.reason) == (
        intent_id(payment),
        refund.id,
        "no_stock",
    )
    assert orders_for(live_stack, hold_id) == []
    figures = stats(live_stack, event_id)
    assert (figures["sold"], figures["held"], figures["remaining_total"]) == (0, 1, 0), figures


async def test_duplicate_and_out_of_order_events_change_nothing_twice(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    socket, hold_id, payment = await pending_payment(crowd.fan(event_id))
    pay_with_card(live_stack, intent_id(payment), VISA)
    await socket.next(is_message("order", ok=True), timeout=WEBHOOK_WAIT_S)
    intent = stripe_client(live_stack).v1.payment_intents.retrieve(intent_id(payment))
    before = stats(live_stack, event_id)

    succeeded = event_payload("payment_intent.succeeded", intent, "evt_dup_" + hold_id)
    first = signed_post(live_stack, succeeded)
    again = signed_post(live_stack, succeeded)
    # A failure reported after the success (Stripe does not promise the order).
    late_failure = signed_post(live_stack, event_payload("payment_intent.payment_failed", intent))

    assert first.json() == {"received": True, "duplicate": False}, first.text
    assert again.json() == {"received": True, "duplicate": True}, again.text
    assert late_failure.status_code == 200, late_failure.text
    # The first delivery re-sends the same order; nothing is sold, released or written twice.
    resent = await socket.next(is_message("order"), timeout=WEBHOOK_WAIT_S)
    assert resent["ok"] is True and resent["order_id"] == orders_for(live_stack, hold_id)[0][0].id
    await asyncio.sleep(1.0)  # the failure's job has run by now
    assert len(orders_for(live_stack, hold_id)) == 1
    assert stats(live_stack, event_id) == before
    assert refunds_of(live_stack, intent.id) == []


async def test_a_payment_for_the_wrong_amount_is_refunded_and_buys_nothing(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    # Only someone holding the secret key can make such an intent.
    event_id = open_sale(live_stack)
    socket, hold_id, _ = await pending_payment(crowd.fan(event_id))
    odd = stripe_client(live_stack).v1.payment_intents.create(
        params={
            "amount": 1,
            "currency": "eur",
            "metadata": {"event_id": event_id, "hold_id": hold_id, "fan_id": "x"},
        }
    )
    pay_with_card(live_stack, odd.id, VISA)

    refunded = await socket.next(is_message("order", ok=False), timeout=WEBHOOK_WAIT_S)
    assert (refunded["code"], refunded["reason"]) == ("refunded", "amount_mismatch"), refunded
    assert [r.amount for r in refunds_of(live_stack, odd.id)] == [1]
    figures = stats(live_stack, event_id)
    assert (figures["sold"], figures["held"]) == (0, 0), figures


def test_unsigned_forged_replayed_and_malformed_webhooks_are_refused(
    live_stack: LiveStack,
) -> None:
    intent = stripe_client(live_stack).v1.payment_intents.create(
        params={"amount": 100, "currency": "eur", "metadata": {"event_id": "x", "hold_id": "y"}}
    )
    payload = event_payload("payment_intent.succeeded", intent)
    unsigned = httpx.post(live_stack.base_url + WEBHOOK_PATH, content=payload, timeout=10)
    expect_error(unsigned, ErrorCode.BAD_SIGNATURE)
    forged = signed_post(live_stack, payload, secret="whsec_not_the_secret")
    expect_error(forged, ErrorCode.BAD_SIGNATURE)
    # A real delivery captured and sent again ten minutes later.
    replayed = signed_post(live_stack, payload, at=int(time.time()) - 600)
    expect_error(replayed, ErrorCode.BAD_SIGNATURE)
    tampered = httpx.post(
        live_stack.base_url + WEBHOOK_PATH,
        content=payload.replace('"amount": 100', '"amount": 1'),
        headers={
            "Stripe-Signature": stripe.WebhookSignature.generate_signature_header(
                payload, live_stack.settings.stripe_webhook_secret
            )
        },
        timeout=10,
    )
    expect_error(tampered, ErrorCode.BAD_SIGNATURE)
    expect_error(signed_post(live_stack, "{not json"), ErrorCode.MALFORMED_JSON)
    expect_error(signed_post(live_stack, "[1, 2]"), ErrorCode.MALFORMED_JSON)
    huge = httpx.post(live_stack.base_url + WEBHOOK_PATH, content=b"x" * (300 * 1024), timeout=10)
    expect_error(huge, ErrorCode.BODY_TOO_LARGE)
    # Signed and well formed, but not ours: taken and ignored.
    other = signed_post(live_stack, event_payload("charge.refunded", intent))
    assert other.status_code == 200 and "ignored" in other.json(), other.text


async def test_the_client_cannot_set_the_amount_or_currency(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    fan = crowd.fan(event_id)
    socket, hold_id = await holding(fan)
    for body in ({"amount": 1}, {"currency": "usd", "email": "a@example.com"}):
        answer = await fan.request("POST", fan.path(f"/holds/{hold_id}/pay"), json=body)
        error = expect_error(answer, ErrorCode.INVALID_FIELD)
        assert "price" in error["message"], error
    # Nothing started: no payment message, no intent attached, the hold still live.
    with pytest.raises(AssertionError):
        await socket.next(is_message("payment"), timeout=1.0)
    assert stats(live_stack, event_id)["held"] == 1


async def test_an_organiser_cancel_refunds_the_stripe_payment_once(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    socket, hold_id, payment = await pending_payment(crowd.fan(event_id), 2)
    pay_with_card(live_stack, intent_id(payment), VISA)
    order = await socket.next(is_message("order", ok=True), timeout=WEBHOOK_WAIT_S)
    cancel = f"{live_stack.base_url}/api/events/{event_id}/orders/{order['order_id']}/cancel"

    first = httpx.post(cancel, headers=live_stack.organiser_headers, timeout=10)
    again = httpx.post(cancel, headers=live_stack.organiser_headers, timeout=10)

    assert first.status_code == 200, first.text
    expect_error(again, ErrorCode.ORDER_NOT_PAID)
    [refund] = refunds_of(live_stack, intent_id(payment))
    assert (refund.id, refund.amount, refund.status) == (
        first.json()["refund_ref"],
        8_000,
        "succeeded",
    )
    told = await socket.next(is_message("order_refunded"))
    assert told["order_id"] == order["order_id"]
    assert stats(live_stack, event_id)["sold"] == 0
    assert [row.status for row, _ in orders_for(live_stack, hold_id)] == ["refunded"]


def test_no_stripe_secret_reaches_a_log(live_stack: LiveStack) -> None:
    # Runs after the payments above: web, worker and clock have logged their work.
    logs = sorted((live_stack.settings.data_dir / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"web", "clock", "worker-0"}
    # The fan's email (first test) is personal data: it travels in the intent, not the logs.
    secrets_ = (
        live_stack.settings.stripe_secret_key,
        live_stack.settings.stripe_webhook_secret,
        "fan@example.com",
    )
    for path in logs:
        text = path.read_text(errors="replace")
        assert not any(secret in text for secret in secrets_), path
