"""The organiser's orders list on a live stack: search, pages, tickets, check-ins per door
(web/order_list.py, purchase/order_search.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fairdrop.errors import ErrorCode
from tests.live_stack import LiveStack
from tests.web.fans import (
    Crowd,
    Message,
    client,
    expect_error,
    is_message,
    open_sale,
    ticket_type,
)
from tests.web.test_tickets import check_in, door_headers


async def _list(stack: LiveStack, event_id: str, **params: Any) -> httpx.Response:
    async with client(stack, stack.organiser_headers) as http:
        return await http.get(f"/api/events/{event_id}/orders", params=params)


async def _page(stack: LiveStack, event_id: str, **params: Any) -> dict[str, Any]:
    response = await _list(stack, event_id, **params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _paid(crowd: Crowd, event_id: str, email: str, quantity: int = 1) -> Message:
    """A fan who holds ``quantity`` tickets and pays, giving ``email``: the order message."""
    fan = crowd.fan(event_id)
    await fan.join()
    socket = await fan.open_socket()
    hold_id = await fan.hold(quantity)
    paid = await fan.pay(hold_id, email)
    assert paid.status_code == 202, paid.text
    order: Message = await socket.next(is_message("order", hold_id=hold_id))
    assert order["ok"] is True, order
    return order


@pytest.fixture
async def three_orders(live_stack: LiveStack, crowd: Crowd) -> tuple[str, list[Message]]:
    """A sale with three paid orders, bought one after the other (newest last)."""
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=10)])
    orders = [
        await _paid(crowd, event_id, "Ada.Lovelace@Example.test", 2),
        await _paid(crowd, event_id, "grace@example.test"),
        await _paid(crowd, event_id, "linus_t@example.test"),
    ]
    return event_id, orders


async def test_the_list_shows_full_ids_emails_and_tickets_newest_first(
    live_stack: LiveStack, three_orders: tuple[str, list[Message]]
) -> None:
    event_id, orders = three_orders
    page = await _page(live_stack, event_id)
    assert [o["id"] for o in page["orders"]] == [o["order_id"] for o in reversed(orders)]
    assert (page["matching"], page["next_after"]) == (3, None)
    first = page["orders"][-1]
    assert first["email"] == "Ada.Lovelace@Example.test"
    assert sorted(t["code"] for t in first["tickets"]) == sorted(
        t["code"] for t in orders[0]["tickets"]
    )
    assert all(t["checked_in_at"] is None for t in first["tickets"])


async def test_pages_follow_each_other_without_gaps_or_repeats(
    live_stack: LiveStack, three_orders: tuple[str, list[Message]]
) -> None:
    event_id, orders = three_orders
    first = await _page(live_stack, event_id, limit=2)
    assert len(first["orders"]) == 2 and first["matching"] == 3
    assert first["next_after"] == first["orders"][-1]["id"]
    second = await _page(live_stack, event_id, limit=2, after=first["next_after"])
    assert second["next_after"] is None
    seen = [o["id"] for o in first["orders"] + second["orders"]]
    assert seen == [o["order_id"] for o in reversed(orders)]


async def test_search_finds_an_order_by_id_start_email_part_or_ticket_code(
    live_stack: LiveStack, three_orders: tuple[str, list[Message]]
) -> None:
    event_id, orders = three_orders
    ada, grace, linus = (o["order_id"] for o in orders)

    async def found(text: str) -> list[str]:
        page = await _page(live_stack, event_id, q=text)
        assert page["matching"] == len(page["orders"])
        return [o["id"] for o in page["orders"]]

    assert await found(ada[:8]) == [ada]
    assert await found(grace) == [grace]
    assert await found("LOVELACE") == [ada]  # any case, any part
    assert await found(orders[1]["tickets"][0]["code"]) == [grace]
    assert sorted(await found("example.test")) == sorted([ada, grace, linus])
    # LIKE's wildcards are plain characters here: "_" is only linus's underscore.
    assert await found("_") == [linus]
    assert await found("%") == []
    assert await found("no-such-thing") == []


async def test_check_ins_are_counted_per_door_and_shown_on_each_ticket(
    live_stack: LiveStack, three_orders: tuple[str, list[Message]]
) -> None:
    event_id, orders = three_orders
    codes = [t["code"] for o in orders for t in o["tickets"]]  # 4 tickets
    for code, door in zip(codes, ["north", "north", "south"], strict=False):
        answer = await check_in(
            live_stack, {"code": code}, door_headers(live_stack, event_id, door)
        )
        assert answer.status_code == 200 and answer.json()["result"] == "valid", answer.text
    async with client(live_stack, live_stack.organiser_headers) as http:
        response = await http.get(f"/api/events/{event_id}/check-ins")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "tickets": 4,
        "checked_in": 3,
        "doors": [{"door": "north", "checked_in": 2}, {"door": "south", "checked_in": 1}],
    }
    page = await _page(live_stack, event_id, q=codes[2])
    [ticket] = [t for t in page["orders"][0]["tickets"] if t["code"] == codes[2]]
    assert ticket["checked_in_by"] == "south" and ticket["checked_in_at"]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"after": "no-such-order"}, "after"),
        ({"q": "a\x00b"}, "q"),
        ({"q": "x" * 255}, "q"),
        ({"after": "o" * 65}, "after"),
        ({"sort": "price"}, "sort"),
    ],
)
async def test_bad_parameters_get_422_naming_them(
    live_stack: LiveStack, crowd: Crowd, params: dict[str, str], names: str
) -> None:
    event_id = open_sale(live_stack)
    await _paid(crowd, event_id, "fan@example.test")
    response = await _list(live_stack, event_id, **params)
    assert names in expect_error(response, ErrorCode.INVALID_FIELD)["message"]
    assert (await _page(live_stack, event_id))["matching"] == 1


async def test_an_order_of_another_sale_is_no_cursor_and_unknown_sales_are_404(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    one, other = open_sale(live_stack), open_sale(live_stack)
    theirs = await _paid(crowd, other, "other@example.test")
    response = await _list(live_stack, one, after=theirs["order_id"])
    assert "after" in expect_error(response, ErrorCode.INVALID_FIELD)["message"]
    for path in ("/orders", "/check-ins"):
        async with client(live_stack, live_stack.organiser_headers) as http:
            unknown = await http.get(f"/api/events/no-such-sale{path}")
        assert unknown.status_code == 404, unknown.text
        async with client(live_stack, {}) as http:
            anonymous = await http.get(f"/api/events/{one}{path}")
        assert anonymous.status_code == 401, anonymous.text
