"""A fan whose turn ended without buying queues again at the back (web/queue_again.py,
buffer/lua/queue_again.lua): a new number after everyone's, let in in turn, and
refused with a clear 4xx whenever it would jump anyone or repeat a purchase."""

from __future__ import annotations

import asyncio
import time

import httpx

from fairdrop.errors import ErrorCode
from tests.live_stack import LiveStack
from tests.web.fans import WAIT_S, Crowd, Fan, expect_error, open_sale, ticket_type

PATH = "/queue-again"


async def _queue_again(fan: Fan) -> httpx.Response:
    return await fan.request("POST", fan.path(PATH))


async def _turn_over(fan: Fan) -> None:
    """Until the fan's join says the turn ended (number served, no admission, nothing bought)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        entry = await fan.join()
        if not entry["admission"] and not entry["hold_id"] and entry["number"] <= entry["serving"]:
            return
        assert time.monotonic() < deadline, entry
        await asyncio.sleep(0.1)


async def test_a_fan_who_let_the_tickets_go_queues_again_at_the_back_and_buys(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=5)])
    first, second = crowd.fan(event_id), crowd.fan(event_id)
    await first.join()
    await second.join()
    hold_id = await first.hold(1)
    released = await first.release(hold_id)
    assert released.status_code == 202, released.text
    await _turn_over(first)
    before = (await first.join())["number"]

    answer = await _queue_again(first)

    assert answer.status_code == 200, answer.text
    entry = answer.json()
    # After the second fan's number: nobody was jumped.
    assert entry["status"] == "queued" and entry["number"] == 3 > before, entry
    # Signed for the new place, as a join's answer is.
    signed = entry["receipt"]["receipt"]
    assert (signed["status"], signed["number"], signed["entry_id"]) == (
        "queued",
        3,
        entry["entrant_id"],
    ), signed
    assert (await first.join())["number"] == 3  # the new place, for good
    order = await first.buy(1)
    assert len(order["tickets"]) == 1


async def test_queueing_again_is_refused_when_it_would_jump_or_repeat(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, cap=1, ticket_types=[ticket_type(stock=2)])
    shopping, waiting = crowd.fan(event_id), crowd.fan(event_id)
    await shopping.join()
    await waiting.join()
    await shopping.admission_token()
    # Still in the queue: nothing to queue again for.
    expect_error(await _queue_again(waiting), ErrorCode.NOT_ADMITTED)
    # Turn running: buy now.
    expect_error(await _queue_again(shopping), ErrorCode.TURN_NOT_OVER)
    hold_id = await shopping.hold(1)
    expect_error(await _queue_again(shopping), ErrorCode.HOLD_EXISTS)
    paid = await shopping.pay(hold_id)
    assert paid.status_code == 202, paid.text
    await waiting.admission_token()  # the buyer's turn is over once paid
    expect_error(await _queue_again(shopping), ErrorCode.ALREADY_BOUGHT)
    # Nobody's number moved.
    assert ((await shopping.join())["number"], (await waiting.join())["number"]) == (1, 2)
    anonymous = Fan(live_stack, event_id)
    response = await anonymous.request("POST", anonymous.path(PATH))
    assert response.status_code == 401, response.text
    unknown = Fan(live_stack, "no-such-sale", shopping.cookie)
    expect_error(await unknown.request("POST", unknown.path(PATH)), ErrorCode.UNKNOWN_EVENT)


async def test_a_sold_out_sale_has_nothing_to_queue_again_for(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=1)])
    idle, buyer = crowd.fan(event_id), crowd.fan(event_id)
    await idle.join()
    hold_id = await idle.hold(1)
    assert (await idle.release(hold_id)).status_code == 202
    await _turn_over(idle)
    await buyer.buy(1)
    expect_error(await _queue_again(idle), ErrorCode.SOLD_OUT)
