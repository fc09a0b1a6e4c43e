"""Redis restarts empty mid-sale: the clock puts the sale back from PostgreSQL
(purchase/restore.py, restore_sale.lua), so what the database sold stays sold
and nothing is sold twice (DESIGN invariant 6, then 1), and a drawn sale keeps
the draw it published (purchase/drawn.py).

The last tests restart the real server (SIGKILL, then a new empty one on the
same port: launch/redis_server.py), so every process's connections break:
fans get 503 ``unavailable`` while it is down and never a 500 (web/unavailable.py),
open pages get their places back without a reload (web/rejoin.py), and a
worker busy when Redis went away starts again (launch/worker.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import redis
import rq

from fairdrop.errors import ErrorCode
from tests.live_stack import LiveStack
from tests.redis_restarts import RESTORE_WAIT_S, restorable_stack, wait_for_saved_draw
from tests.servers import PostgresServer
from tests.web.fans import (
    Crowd,
    Fan,
    Message,
    Socket,
    client,
    expect_error,
    is_admitted,
    is_status,
    open_sale,
    stats,
    ticket_type,
)


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    with restorable_stack(postgres_server, tmp_path_factory.mktemp("restart-stack")) as stack:
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


async def test_a_drawn_sale_redis_lost_keeps_its_published_draw(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = live_stack.create_event()["id"]  # the window is open; the drop in 2 s
    fans = await crowd.joined(event_id, 6)
    published, entrants = await _published_draw(live_stack, event_id)
    numbers = [(await fan.join())["number"] for fan in fans]
    assert sorted(numbers) == list(range(1, 7)) and published["entrants"] == 6
    wait_for_saved_draw(live_stack, event_id)

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


# Every open page hears its place again within this long of Redis answering
# (the clock looks for lost sales every second; the room on the next progress).
REJOIN_WITHIN_S = 6.0
DRAWN_FANS, LATE_FANS, STOCK = 8, 4, 10


def _status_after(since_ms: int, number: int) -> Callable[[Message], bool]:
    """A full status sent after ``since_ms`` (server time) that names this number."""
    return lambda m: is_status()(m) and m["now_ms"] >= since_ms and m["number"] == number


async def _refused_while_down(fan: Fan) -> None:
    """A reload (the event, then a join) and a new socket while Redis is down:
    503 unavailable with Retry-After, and the socket closed with 4503."""
    for answer in (
        await fan.request("GET", fan.path()),
        await fan.request("POST", fan.path("/join")),
    ):
        expect_error(answer, ErrorCode.UNAVAILABLE)
        assert answer.headers["Retry-After"] == "1", answer.headers
    socket = await fan.open_socket()
    assert await socket.close_code() == 4503, socket.seen
    assert socket.seen[-1]["code"] == ErrorCode.UNAVAILABLE, socket.seen


async def _reload_until_back(fan: Fan, number: int) -> int:
    """Joins until the sale is back; every answer is 200 or 503 unavailable. How many 503s."""
    deadline = time.monotonic() + RESTORE_WAIT_S
    unavailable = 0
    while time.monotonic() < deadline:
        answer = await fan.request("POST", fan.path("/join"))
        if answer.status_code == 200:
            assert answer.json()["number"] == number, answer.json()
            return unavailable
        expect_error(answer, ErrorCode.UNAVAILABLE)
        unavailable += 1
        await asyncio.sleep(0.05)
    raise AssertionError(f"no join within {RESTORE_WAIT_S}s of Redis coming back")


def _let_in_or_sold_out(message: Message) -> bool:
    return is_admitted(message) or is_status(state="sold_out")(message)


async def _buy_one(fan: Fan, socket: Socket, last: Message) -> Message:
    """What the fan's page does once let in (``last``: its latest status): one
    ticket, paid; the order, or the status that says sold out."""
    number = last["number"]
    admitted = last
    if not is_admitted(last):
        admitted = await socket.next(_let_in_or_sold_out, 30)
    if admitted["state"] == "sold_out":
        return admitted
    assert admitted["number"] == number, admitted
    asked = await fan.ask_for(admitted["admission"]["token"])
    assert asked.status_code == 202, asked.text
    answer = await fan.answer_to(asked.json()["request_id"], timeout=15)
    assert answer["ok"], answer
    paid = await fan.pay(answer["hold"]["id"])
    assert paid.status_code == 202, paid.text
    order = await socket.next(lambda m: m.get("t") == "order", timeout=15)
    assert order["ok"], order
    return order


async def test_open_pages_get_their_places_back_after_a_real_restart(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    server = live_stack.redis_server
    assert server is not None
    # Two buyers at a time, one ticket each: twelve fans for ten tickets.
    one_each = [ticket_type(stock=STOCK, per_person_limit=1)]
    event_id = live_stack.create_event(cap=2, ticket_types=one_each)["id"]
    drawn = await crowd.joined(event_id, DRAWN_FANS)
    sockets = [await fan.open_socket() for fan in drawn]
    numbers = [
        (await socket.next(lambda m: is_status()(m) and m["number"] > 0, 15))["number"]
        for socket in sockets
    ]
    assert sorted(numbers) == list(range(1, DRAWN_FANS + 1))
    late = await crowd.joined(event_id, LATE_FANS)  # after the draw: numbers 9..12
    sockets += [await fan.open_socket() for fan in late]
    numbers += [(await fan.join())["number"] for fan in late]
    assert numbers[DRAWN_FANS:] == list(range(DRAWN_FANS + 1, DRAWN_FANS + LATE_FANS + 1))
    wait_for_saved_draw(live_stack, event_id)

    server.crash()
    await _refused_while_down(crowd.fan(event_id, drawn[0].cookie))
    server.start_again()
    back_ms = int(time.time() * 1000)

    # Reloads while the sale is put back: 503 until it is, then the same number.
    reloads = await asyncio.gather(
        *(_reload_until_back(fan, n) for fan, n in zip(drawn[:3], numbers[:3], strict=True))
    )
    # Every page left open hears its place again, without a reload: the drawn
    # fans their drawn numbers, the late ones theirs, in their order.
    places = [
        await socket.next(_status_after(back_ms, number), REJOIN_WITHIN_S)
        for socket, number in zip(sockets, numbers, strict=True)
    ]
    rejoined_s = time.time() - back_ms / 1000
    print(f"503s per reload while restoring: {reloads}; all pages back in {rejoined_s:.2f}s")

    # And the sale goes on in order: the ten lowest numbers buy, no more.
    ends = await asyncio.gather(
        *(
            _buy_one(fan, socket, place)
            for fan, socket, place in zip(drawn + late, sockets, places, strict=True)
        )
    )
    bought = sorted(n for n, end in zip(numbers, ends, strict=True) if end.get("t") == "order")
    assert bought == list(range(1, STOCK + 1)), ends
    figures = stats(live_stack, event_id)
    assert (figures["sold"], figures["held"], figures["remaining_total"]) == (STOCK, 0, 0)
    assert all(p.poll() is None for p in live_stack.stack.processes.values())


def _job_reaches(stack: LiveStack, status: str, seconds: float) -> None:
    """Queues ``time.sleep(seconds)`` for the worker; waits until the job has ``status``."""
    with redis.Redis.from_url(str(stack.settings.redis_url)) as connection:
        job = rq.Queue(stack.settings.rq_queue, connection=connection).enqueue(
            "time.sleep", seconds
        )
        deadline = time.monotonic() + RESTORE_WAIT_S
        while job.get_status() != status:
            assert time.monotonic() < deadline, f"job {job.get_status()}, not {status}"
            time.sleep(0.02)


def test_a_worker_busy_when_redis_dies_starts_again(live_stack: LiveStack) -> None:
    """RQ's loop waits for Redis only between jobs: a job that ends while Redis is
    down ended the worker's process (issue 14). The worker starts again instead."""
    server = live_stack.redis_server
    assert server is not None
    worker = live_stack.stack.processes["worker-0"]
    _job_reaches(live_stack, "started", 0.5)
    server.crash()  # the job ends with Redis gone: RQ can record neither success nor failure
    time.sleep(2.0)
    server.start_again()
    _job_reaches(live_stack, "finished", 0)  # a worker takes jobs again
    assert worker.poll() is None, "the worker's process ended"
