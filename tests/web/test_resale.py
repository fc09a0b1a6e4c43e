"""Resale at face value on a live stack paying through Stripe's API (localstripe):
web/resale.py, purchase/resale.py, the worker's confirm and the door.

A fan buys by card, puts a ticket back from their session, the sold-out sale
draws it in a resale round (nobody is left in line), the fan who came in it
pays by card: the old code is refused at the
door, the new one let in, and the seller's refund of what they paid for that
ticket is at localstripe once, however often the buyer's payment is confirmed.
"""

from __future__ import annotations

from typing import Any

import httpx

from fairdrop.errors import ErrorCode
from purchase.db import make_engine
from purchase.resale import resold_count
from tests.live_stack import LiveStack
from tests.web import test_stripe_payments as stripe_stack
from tests.web.fans import (
    Crowd,
    Fan,
    Message,
    Socket,
    client,
    expect_error,
    is_message,
    open_sale,
)
from tests.web.fans import ticket_type as make_type
from tests.web.test_stripe_payments import (
    VISA,
    event_payload,
    intent_id,
    pay_with_card,
    pending_payment,
    refunds_of,
    signed_post,
    stripe_client,
    wait_for,
)
from tests.web.test_tickets import door_headers

# The whole stack paying through localstripe.
live_stack = stripe_stack.live_stack
PRICE = 2_500


async def card_buy(stack: LiveStack, fan: Fan, quantity: int) -> tuple[Message, str, Socket]:
    """The fan holds and pays by card; the worker's order, the payment intent's id and
    the fan's socket."""
    socket, _, payment = await pending_payment(fan, quantity)
    intent = intent_id(payment)
    pay_with_card(stack, intent, VISA)
    order = await socket.next(is_message("order"))
    assert order["ok"] is True, order
    return order, intent, socket


async def put_back(fan: Fan, code: str, event_id: str | None = None) -> httpx.Response:
    path = f"/api/events/{event_id}/resale" if event_id else fan.path("/resale")
    return await fan.request("POST", path, json={"code": code})


async def resale_of(fan: Fan, code: str) -> dict[str, Any]:
    answer = await fan.request("GET", fan.path(f"/resale/{code}"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "private, no-store"
    body: dict[str, Any] = answer.json()
    return body


async def door(stack: LiveStack, event_id: str, code: str) -> dict[str, Any]:
    async with client(stack, door_headers(stack, event_id, "north")) as http:
        answer = await http.post("/api/door/check-in", json={"code": code})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_a_ticket_put_back_goes_to_the_next_fan_and_the_seller_is_refunded_once(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(
        live_stack, ticket_types=[make_type(price_cents=PRICE, stock=2, per_person_limit=2)]
    )
    seller, stranger, buyer = crowd.fan(event_id), crowd.fan(event_id), crowd.fan(event_id)
    sold, seller_intent, _ = await card_buy(live_stack, seller, 2)
    old_code, kept_code = (t["code"] for t in sold["tickets"])
    await stranger.join()

    # Knowing a code is not owning it: nothing changes.
    expect_error(await put_back(stranger, old_code), ErrorCode.NOT_YOUR_TICKET)
    expect_error(await put_back(Fan(live_stack, event_id), old_code), ErrorCode.NO_FAN_ID)
    assert await resale_of(stranger, old_code) == {"yours": False, "listing": None}
    assert (await resale_of(seller, old_code))["yours"] is True

    listed = await put_back(seller, old_code)
    assert listed.status_code == 201, listed.text
    listing = listed.json()
    assert (listing["status"], listing["price_cents"], listing["refund_ref"]) == (
        "listed",
        PRICE,
        None,
    )
    expect_error(await put_back(seller, old_code), ErrorCode.TICKET_LISTED)
    # Its seat is on sale again: the door refuses it meanwhile, the ticket page says so.
    at_door = await door(live_stack, event_id, old_code)
    assert (at_door["result"], at_door["listed"], at_door["valid"]) == ("void", True, True)
    # An order with a ticket put back is not refunded whole (its seat would come back twice).
    cancel = httpx.post(
        f"{live_stack.base_url}/api/events/{event_id}/orders/{sold['order_id']}/cancel",
        headers=live_stack.organiser_headers,
        timeout=10,
    )
    expect_error(cancel, ErrorCode.ORDER_HAS_RESALE)

    # A fan who comes in the resale round the seat opens gets it and pays.
    bought, buyer_intent, buyer_socket = await card_buy(live_stack, buyer, 1)
    [new_code] = [t["code"] for t in bought["tickets"]]
    assert new_code not in (old_code, kept_code)

    settled = await wait_for(lambda: refunds_of(live_stack, seller_intent))
    assert [(r.amount, r.status) for r in settled] == [(PRICE, "succeeded")]
    resold = (await resale_of(seller, old_code))["listing"]
    assert resold["status"] == "resold" and resold["refund_ref"] == settled[0].id
    assert resold_count_of(live_stack, event_id) == 1

    # The old code is void at the door; the new one lets its holder in; the kept one too.
    assert (await door(live_stack, event_id, old_code))["voided"] is True
    assert (await door(live_stack, event_id, old_code))["result"] == "void"
    assert (await door(live_stack, event_id, new_code))["result"] == "valid"
    assert (await door(live_stack, event_id, kept_code))["result"] == "valid"

    # Stripe telling the buyer's payment again (a retried confirm) refunds nobody twice.
    intent = stripe_client(live_stack).v1.payment_intents.retrieve(buyer_intent)
    again = signed_post(live_stack, event_payload("payment_intent.succeeded", intent))
    assert again.status_code == 200, again.text
    # The worker ran the whole confirm again: the buyer's page hears the order once more.
    assert (await buyer_socket.next(is_message("order")))["order_id"] == bought["order_id"]
    assert len(refunds_of(live_stack, seller_intent)) == 1
    assert refunds_of(live_stack, buyer_intent) == []


async def test_a_used_a_refunded_or_another_sale_s_ticket_is_not_put_back(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, ticket_types=[make_type(price_cents=PRICE)])
    other_sale = open_sale(live_stack)
    fan = crowd.fan(event_id)
    order, _, _ = await card_buy(live_stack, fan, 2)
    used, other = (t["code"] for t in order["tickets"])
    assert (await door(live_stack, event_id, used))["result"] == "valid"

    expect_error(await put_back(fan, used), ErrorCode.TICKET_CHECKED_IN)
    expect_error(await put_back(fan, other, other_sale), ErrorCode.TICKET_OF_ANOTHER_EVENT)
    expect_error(await put_back(fan, "A" * 22), ErrorCode.UNKNOWN_TICKET)
    expect_error(await put_back(fan, "not a code"), ErrorCode.INVALID_FIELD)
    cancel = httpx.post(
        f"{live_stack.base_url}/api/events/{event_id}/orders/{order['order_id']}/cancel",
        headers=live_stack.organiser_headers,
        timeout=10,
    )
    assert cancel.status_code == 200, cancel.text
    expect_error(await put_back(fan, other), ErrorCode.TICKET_NOT_VALID)
    assert (await resale_of(fan, other))["listing"] is None


def resold_count_of(stack: LiveStack, event_id: str) -> int:
    engine = make_engine(stack.settings)
    try:
        return resold_count(engine, event_id)
    finally:
        engine.dispose()
