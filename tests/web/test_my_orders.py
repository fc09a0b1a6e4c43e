"""GET /api/events/{id}/orders/mine: the fan's own orders, after a reload.

The socket's ``order`` message is said once; a page reloaded (or whose socket
was down then) finds its order and ticket codes here, and nobody else's.
"""

from __future__ import annotations

from fairdrop.errors import ErrorCode
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, expect_error, open_sale, ticket_type


async def test_a_reloaded_page_finds_its_order_and_no_one_elses(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=10, per_person_limit=3)])
    buyer = crowd.fan(event_id)
    heard = await buyer.buy(2)

    # The reload: the same cookie, a new page with no socket open yet.
    reloaded = crowd.fan(event_id, buyer.cookie)
    response = await reloaded.request("GET", reloaded.path("/orders/mine"))
    assert response.status_code == 200, response.text
    assert "no-store" in response.headers["cache-control"]
    (order,) = response.json()["orders"]
    assert order["order_id"] == heard["order_id"]
    assert order["hold_id"] == heard["hold_id"]
    assert order["status"] == "paid"
    assert order["total_cents"] == heard["total_cents"]
    assert sorted(t["code"] for t in order["tickets"]) == sorted(
        t["code"] for t in heard["tickets"]
    )

    # Another fan of the same sale, who bought nothing: an empty list.
    other = crowd.fan(event_id)
    await other.join()
    response = await other.request("GET", other.path("/orders/mine"))
    assert response.status_code == 200, response.text
    assert response.json() == {"orders": []}

    # The buyer's orders are per sale: another sale has none of them.
    elsewhere = open_sale(live_stack)
    there = crowd.fan(elsewhere, buyer.cookie)
    response = await there.request("GET", there.path("/orders/mine"))
    assert response.status_code == 200, response.text
    assert response.json() == {"orders": []}


async def test_an_unknown_sale_or_no_session_is_refused_in_json(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    fan = crowd.fan(event_id)
    await fan.join()
    nowhere = crowd.fan("no-such-sale", fan.cookie)
    response = await nowhere.request("GET", nowhere.path("/orders/mine"))
    expect_error(response, ErrorCode.UNKNOWN_EVENT)
    stranger = crowd.fan(event_id)
    response = await stranger.request("GET", stranger.path("/orders/mine"))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
