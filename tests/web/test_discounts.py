"""Discount codes on a live stack (web/discounts.py, purchase/discounts.py, hold.lua).

The organiser makes and lists codes with their uses; a fan's hold request
carries one, in any case, and the worker's answer carries the server's
price; the paid order records the code and the discount. Unknown, expired
and used-up codes are refused at once with their own codes, and nothing is
held or used; bad organiser input gets its 4xx and makes no code.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import select

from fairdrop.errors import ErrorCode
from purchase.db import make_engine, open_session
from purchase.models import Order
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, Fan, client, expect_error, ga, is_message, open_sale, stats
from tests.web.fans import ticket_type as make_type


def in_seconds(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


def code_body(**changes: Any) -> dict[str, Any]:
    return {
        "code": "Fans-25",
        "kind": "percent",
        "amount": 25,
        "max_uses": 2,
        "expires_at": in_seconds(3600),
        **changes,
    }


async def make_code(stack: LiveStack, event_id: str, **changes: Any) -> httpx.Response:
    async with client(stack, stack.organiser_headers) as http:
        return await http.post(f"/api/events/{event_id}/discounts", json=code_body(**changes))


async def codes(stack: LiveStack, event_id: str) -> dict[str, dict[str, Any]]:
    async with client(stack, stack.organiser_headers) as http:
        listed = await http.get(f"/api/events/{event_id}/discounts")
    assert listed.status_code == 200, listed.text
    return {code["code"]: code for code in listed.json()["discounts"]}


def order_of(stack: LiveStack, hold_id: str) -> Order:
    engine = make_engine(stack.settings)
    try:
        with open_session(engine) as session:
            order = session.exec(select(Order).where(Order.hold_id == hold_id)).one()
            session.expunge(order)
            return order
    finally:
        engine.dispose()


async def ask_with_code(fan: Fan, code: str, quantity: int = 1) -> httpx.Response:
    await fan.join()
    items = [{"type": ga(fan.event_id), "quantity": quantity}]
    return await fan.ask_for(await fan.admission_token(), items, code)


async def test_a_fan_pays_the_discounted_price_and_the_order_records_it(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, ticket_types=[make_type(price_cents=1_999, currency="EUR")])
    made = await make_code(live_stack, event_id)
    assert made.status_code == 201, made.text
    assert (made.json()["code"], made.json()["used"]) == ("fans-25", 0)

    fan = crowd.fan(event_id)
    await fan.join()
    socket = await fan.open_socket()
    asked = await ask_with_code(fan, "FANS-25", quantity=2)  # any case
    assert asked.status_code == 202, asked.text
    answer = await fan.answer_to(asked.json()["request_id"])
    assert answer["ok"], answer
    hold_id = answer["hold"]["id"]
    assert answer["hold"]["discount"]["code"] == "fans-25"
    assert (await codes(live_stack, event_id))["fans-25"]["used"] == 1

    paid = await fan.pay(hold_id)
    assert paid.status_code == 202, paid.text
    order = await socket.next(is_message("order"), timeout=20)
    # 2 x 19.99 = 39.98; 25% off is 9.995, rounded down to 9.99: 29.99 to pay.
    assert order["ok"] and order["total_cents"] == 2_999, order
    row = order_of(live_stack, hold_id)
    assert (row.total_cents, row.discount_code, row.discount_cents) == (2_999, "fans-25", 999)
    listed = (await codes(live_stack, event_id))["fans-25"]
    assert (listed["used"], listed["paid"], listed["max_uses"]) == (1, 1, 2)
    # The organiser's order list shows it too.
    async with client(live_stack, live_stack.organiser_headers) as http:
        orders = (await http.get(f"/api/events/{event_id}/orders")).json()["orders"]
    assert [(o["discount_code"], o["discount_cents"]) for o in orders] == [("fans-25", 999)]


async def test_the_hold_answer_on_the_socket_carries_the_server_price(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, ticket_types=[make_type(price_cents=1_000, currency="EUR")])
    assert (await make_code(live_stack, event_id, kind="fixed", amount=300)).status_code == 201
    fan = crowd.fan(event_id)
    await fan.join()
    socket = await fan.open_socket()
    asked = await ask_with_code(fan, "fans-25", quantity=2)
    assert asked.status_code == 202, asked.text
    told = await socket.next(is_message("hold_result"), timeout=20)
    assert told["ok"], told
    assert told["price"] == {
        "total_cents": 1_700,
        "discount_cents": 300,
        "currency": "EUR",
        "discount_code": "fans-25",
    }


async def test_unknown_used_up_and_expired_codes_are_refused_and_take_nothing(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    assert (await make_code(live_stack, event_id, code="once", max_uses=1)).status_code == 201
    soon = await make_code(live_stack, event_id, code="soon", expires_at=in_seconds(1.5))
    assert soon.status_code == 201, soon.text

    unknown = await ask_with_code(crowd.fan(event_id), "nope")
    expect_error(unknown, ErrorCode.UNKNOWN_DISCOUNT)
    assert unknown.status_code == 404

    first = crowd.fan(event_id)
    asked = await ask_with_code(first, "once")
    assert (await first.answer_to(asked.json()["request_id"]))["ok"]
    used_up = await ask_with_code(crowd.fan(event_id), "ONCE")
    expect_error(used_up, ErrorCode.DISCOUNT_USED_UP)
    assert used_up.status_code == 409

    await asyncio.sleep(2)  # past the code's expiry
    expired = await ask_with_code(crowd.fan(event_id), "soon")
    expect_error(expired, ErrorCode.DISCOUNT_EXPIRED)
    assert expired.status_code == 410

    # Only the one good hold holds anything; no refused code was used.
    assert stats(live_stack, event_id)["held"] == 1
    listed = await codes(live_stack, event_id)
    assert (listed["once"]["used"], listed["soon"]["used"]) == (1, 0)


async def test_a_code_for_another_type_is_refused_by_the_worker(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(
        live_stack, ticket_types=[make_type(), make_type(id="vip", name="VIP", price_cents=9_000)]
    )
    made = await make_code(live_stack, event_id, code="vip-only", ticket_type="vip")
    assert made.status_code == 201, made.text
    assert made.json()["ticket_type"] == "vip"
    fan = crowd.fan(event_id)
    asked = await ask_with_code(fan, "vip-only")
    answer = await fan.answer_to(asked.json()["request_id"])
    assert (answer["ok"], answer["code"]) == (False, "discount_not_applicable")
    assert stats(live_stack, event_id)["held"] == 0


async def test_bad_codes_from_the_organiser_are_refused(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack)
    assert (await make_code(live_stack, event_id, code="Twice")).status_code == 201
    expect_error(await make_code(live_stack, event_id, code="twice"), ErrorCode.DISCOUNT_EXISTS)
    for bad in (
        {"amount": 101},
        {"amount": 0},
        {"kind": "free"},
        {"code": "has space"},
        {"code": "x" * 41},
        {"max_uses": 0},
        {"expires_at": in_seconds(-60)},
        {"expires_at": "tomorrow"},
        {"amount": "10"},
        {"price_cents": 1},
    ):
        expect_error(await make_code(live_stack, event_id, **bad), ErrorCode.INVALID_FIELD)
    expect_error(
        await make_code(live_stack, event_id, ticket_type="nope"), ErrorCode.UNKNOWN_TICKET_TYPE
    )
    async with client(live_stack) as http:
        anonymous = await http.post(f"/api/events/{event_id}/discounts", json=code_body())
        assert anonymous.status_code == 401
        assert (await http.get(f"/api/events/{event_id}/discounts")).status_code == 401
    async with client(live_stack, live_stack.organiser_headers) as http:
        missing = await http.get("/api/events/no-such-sale/discounts")
    expect_error(missing, ErrorCode.UNKNOWN_EVENT)
    assert list(await codes(live_stack, event_id)) == ["twice"]


async def test_a_malformed_code_in_a_hold_request_is_refused(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    fan = crowd.fan(event_id)
    await fan.join()
    token = await fan.admission_token()
    for bad in ("no spaces", "x" * 41, 12):
        body = {"admission_token": token, "items": [{"type": ga(event_id), "quantity": 1}]}
        asked = await fan.request(
            "POST", fan.path("/purchases"), json={**body, "discount_code": bad}
        )
        expect_error(asked, ErrorCode.INVALID_FIELD)
    assert stats(live_stack, event_id)["held"] == 0


async def test_a_code_over_the_socket_is_refused_or_taken_there(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    assert (await make_code(live_stack, event_id, code="sock", max_uses=1)).status_code == 201
    fan = crowd.fan(event_id)
    await fan.join()
    token = await fan.admission_token()
    socket = await fan.open_socket()
    hold = {"t": "hold", "admission_token": token, "items": [{"type": ga(event_id), "quantity": 1}]}
    await socket.send(json.dumps({**hold, "discount_code": "nope"}))
    refused = await socket.next(is_message("error"))
    assert refused["code"] == "unknown_discount", refused
    assert stats(live_stack, event_id)["held"] == 0
    await socket.send(json.dumps({**hold, "discount_code": "SOCK"}))
    queued = await socket.next(is_message("hold_queued"))
    held = await socket.next(is_message("hold_result", request_id=queued["request_id"]))
    assert held["ok"] and held["hold"]["discount"]["code"] == "sock", held
    assert (await codes(live_stack, event_id))["sock"]["used"] == 1


async def test_letting_a_hold_go_gives_its_use_to_the_next_fan(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    assert (await make_code(live_stack, event_id, code="single", max_uses=1)).status_code == 201
    first, second = crowd.fan(event_id), crowd.fan(event_id)
    await first.join()
    socket = await first.open_socket()
    asked = await ask_with_code(first, "single")
    hold_id = (await first.answer_to(asked.json()["request_id"]))["hold"]["id"]
    expect_error(await ask_with_code(second, "single"), ErrorCode.DISCOUNT_USED_UP)

    assert (await first.release(hold_id)).status_code == 202
    await socket.next(is_message("released"), timeout=20)
    assert (await codes(live_stack, event_id))["single"]["used"] == 0
    asked = await second.ask_for(await second.admission_token(), None, "single")
    assert (await second.answer_to(asked.json()["request_id"]))["ok"]
    assert (await codes(live_stack, event_id))["single"]["used"] == 1
