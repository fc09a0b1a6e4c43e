"""Organisers cancel and refund an order on a live stack (web/organiser.py, purchase/orders.py).

A cancel refunds the order, voids its tickets and gives its stock back to the
sale at once, so a fan still waiting for a sold-out sale is let in and buys
them. A refused cancel (twice, unknown, another event's, no token) gets its
4xx JSON error and changes nothing: neither the sale's figures nor the order.
"""

from __future__ import annotations

from typing import Any

import httpx
import redis

from fairdrop.errors import ErrorCode
from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack
from tests.web.fans import (
    Crowd,
    Fan,
    Message,
    client,
    expect_error,
    is_message,
    open_sale,
    stats,
    ticket_type,
)
from tests.web.test_tickets import check_in, door_headers


def _cancel_path(event_id: str, order_id: str) -> str:
    return f"/api/events/{event_id}/orders/{order_id}/cancel"


async def _cancel(
    stack: LiveStack, event_id: str, order_id: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with client(stack, stack.organiser_headers if headers is None else headers) as http:
        return await http.post(_cancel_path(event_id, order_id))


async def _orders(stack: LiveStack, event_id: str) -> list[dict[str, Any]]:
    async with client(stack, stack.organiser_headers) as http:
        response = await http.get(f"/api/events/{event_id}/orders")
    assert response.status_code == 200, response.text
    orders: list[dict[str, Any]] = response.json()["orders"]
    return orders


def _came_back(message: Message) -> bool:
    """A socket message saying tickets are on sale again."""
    return message.get("t") in {"status", "progress"} and (
        message.get("event_state") == "queueing" and message.get("remaining_total", 0) > 0
    )


async def test_a_cancelled_order_is_refunded_and_its_tickets_sell_again(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    # Two tickets, one fan shopping at a time: the first fan buys both and the
    # second waits in line for a sale that has sold out.
    event_id = open_sale(live_stack, cap=1, ticket_types=[ticket_type(stock=2)])
    first, second = crowd.fan(event_id), crowd.fan(event_id)
    await first.join()
    await second.join()
    order = await first.buy(2)
    codes = [t["code"] for t in order["tickets"]]
    waiting = await second.open_socket()
    await waiting.next(lambda m: m.get("event_state") == "sold_out")
    before = stats(live_stack, event_id)
    assert (before["sold"], before["remaining_total"]) == (2, 0), before
    [listed] = await _orders(live_stack, event_id)
    assert (listed["id"], listed["status"], listed["refund_ref"]) == (
        order["order_id"],
        "paid",
        None,
    )
    assert listed["items"] == [{"type": f"{event_id}.ga", "quantity": 2}]

    response = await _cancel(live_stack, event_id, order["order_id"])

    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["id"] == order["order_id"] and cancelled["status"] == "refunded"
    assert cancelled["refund_ref"], cancelled
    after = stats(live_stack, event_id)
    assert (after["sold"], after["remaining"]) == (0, {f"{event_id}.ga": 2}), after
    assert [o["status"] for o in await _orders(live_stack, event_id)] == ["refunded"]
    for code in codes:
        answer = await check_in(live_stack, {"code": code, "door": "north"})
        assert answer.status_code == 200 and answer.json()["result"] == "void", answer.text
    # The fan who paid hears of the refund on their own page.
    told = await first.sockets[0].next(is_message("order_refunded"))
    assert (told["order_id"], told["refund_ref"]) == (order["order_id"], cancelled["refund_ref"])
    # The waiting fan hears the tickets came back, is let in and buys them.
    await waiting.next(_came_back)
    again = await second.buy(2)
    assert len(again["tickets"]) == 2
    assert stats(live_stack, event_id)["sold"] == 2


async def _paid_order(crowd: Crowd, **sale: Any) -> tuple[str, str]:
    """A new sale with one paid order of 2 tickets: the event id and the order id."""
    event_id = open_sale(crowd.stack, **sale)
    order = await crowd.fan(event_id).buy(2)
    return event_id, str(order["order_id"])


async def _fingerprint(stack: LiveStack, event_id: str) -> dict[str, Any]:
    """What a refused cancel could have changed: the sale's figures and its orders."""
    figures = stats(stack, event_id)
    return {"stats": figures, "orders": await _orders(stack, event_id)}


async def test_cancelling_twice_is_refused_and_changes_nothing(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id, order_id = await _paid_order(crowd)
    first = await _cancel(live_stack, event_id, order_id)
    assert first.status_code == 200, first.text
    before = await _fingerprint(live_stack, event_id)
    expect_error(await _cancel(live_stack, event_id, order_id), ErrorCode.ORDER_NOT_PAID)
    assert await _fingerprint(live_stack, event_id) == before
    assert before["stats"]["sold"] == 0


async def test_unknown_and_foreign_orders_are_unknown_and_nothing_changes(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id, order_id = await _paid_order(crowd)
    other_event, other_order = await _paid_order(crowd)
    before = await _fingerprint(live_stack, event_id)
    other_before = await _fingerprint(live_stack, other_event)
    for event, order in [
        (event_id, "0" * 32),  # no such order
        (event_id, other_order),  # another event's order
        (other_event, order_id),
        ("no-such-event", order_id),
    ]:
        expect_error(await _cancel(live_stack, event, order), ErrorCode.UNKNOWN_ORDER)
    assert await _fingerprint(live_stack, event_id) == before
    assert await _fingerprint(live_stack, other_event) == other_before
    assert [o["status"] for o in before["orders"]] == ["paid"]


async def test_only_the_organiser_can_cancel_or_list_orders(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id, order_id = await _paid_order(crowd)
    before = await _fingerprint(live_stack, event_id)
    fan = Fan(live_stack, event_id)
    for headers, code in [
        ({}, ErrorCode.UNAUTHORIZED),
        ({"Authorization": "Bearer not-the-token"}, ErrorCode.FORBIDDEN),
        # The event's own door staff may check tickets in, not cancel them.
        (door_headers(live_stack, event_id), ErrorCode.FORBIDDEN),
    ]:
        expect_error(await _cancel(live_stack, event_id, order_id, headers), code)
        listed = await fan.request("GET", fan.path("/orders"), headers=headers)
        expect_error(listed, code)
    assert await _fingerprint(live_stack, event_id) == before


async def test_orders_of_an_unknown_event_are_unknown(live_stack: LiveStack) -> None:
    async with client(live_stack, live_stack.organiser_headers) as http:
        response = await http.get("/api/events/no-such-event/orders")
    expect_error(response, ErrorCode.UNKNOWN_EVENT)


async def test_an_order_whose_hold_redis_lost_is_still_refunded(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    # Redis lost the sale's record of the hold (a restore from an older
    # snapshot, say): the refund and the void tickets must not hang on it.
    event_id, order_id = await _paid_order(crowd)
    [order] = await _orders(live_stack, event_id)
    lost = redis.Redis.from_url(str(live_stack.settings.redis_url))
    try:
        holds = EventKeys(event_id).holds
        [hold_id] = lost.hkeys(holds)
        assert lost.hdel(holds, hold_id) == 1
    finally:
        lost.close()

    response = await _cancel(live_stack, event_id, order_id)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "refunded" and response.json()["refund_ref"]
    assert [o["status"] for o in await _orders(live_stack, event_id)] == ["refunded"]
    assert order["status"] == "paid"


async def test_an_order_already_checked_in_can_still_be_refunded(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    # Refunding someone who came (a complaint after the night) is the organiser's call.
    event_id = open_sale(live_stack)
    order = await crowd.fan(event_id).buy(2)
    code = order["tickets"][0]["code"]
    first = await check_in(live_stack, {"code": code, "door": "north"})
    assert first.json()["result"] == "valid", first.text

    response = await _cancel(live_stack, event_id, order["order_id"])

    assert response.status_code == 200 and response.json()["status"] == "refunded", response.text
    # Scanned again, it lets nobody in, and says both what happened and why.
    again = (await check_in(live_stack, {"code": code, "door": "south"})).json()
    assert (again["valid"], again["result"], again["order_status"]) == (
        False,
        "already_used",
        "refunded",
    ), again
    assert again["checked_in_by"] == "north"
    assert stats(live_stack, event_id)["sold"] == 0
