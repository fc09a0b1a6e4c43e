"""Presale links on a live stack (web/presales.py, presale_hold.lua).

A fan with a link buys before the window opens, without a queue turn, within
the link's allowance; however many fans use one link at once, it is used
exactly; a hold that ends unpaid gives its tickets back to the link; the
organiser sees every link and its use. Bad links and bad asks get their 4xx
and change nothing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fairdrop.errors import ErrorCode
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, Fan, client, expect_error, ga, is_message, stats, ticket_type

LATER = {"opens_at": "2099-01-01T00:00:00Z", "drop_at": "2099-01-01T00:10:00Z"}


def _in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def _make_link(stack: LiveStack, event_id: str, **body: Any) -> httpx.Response:
    async with client(stack, stack.organiser_headers) as http:
        return await http.post(
            f"/api/events/{event_id}/presale-links",
            json={"allowance": 3, "expires_at": _in(3600), **body},
        )


async def _link(stack: LiveStack, event_id: str, **body: Any) -> dict[str, Any]:
    made = await _make_link(stack, event_id, **body)
    assert made.status_code == 201, made.text
    link: dict[str, Any] = made.json()
    return link


async def _links(stack: LiveStack, event_id: str) -> dict[str, dict[str, Any]]:
    async with client(stack, stack.organiser_headers) as http:
        listed = await http.get(f"/api/events/{event_id}/presale-links")
    assert listed.status_code == 200, listed.text
    return {link["id"]: link for link in listed.json()["links"]}


async def _hold(fan: Fan, link_id: str, quantity: int = 1, **kwargs: Any) -> httpx.Response:
    items = [{"type": ga(fan.event_id), "quantity": quantity}]
    body = kwargs.pop("json", {"items": items})
    return await fan.request("POST", fan.path(f"/presale/{link_id}/holds"), json=body, **kwargs)


async def test_a_presale_fan_buys_before_the_window_opens(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = live_stack.create_event(**LATER)["id"]
    link = await _link(live_stack, event_id, label="fan club", ticket_type="ga")
    assert link["link"] == f"{live_stack.base_url}/e/{event_id}?presale={link['id']}"
    fan = crowd.fan(event_id)
    assert (await fan.join())["status"] == "not_open"
    seen = await fan.request("GET", fan.path(f"/presale/{link['id']}"))
    assert (seen.json()["left"], seen.json()["ticket_type"]) == (3, ga(event_id))

    socket = await fan.open_socket()
    held = await _hold(fan, link["id"], 2)
    assert held.status_code == 200, held.text
    hold_id = held.json()["hold"]["id"]
    # The fan's sockets hear it as any hold.
    told = await socket.next(is_message("hold_result"))
    assert told["hold"]["id"] == hold_id
    paid = await fan.request("POST", fan.path(f"/holds/{hold_id}/pay"))
    assert paid.status_code == 202, paid.text
    # The worker's answer: generous, as the machine running the tests may be busy.
    order = await socket.next(is_message("order"), timeout=20)
    assert order["ok"] and len(order["tickets"]) == 2

    listed = (await _links(live_stack, event_id))[link["id"]]
    assert (listed["used"], listed["left"], listed["label"]) == (2, 1, "fan club")
    assert stats(live_stack, event_id)["sold"] == 2
    # Over what is left of the link: refused, nothing taken.
    expect_error(
        await _hold(crowd.fan(event_id, fan.cookie), link["id"], 2), ErrorCode.LIMIT_EXCEEDED
    )


async def test_a_link_is_used_exactly_however_many_use_it_at_once(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = live_stack.create_event(**LATER, ticket_types=[ticket_type(stock=50)])["id"]
    link = await _link(live_stack, event_id, allowance=5)
    fans = [crowd.fan(event_id) for _ in range(30)]
    for fan in fans:
        await fan.join()
    answers = await asyncio.gather(*(_hold(fan, link["id"]) for fan in fans))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 5 + [409] * 25, [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 409):
        expect_error(refused, ErrorCode.PRESALE_USED_UP)
    assert (await _links(live_stack, event_id))[link["id"]]["left"] == 0
    figures = stats(live_stack, event_id)
    assert (figures["held"], figures["remaining_total"]) == (5, 45)

    # One lets go: the ticket goes back to the link and to the stock.
    winner = next(fan for fan, a in zip(fans, answers, strict=True) if a.status_code == 200)
    hold_id = next(
        a.json()["hold"]["id"] for fan, a in zip(fans, answers, strict=True) if fan is winner
    )
    released = await winner.request("POST", winner.path(f"/holds/{hold_id}/release"))
    assert released.status_code == 202, released.text
    for _ in range(100):
        if (await _links(live_stack, event_id))[link["id"]]["left"] == 1:
            break
        await asyncio.sleep(0.05)
    assert (await _links(live_stack, event_id))[link["id"]]["left"] == 1
    assert stats(live_stack, event_id)["remaining_total"] == 46


async def test_bad_links_and_asks_are_refused_and_change_nothing(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = live_stack.create_event(
        **LATER, ticket_types=[ticket_type(), ticket_type(id="vip", name="VIP")]
    )["id"]
    vip_only = await _link(live_stack, event_id, ticket_type="vip")
    short = await _link(live_stack, event_id, expires_at=_in(1.5))
    fan = crowd.fan(event_id)
    await fan.join()
    before = stats(live_stack, event_id)
    expect_error(await _hold(fan, "no-such-link"), ErrorCode.UNKNOWN_PRESALE)
    expect_error(await _hold(fan, vip_only["id"]), ErrorCode.INVALID_FIELD)
    expect_error(await _hold(fan, vip_only["id"], json={"items": "all"}), ErrorCode.INVALID_FIELD)
    broken = await _hold(
        fan, vip_only["id"], content=b"{nope", headers={"Content-Type": "application/json"}
    )
    expect_error(broken, ErrorCode.MALFORMED_JSON)
    await asyncio.sleep(2)
    expect_error(await _hold(fan, short["id"]), ErrorCode.PRESALE_EXPIRED)
    expect_error(
        await fan.request("GET", fan.path("/presale/no-such-link")), ErrorCode.UNKNOWN_PRESALE
    )
    nobody = crowd.fan(event_id)  # never joined: no session
    expect_error(await _hold(nobody, vip_only["id"]), ErrorCode.NO_FAN_ID)
    other_event = live_stack.create_event(**LATER)["id"]
    stranger = crowd.fan(other_event)
    await stranger.join()
    # A link of another event is no link here.
    expect_error(await _hold(stranger, vip_only["id"]), ErrorCode.UNKNOWN_PRESALE)
    after = stats(live_stack, event_id)
    assert (after["held"], after["remaining_total"]) == (before["held"], before["remaining_total"])
    links = await _links(live_stack, event_id)
    assert [links[link["id"]]["left"] for link in (vip_only, short)] == [3, 3]


async def test_a_link_on_a_sign_in_sale_needs_the_sale_s_sign_in(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = live_stack.create_event(**LATER)["id"]
    link = await _link(live_stack, event_id)
    fan = crowd.fan(event_id)
    await fan.join()  # an anonymous session, made while the sale was open
    async with client(live_stack, live_stack.organiser_headers) as http:
        changed = await http.post(f"/api/events/{event_id}/access", json={"access": "list"})
    assert changed.status_code == 200, changed.text
    expect_error(await _hold(fan, link["id"]), ErrorCode.SIGN_IN_REQUIRED)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"allowance": 0}, ErrorCode.INVALID_FIELD),
        ({"allowance": "3"}, ErrorCode.INVALID_FIELD),
        ({"expires_at": "2001-01-01T00:00:00Z"}, ErrorCode.INVALID_FIELD),
        ({"expires_at": "tomorrow"}, ErrorCode.INVALID_FIELD),
        ({"ticket_type": "nope"}, ErrorCode.UNKNOWN_TICKET_TYPE),
        ({"ticket_type": "../ga"}, ErrorCode.INVALID_FIELD),
        ({"label": "x" * 201}, ErrorCode.INVALID_FIELD),
    ],
)
async def test_a_bad_link_is_not_made(
    live_stack: LiveStack, body: dict[str, Any], code: ErrorCode
) -> None:
    event_id = live_stack.create_event(**LATER)["id"]
    expect_error(await _make_link(live_stack, event_id, **body), code)
    assert await _links(live_stack, event_id) == {}


async def test_only_the_organiser_makes_and_lists_links(live_stack: LiveStack) -> None:
    event_id = live_stack.create_event(**LATER)["id"]
    async with client(live_stack) as http:
        path = f"/api/events/{event_id}/presale-links"
        expect_error(await http.get(path), ErrorCode.UNAUTHORIZED)
        made = await http.post(
            path,
            json={"allowance": 3, "expires_at": _in(60)},
            headers={"Authorization": "Bearer nope"},
        )
        expect_error(made, ErrorCode.FORBIDDEN)
    expect_error(await _make_link(live_stack, "no-such-event"), ErrorCode.UNKNOWN_EVENT)
    assert await _links(live_stack, event_id) == {}
