"""Redis restarts empty mid-sale: the clock puts the sale back from PostgreSQL
(purchase/restore.py, restore_sale.lua), so what the database sold stays sold
and nothing is sold twice (DESIGN invariant 6, then 1), and a drawn sale keeps
the draw it published (purchase/drawn.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import Crowd, Message, client, open_sale

RESTORE_WAIT_S = 15.0


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    # Sales older than a second count as lost when Redis lacks them.
    workdir = Path(tmp_path_factory.mktemp("restart-stack"))
    with running_stack(postgres_server, workdir, restore_grace_seconds=1.0) as stack:
        yield stack


async def _stats_when_back(stack: LiveStack, event_id: str) -> Message:
    deadline = time.monotonic() + RESTORE_WAIT_S
    async with client(stack, stack.organiser_headers) as http:
        while time.monotonic() < deadline:
            answer = await http.get(f"/api/events/{event_id}/stats")
            if answer.status_code == 200:
                figures: Message = answer.json()
                return figures
            await asyncio.sleep(0.1)
    raise AssertionError(f"sale {event_id} not back within {RESTORE_WAIT_S}s")


def _flush(stack: LiveStack) -> None:
    lost = redis.Redis.from_url(str(stack.settings.redis_url))
    try:
        assert lost.flushall()  # a restart without persistence
    finally:
        lost.close()


async def _published_draw(stack: LiveStack, event_id: str) -> tuple[Message, str]:
    """The draw document and its entrant list, once drawn (and back, after a loss)."""
    deadline = time.monotonic() + RESTORE_WAIT_S
    async with client(stack) as http:
        while time.monotonic() < deadline:
            answer = await http.get(f"/api/events/{event_id}/draw")
            if answer.status_code == 200 and answer.json()["drawn"]:
                listed = await http.get(f"/api/events/{event_id}/draw/entrants")
                assert listed.status_code == 200, listed.text
                document: Message = answer.json()
                return document, listed.text
            await asyncio.sleep(0.1)
    raise AssertionError(f"no draw of {event_id} within {RESTORE_WAIT_S}s")


def _draw_saved(stack: LiveStack, event_id: str) -> bool:
    with redis.Redis.from_url(str(stack.settings.redis_url)) as live:
        return bool(live.hget(EventKeys(event_id).meta, "draw_saved") == b"1")


async def test_a_drawn_sale_redis_lost_keeps_its_published_draw(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = live_stack.create_event()["id"]  # the window is open; the drop in 2 s
    fans = await crowd.joined(event_id, 6)
    published, entrants = await _published_draw(live_stack, event_id)
    numbers = [(await fan.join())["number"] for fan in fans]
    assert sorted(numbers) == list(range(1, 7)) and published["entrants"] == 6
    deadline = time.monotonic() + RESTORE_WAIT_S
    while not _draw_saved(live_stack, event_id):
        assert time.monotonic() < deadline, "the clock did not save the draw"
        await asyncio.sleep(0.1)

    _flush(live_stack)

    assert await _published_draw(live_stack, event_id) == (published, entrants)
    # Each fan who joins again is where the draw put them.
    assert [(await fan.join())["number"] for fan in fans] == numbers
    # A newcomer comes after every drawn fan.
    assert (await crowd.fan(event_id).join())["number"] == 7


async def test_a_sale_redis_lost_comes_back_with_what_the_database_sold(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    buyer, holder = crowd.fan(event_id), crowd.fan(event_id)
    order = await buyer.buy(2)
    await holder.join()
    await holder.hold(1)
    await asyncio.sleep(1.0)  # past the grace for new sales
    lost = redis.Redis.from_url(str(live_stack.settings.redis_url))
    try:
        assert lost.flushall()  # a restart without persistence
    finally:
        lost.close()

    figures = await _stats_when_back(live_stack, event_id)

    # The two tickets the database sold are sold again; the live hold is gone.
    assert (figures["sold"], figures["held"], figures["remaining_total"]) == (2, 0, 8), figures
    # The order's hold came back too: an organiser cancel gives its stock back once.
    cancel = f"{live_stack.base_url}/api/events/{event_id}/orders/{order['order_id']}/cancel"
    refunded = httpx.post(cancel, headers=live_stack.organiser_headers, timeout=10)
    assert refunded.status_code == 200, refunded.text
    after = await _stats_when_back(live_stack, event_id)
    assert (after["sold"], after["remaining_total"]) == (0, 10), after
    # And the sale goes on: a fan who comes now joins at the back and buys.
    again = await crowd.fan(event_id).buy(2)
    assert len(again["tickets"]) == 2
    assert (await _stats_when_back(live_stack, event_id))["sold"] == 2


async def test_a_list_sale_comes_back_with_its_list_policy_and_presale_links(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, access="list")
    organiser = live_stack.organiser_headers
    async with client(live_stack, organiser) as http:
        imported = await http.post(
            f"/api/events/{event_id}/access-list",
            content="id,allowance\nA1,1\nB2,2\n",
            headers={"Content-Type": "text/csv"},
        )
        assert imported.status_code == 200, imported.text
        made = await http.post(
            f"/api/events/{event_id}/presale-links",
            json={"allowance": 3, "expires_at": "2099-01-01T00:00:00Z"},
        )
        link = made.json()["id"]
        listed = await http.get(f"/api/events/{event_id}/access-list.csv")
    links = {row.split(",")[1]: row.split(",")[3] for row in listed.text.splitlines()[1:]}
    # B2 buys 2 through the link (paid, in the database), A1 never comes.
    b2 = crowd.fan(event_id)
    async with client(live_stack) as http:
        b2.cookie = (await http.get(links["B2"].removeprefix(live_stack.base_url))).cookies[
            "fairdrop_fan"
        ]
    socket = await b2.open_socket()
    held = await b2.request(
        "POST",
        b2.path(f"/presale/{link}/holds"),
        json={"items": [{"type": f"{event_id}.ga", "quantity": 2}]},
    )
    assert held.status_code == 200, held.text
    paid = await b2.request("POST", b2.path(f"/holds/{held.json()['hold']['id']}/pay"))
    assert paid.status_code == 202, paid.text
    assert (await socket.next(lambda m: m.get("t") == "order", timeout=20))["ok"]
    await asyncio.sleep(1.0)  # past the grace for new sales
    lost = redis.Redis.from_url(str(live_stack.settings.redis_url))
    try:
        assert lost.flushall()
    finally:
        lost.close()

    figures = await _stats_when_back(live_stack, event_id)
    assert (figures["sold"], figures["remaining_total"]) == (2, 8), figures
    # Still a list sale, with its list: a stranger is refused, A1 gets in.
    stranger = crowd.fan(event_id)
    refused = await stranger.request("POST", stranger.path("/join"))
    assert refused.status_code == 401, refused.text
    a1 = crowd.fan(event_id)
    async with client(live_stack) as http:
        a1.cookie = (await http.get(links["A1"].removeprefix(live_stack.base_url))).cookies[
            "fairdrop_fan"
        ]
    assert (await a1.join())["number"] > 0
    # The link comes back with what the paid order left of it.
    async with client(live_stack, organiser) as http:
        back = (await http.get(f"/api/events/{event_id}/presale-links")).json()["links"]
    assert [(entry["used"], entry["left"]) for entry in back] == [(2, 1)]
