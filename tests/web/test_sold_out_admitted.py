"""A fan whose turn it is but who holds nothing hears what the queue hears
(web/places.py fan_state, web/rooms.py): that everything left is in other
fans' baskets the moment it is, and "sold out" in the same step as the fans
still waiting, not when its own turn times out."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.live_stack import LiveStack
from tests.web.fans import (
    Crowd,
    Message,
    Socket,
    client,
    ga,
    is_admitted,
    is_message,
    is_status,
    open_sale,
    ticket_type,
)


async def _presale_link(stack: LiveStack, event_id: str, allowance: int) -> str:
    async with client(stack, stack.organiser_headers) as http:
        made = await http.post(
            f"/api/events/{event_id}/presale-links",
            json={"allowance": allowance, "expires_at": "2099-01-01T00:00:00Z"},
        )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _heard(socket: Socket, matching: Any, timeout: float = 10) -> tuple[float, Message]:
    """When (loop time) the socket said something that matches, and what."""
    message = await socket.next(matching, timeout)
    return asyncio.get_running_loop().time(), message


def _nothing_left(message: Message) -> bool:
    return message.get("t") in {"status", "progress"} and message.get("remaining_total") == 0


async def test_an_admitted_fan_hears_baskets_then_sold_out_with_the_queue(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    # Two tickets, two each: the clock lets one fan in to choose, the second waits.
    event_id = open_sale(live_stack, hold_seconds=120, ticket_types=[ticket_type(stock=2)])
    link = await _presale_link(live_stack, event_id, allowance=2)
    first, second = await crowd.joined(event_id, 2)
    admitted, waiting = await first.open_socket(), await second.open_socket()
    await admitted.next(is_admitted)
    await waiting.next(is_status(state="queued"))

    # A presale fan takes both tickets beside the queue.
    buyer = crowd.fan(event_id)
    await buyer.join()
    items = [{"type": ga(event_id), "quantity": 2}]
    held = await buyer.request("POST", buyer.path(f"/presale/{link}/holds"), json={"items": items})
    assert held.status_code == 200, held.text

    # Not sold out (the hold may come back), but nothing to buy now: the fan
    # whose turn it is hears it, and keeps its turn.
    _, told = await _heard(admitted, _nothing_left)
    assert told["tickets_may_return"] is True and told["held"] == 2, told
    assert not any(
        m.get("t") == "status" and m.get("state") != "admitted" for m in admitted.seen[1:]
    ), admitted.seen

    paid = await buyer.request("POST", buyer.path(f"/holds/{held.json()['hold']['id']}/pay"))
    assert paid.status_code == 202, paid.text
    (admitted_at, to_admitted), (waiting_at, to_waiting) = await asyncio.gather(
        _heard(admitted, is_status(state="sold_out")),
        _heard(waiting, is_status(state="sold_out")),
    )
    # The same step told both: before, the fan let in kept "your turn" until it ran out.
    assert abs(admitted_at - waiting_at) < 1.0, (admitted_at, waiting_at)
    assert to_admitted["admission"] is None and to_admitted["number"] == 1
    assert to_waiting["number"] == 2


async def test_a_fan_holding_tickets_keeps_its_turn_when_the_rest_sell_out(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=1, per_person_limit=1)])
    [fan] = await crowd.joined(event_id, 1)
    socket = await fan.open_socket()
    hold_id = await fan.hold(1)
    # Everything is in this fan's own basket: still its turn, to pay.
    await socket.next(_nothing_left)
    states = [m["state"] for m in socket.seen if m.get("t") == "status"]
    assert states[-1] == "admitted", socket.seen
    paid = await fan.pay(hold_id)
    assert paid.status_code == 202, paid.text
    order = await socket.next(is_message("order"))
    assert order["ok"] is True
    assert (await socket.next(is_status(state="done")))["event_state"] in {"queueing", "sold_out"}
