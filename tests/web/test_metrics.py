"""GET /metrics (web/metrics.py) on a real stack: two web processes behind
nginx, a purchase worker and the clock, each counting in the stack's
multiprocess directory (fairdrop/metrics.py, launch/metrics_dir.py).

Every figure is checked against what the sale holds (join.lua's tallies,
the serving counter, PostgreSQL's orders), and the counts are the sum over
the processes: a scrape of either web process says the same.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from buffer.entry_tallies import Tallies, read_tallies
from fairdrop.connections import async_redis
from fairdrop.errors import ErrorCode
from fairdrop.metrics import REFUSALS
from fairdrop.settings import Settings
from launch.demo_metrics import Samples, answered_joins, scrape, tallied_joins, total
from launch.demo_payments import count_orders
from launch.fan_socket import ReconnectingSocket
from tests.live_stack import LiveStack
from tests.web.fans import Fan, expect_error, ga, open_sale, stats
from web.app import create_app
from web.metrics import forget_dead_processes


def web_url(fleet: LiveStack, name: str) -> str:
    """One web process itself, not nginx in front of them."""
    return f"http://127.0.0.1:{fleet.stack.web_ports[name]}"


def scrape_each(fleet: LiveStack) -> list[Samples]:
    return [
        scrape(web_url(fleet, name), fleet.settings.metrics_token)
        for name in sorted(fleet.stack.web_ports)
    ]


async def sale_tallies(fleet: LiveStack, event_id: str) -> Tallies:
    client = async_redis(fleet.settings, max_connections=2)
    try:
        return await read_tallies(client, event_id)
    finally:
        await client.aclose()


async def test_each_count_is_the_sum_over_the_processes_and_matches_the_sale(
    fleet: LiveStack,
) -> None:
    event_id = open_sale(fleet)
    # Joins through nginx land on both web processes (round robin).
    fans = [Fan(fleet, event_id) for _ in range(4)]
    answered_by = set()
    for fan in fans:
        joined = await fan.post_join()
        assert joined.status_code == 200, joined.text
        answered_by.add(fleet.stack.web_name(joined.headers["X-Upstream"]))
    assert answered_by == set(fleet.stack.web_ports)
    # One fan buys (a hold, a payment the local provider confirms), one asks
    # for more than a fan may hold, and someone asks for a sale that is not there.
    await fans[0].buy(1)
    too_many = await fans[1].ask_for(
        await fans[1].admission_token(), [{"type": ga(event_id), "quantity": 3}]
    )
    assert too_many.status_code == 202, too_many.text
    refused = await fans[1].answer_to(too_many.json()["request_id"])
    assert refused["code"] == ErrorCode.LIMIT_EXCEEDED, refused
    async with httpx.AsyncClient(base_url=fleet.base_url, timeout=10) as http:
        for _ in range(4):
            expect_error(await http.get("/api/events/no-such-sale"), ErrorCode.UNKNOWN_EVENT)

    first, second = scrape_each(fleet)
    counters = [name for name, _ in first if name.endswith("_total")]
    # Either process answers for all of them.
    assert {k: v for k, v in first.items() if k[0] in counters} == {
        k: v for k, v in second.items() if k[0] in counters
    }
    tallies = await sale_tallies(fleet, event_id)
    # This module's sales are the stack's only ones until the test below adds its own.
    assert answered_joins(first) == tallied_joins(tallies) >= 4 + 2
    assert total(first, "fairdrop_joins_total", outcome="queued") == tallied_joins(tallies)
    assert total(first, "fairdrop_admissions_total") == stats(fleet, event_id)["serving"] >= 2
    assert total(first, "fairdrop_holds_total", answer="held") == 1
    assert total(first, "fairdrop_holds_total", answer="limit_exceeded") == 1
    orders = count_orders(fleet.settings, event_id)["orders_in_db"]
    assert total(first, "fairdrop_payments_total", outcome="succeeded") == orders == 1
    assert total(first, "fairdrop_refusals_total", code="unknown_event") == 4
    # The buyer's socket is open; the clock has stepped; Redis answered for the sale and RQ.
    assert total(first, "fairdrop_fan_sockets_open") == 1
    assert total(first, "fairdrop_clock_step_seconds_count") > 0
    assert ("fairdrop_queue_length", frozenset({("sale", event_id)})) in first
    assert total(first, "fairdrop_fans_shopping", sale=event_id) >= 1
    assert ("fairdrop_rq_queue_depth", frozenset()) in first
    await fans[0].close()


def test_only_a_bearer_of_the_token_is_answered(fleet: LiveStack) -> None:
    url = f"{fleet.base_url}/metrics"
    expect_error(httpx.get(url, timeout=10), ErrorCode.UNAUTHORIZED)
    wrong = {"Authorization": f"Bearer {fleet.settings.metrics_token}x"}
    expect_error(httpx.get(url, headers=wrong, timeout=10), ErrorCode.FORBIDDEN)
    # Not the organiser's token either.
    expect_error(httpx.get(url, headers=fleet.organiser_headers, timeout=10), ErrorCode.FORBIDDEN)
    right = {"Authorization": f"Bearer {fleet.settings.metrics_token}"}
    answer = httpx.get(url, headers=right, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")


async def test_without_a_token_there_is_no_metrics_path() -> None:
    app = create_app(Settings(secret_key="metrics-test", organiser_token="t"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fairdrop.test") as http:
        expect_error(await http.get("/metrics"), ErrorCode.NOT_FOUND)
        bearer = {"Authorization": "Bearer t"}
        expect_error(await http.get("/metrics", headers=bearer), ErrorCode.NOT_FOUND)


async def test_refusals_the_app_never_sees_are_counted_too() -> None:
    """The edge's cross-site refusal and Starlette's own 404 carry their codes too."""
    app = create_app(Settings(secret_key="metrics-test", organiser_token="t"))
    transport = httpx.ASGITransport(app=app)

    def counted(code: ErrorCode) -> float:
        return float(REFUSALS.labels(code.value)._value.get())

    before = counted(ErrorCode.CROSS_SITE_REQUEST), counted(ErrorCode.NOT_FOUND)
    async with httpx.AsyncClient(transport=transport, base_url="http://fairdrop.test") as http:
        other_site = {"Origin": "https://elsewhere.example"}
        answer = await http.post("/api/events", headers=other_site, content=b"{}")
        expect_error(answer, ErrorCode.CROSS_SITE_REQUEST)
        expect_error(await http.get("/no/such/page"), ErrorCode.NOT_FOUND)
    after = counted(ErrorCode.CROSS_SITE_REQUEST), counted(ErrorCode.NOT_FOUND)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


async def test_a_dead_web_process_counts_stay_and_its_sockets_go(fleet: LiveStack) -> None:
    event_id = open_sale(fleet)
    victim, survivor = "web-1", "web-0"
    fan = Fan(fleet, event_id)
    # A join answered by the victim, and a socket open on it.
    for _ in range(20):
        joined = await fan.post_join()
        if fleet.stack.web_name(joined.headers["X-Upstream"]) == victim:
            break
    else:
        raise AssertionError("no join landed on the victim in 20 tries")
    for _ in range(20):
        socket = await ReconnectingSocket(fan).open()
        if fleet.stack.web_name(socket.upstreams[-1]) == victim:
            break
        await socket.close()
    else:
        raise AssertionError("no socket landed on the victim in 20 tries")
    token = fleet.settings.metrics_token
    before = scrape(web_url(fleet, survivor), token)
    assert total(before, "fairdrop_fan_sockets_open") >= 1
    try:
        fleet.stack.kill(victim)
        after = scrape(web_url(fleet, survivor), token)
    finally:
        await socket.close()
        fleet.stack.restart(victim)
    # What the dead process counted is still there.
    for name in ("fairdrop_joins_total", "fairdrop_holds_total", "fairdrop_payments_total"):
        assert total(after, name) == total(before, name), name
    assert answered_joins(after) >= tallied_joins(await sale_tallies(fleet, event_id)) >= 1
    # Its sockets died with it.
    assert total(after, "fairdrop_fan_sockets_open") < total(before, "fairdrop_fan_sockets_open")


def test_a_live_gauge_of_a_process_that_is_gone_is_forgotten(tmp_path: Path) -> None:
    """What a scrape does for processes nobody marked dead (uvicorn's own workers)."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    live = subprocess.Popen(["sleep", "30"])
    try:
        for pid in (gone.pid, live.pid):
            (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
        (tmp_path / f"counter_{gone.pid}.db").write_bytes(b"")
        forget_dead_processes(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [f"counter_{gone.pid}.db", f"gauge_livesum_{live.pid}.db"]
        )
    finally:
        live.kill()
        live.wait()


async def test_a_paused_sale_s_queue_is_read_at_scrape_time(fleet: LiveStack) -> None:
    event_id = open_sale(fleet)
    paused = httpx.post(
        f"{fleet.base_url}/api/events/{event_id}/pause", headers=fleet.organiser_headers, timeout=10
    )
    assert paused.status_code == 200, paused.text
    for _ in range(3):
        assert (await Fan(fleet, event_id).post_join()).status_code == 200
    samples = scrape(fleet.base_url, fleet.settings.metrics_token)
    # Numbered after the window, and nobody let in while paused.
    assert total(samples, "fairdrop_queue_length", sale=event_id) == 3
    assert total(samples, "fairdrop_fans_shopping", sale=event_id) == 0
