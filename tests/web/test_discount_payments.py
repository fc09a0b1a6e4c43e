"""A discounted hold paid through Stripe (localstripe on loopback): the PaymentIntent
is made on the server for the discounted amount, and the order records it."""

from __future__ import annotations

import stripe

from tests.live_stack import LiveStack
from tests.web import test_stripe_payments as stripe_stack
from tests.web.fans import Crowd, ga, is_message, open_sale
from tests.web.fans import ticket_type as make_type
from tests.web.test_discounts import code_body, make_code, order_of
from tests.web.test_stripe_payments import intent_id, pay_with_card, stripe_client, wait_for

# The stack takes payments through localstripe (the Stripe tests' fixture, for this module).
live_stack = stripe_stack.live_stack


async def test_stripe_is_charged_the_discounted_amount(live_stack: LiveStack, crowd: Crowd) -> None:
    event_id = open_sale(
        live_stack, ticket_types=[make_type(price_cents=2_500, currency="EUR", per_person_limit=4)]
    )
    body = code_body(code="TenOff", kind="fixed", amount=1_000, max_uses=5)
    assert (await make_code(live_stack, event_id, **body)).status_code == 201
    fan = crowd.fan(event_id)
    await fan.join()
    socket = await fan.open_socket()
    items = [{"type": ga(event_id), "quantity": 3}]
    asked = await fan.ask_for(await fan.admission_token(), items, "tenoff")
    assert asked.status_code == 202, asked.text
    held = await socket.next(is_message("hold_result"), timeout=20)
    assert held["ok"] and held["price"]["total_cents"] == 6_500, held
    hold_id = held["hold"]["id"]

    assert (await fan.pay(hold_id)).status_code == 202
    payment = await socket.next(is_message("payment"), timeout=20)
    assert payment["ok"] and payment["pending"], payment
    intent: stripe.PaymentIntent = stripe_client(live_stack).v1.payment_intents.retrieve(
        intent_id(payment)
    )
    # 3 x 25.00 less a fixed 10.00 off the order: 65.00, made on the server.
    assert (intent.amount, intent.currency) == (6_500, "eur")

    pay_with_card(live_stack, intent.id, stripe_stack.VISA)
    order = await socket.next(is_message("order"), timeout=stripe_stack.WEBHOOK_WAIT_S)
    assert order["ok"] and order["total_cents"] == 6_500, order
    row = await wait_for(lambda: order_of(live_stack, hold_id))
    assert (row.total_cents, row.discount_code, row.discount_cents) == (6_500, "tenoff", 1_000)
    charged = stripe_client(live_stack).v1.payment_intents.retrieve(intent.id)
    # localstripe's intent has no amount_received: what it charged is its amount.
    assert (charged.status, charged.amount) == ("succeeded", 6_500)
