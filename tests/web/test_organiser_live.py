"""The organiser's live socket on a running stack (web/organiser_live.py): the
token as the first message, the history on connect, a sample pushed after a
change, and the clock's samples behind them (queue_engine/samples.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

from tests.live_stack import FLEET_WEB_PROCESSES, LiveStack
from tests.web.fans import WAIT_S, Fan, ga, open_sale

Message = dict[str, Any]


def _url(stack: LiveStack, event_id: str, base_url: str = "") -> str:
    base = base_url or stack.base_url
    return base.replace("http", "ws", 1) + f"/ws/organiser/{event_id}"


@asynccontextmanager
async def organiser_socket(
    stack: LiveStack, event_id: str, token: str | None = None, base_url: str = ""
) -> AsyncIterator[ClientConnection]:
    """An organiser's socket, the token sent first (the stack's own unless named);
    to ``base_url`` (one web process of a fleet) when given."""
    async with connect(_url(stack, event_id, base_url)) as ws:
        given = stack.settings.organiser_token if token is None else token
        await ws.send(json.dumps({"t": "auth", "token": given}))
        yield ws


async def _next(ws: ClientConnection, wanted: Callable[[Message], bool]) -> Message:
    """The next message ``wanted`` says yes to, within WAIT_S."""
    async with asyncio.timeout(WAIT_S):
        while True:
            message: Message = json.loads(await ws.recv())
            if wanted(message):
                return message


async def _refusal(ws: ClientConnection) -> tuple[Message, int | None]:
    """The error message the server sends before it closes, and the close code."""
    async with asyncio.timeout(WAIT_S + 6):
        error: Message = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code is not None
    return error, ws.close_code


async def test_a_wrong_token_is_refused_with_4403(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack)
    async with organiser_socket(live_stack, event_id, token="not-the-token") as ws:
        error, code = await _refusal(ws)
    assert (error["t"], error["code"], code) == ("error", "forbidden", 4403)


async def test_a_first_message_without_the_token_is_refused_with_4401(
    live_stack: LiveStack,
) -> None:
    event_id = open_sale(live_stack)
    async with connect(_url(live_stack, event_id)) as ws:
        await ws.send(json.dumps({"t": "ping"}))
        error, code = await _refusal(ws)
    assert (error["code"], code) == ("unauthorized", 4401)
    assert '"t":"auth"' in error["message"]


async def test_a_socket_that_says_nothing_is_closed_after_the_wait(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack)
    async with connect(_url(live_stack, event_id)) as ws:
        error, code = await _refusal(ws)
    assert (error["code"], code) == ("unauthorized", 4401)
    assert "within 5 seconds" in error["message"]


async def test_an_oversized_first_message_closes_with_1009(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack)
    async with connect(_url(live_stack, event_id)) as ws:
        await ws.send(json.dumps({"t": "auth", "token": "x" * 5_000}))
        error, code = await _refusal(ws)
    assert (error["code"], code) == ("message_too_large", 1009)


async def test_a_flood_after_the_token_closes_with_1008(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack)
    async with organiser_socket(live_stack, event_id) as ws:
        await _next(ws, lambda m: m["t"] == "history")
        for _ in range(live_stack.settings.max_ws_messages_per_second + 5):
            await ws.send(json.dumps({"t": "ping"}))
        async with asyncio.timeout(WAIT_S):
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.recv()
    assert ws.close_code == 1008


async def test_an_unknown_sale_is_refused_with_4404(live_stack: LiveStack) -> None:
    async with organiser_socket(live_stack, "no-such-sale") as ws:
        error, code = await _refusal(ws)
    assert (error["code"], code) == ("unknown_event", 4404)


async def test_a_late_dashboard_gets_the_history_then_a_sample_a_second(
    live_stack: LiveStack,
) -> None:
    event_id = open_sale(live_stack)
    await asyncio.sleep(3.5)  # the clock samples the sale meanwhile
    async with organiser_socket(live_stack, event_id) as ws:
        history = await _next(ws, lambda m: m["t"] == "history")
        seconds = [s["s"] for s in history["samples"]]
        assert len(seconds) >= 2, history
        assert seconds == sorted(set(seconds)), "one sample a second, oldest first"
        newest = history["samples"][-1]
        assert newest["st"] == "queueing" and newest["l"] == 10 and newest["r"] == 6_000
        figures = history["stats"]
        assert figures["state"] == "queueing" and figures["remaining_total"] == 10
        assert figures["opens_at_ms"] < figures["drop_at_ms"] <= history["now_ms"]
        pushed = await _next(ws, lambda m: m["t"] == "sample" and bool(m["samples"]))
        assert pushed["samples"][0]["s"] > seconds[-1], "only samples it has not seen"


async def test_a_join_and_a_pause_reach_the_dashboard_in_pushed_samples(
    live_stack: LiveStack,
) -> None:
    event_id = open_sale(live_stack)
    async with organiser_socket(live_stack, event_id) as ws:
        history = await _next(ws, lambda m: m["t"] == "history")
        joined_before = history["samples"][-1]["j"] if history["samples"] else 0
        fan = Fan(live_stack, event_id)
        await fan.join()
        await fan.admission_token()
        pushed = await _next(ws, lambda m: any(s["j"] > joined_before for s in m["samples"]))
        arrived = next(s for s in pushed["samples"] if s["j"] > joined_before)
        assert arrived["j"] == joined_before + 1
        await _next(ws, lambda m: any(s["a"] >= 1 for s in m["samples"]))

        paused = httpx.post(
            f"{live_stack.base_url}/api/events/{event_id}/pause",
            headers=live_stack.organiser_headers,
        )
        assert paused.status_code == 200, paused.text
        told = await _next(ws, lambda m: any(s["p"] == 1 for s in m["samples"]))
        assert told["stats"]["paused"] is True
        assert told["stats"]["held_by_type"] == {ga(event_id): 0}


async def test_two_dashboards_of_one_sale_get_the_same_samples(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack)
    async with (
        organiser_socket(live_stack, event_id) as first,
        organiser_socket(live_stack, event_id) as second,
    ):
        await _next(first, lambda m: m["t"] == "history")
        await _next(second, lambda m: m["t"] == "history")
        one = await _next(first, lambda m: m["t"] == "sample" and bool(m["samples"]))
        wanted = one["samples"][-1]["s"]
        other = await _next(second, lambda m: any(s["s"] == wanted for s in m["samples"]))
        assert [s for s in other["samples"] if s["s"] == wanted] == [one["samples"][-1]]


def _lrange_calls(stack: LiveStack) -> int:
    """How many LRANGE calls the stack's Redis has served: the feeds' reads of
    the samples, and the RQ worker's own (about one a second, whatever the
    dashboards do)."""
    assert stack.settings.redis_url
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        stats = client.info("commandstats").get("cmdstat_lrange", {})
        return int(stats.get("calls", 0))
    finally:
        client.close()


async def _reads_while_pushed(stack: LiveStack, event_id: str, dashboards: int) -> int:
    """LRANGE calls while ``dashboards`` sockets of the sale are each pushed four samples."""
    async with contextlib.AsyncExitStack() as sockets:
        opened = [
            await sockets.enter_async_context(organiser_socket(stack, event_id))
            for _ in range(dashboards)
        ]
        for ws in opened:
            await _next(ws, lambda m: m["t"] == "history")
        before = _lrange_calls(stack)
        for _ in range(4):
            for ws in opened:
                await _next(ws, lambda m: m["t"] == "sample")
        return _lrange_calls(stack) - before


async def test_a_process_reads_a_sale_once_a_second_whatever_its_dashboards(
    live_stack: LiveStack,
) -> None:
    event_id = open_sale(live_stack)
    alone = await _reads_while_pushed(live_stack, event_id, 1)
    many = await _reads_while_pushed(live_stack, event_id, 6)
    # Read once a socket, six dashboards would cost twenty more reads than one.
    assert many <= alone + 3, (alone, many)


async def test_every_web_process_serves_the_same_series(fleet: LiveStack) -> None:
    event_id = open_sale(fleet)
    await asyncio.sleep(2.5)  # a few samples first
    ports = list(fleet.stack.web_ports.values())
    assert len(ports) == FLEET_WEB_PROCESSES
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    async with (
        organiser_socket(fleet, event_id, base_url=urls[0]) as first,
        organiser_socket(fleet, event_id, base_url=urls[1]) as second,
    ):
        one = await _next(first, lambda m: m["t"] == "history")
        other = await _next(second, lambda m: m["t"] == "history")
        shared = {s["s"] for s in one["samples"]} & {s["s"] for s in other["samples"]}
        assert len(shared) >= 2, (one["samples"], other["samples"])
        assert [s for s in one["samples"] if s["s"] in shared] == [
            s for s in other["samples"] if s["s"] in shared
        ]
        pushed = await _next(first, lambda m: m["t"] == "sample" and bool(m["samples"]))
        wanted = pushed["samples"][-1]
        again = await _next(second, lambda m: any(s["s"] == wanted["s"] for s in m["samples"]))
        assert wanted in again["samples"]
    # And through nginx, as a browser comes (deploy/nginx.conf.template's /ws/).
    async with organiser_socket(fleet, event_id) as proxied:
        history = await _next(proxied, lambda m: m["t"] == "history")
        assert wanted in history["samples"]


_FIRST_FRAME = st.one_of(
    st.fixed_dictionaries(
        {"t": st.sampled_from(["auth", "ping", "AUTH", ""]) | st.text(max_size=6)},
        optional={"token": st.text(max_size=40) | st.integers() | st.none()},
    ).map(json.dumps),
    st.text(max_size=60),  # not JSON at all
    st.binary(max_size=60),
    st.integers(1, 40).map(lambda depth: "[" * depth * 100 + "]" * depth * 100),
    st.integers(1_100, 3_000).map(lambda size: '{"t":"auth","token":"' + "x" * size + '"}'),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frame=_FIRST_FRAME)
def test_any_first_frame_without_the_token_is_refused_cleanly(
    live_stack: LiveStack, frame: str | bytes
) -> None:
    event_id = open_sale_once(live_stack)
    with sync_connect(_url(live_stack, event_id), open_timeout=WAIT_S) as ws:
        ws.send(frame)
        error = json.loads(ws.recv(timeout=WAIT_S))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=WAIT_S)
    assert error["t"] == "error", error
    expected = {"unauthorized": 4401, "forbidden": 4403, "message_too_large": 1009}
    assert ws.close_code == expected[error["code"]], (error, ws.close_code)


_FUZZED_SALES: dict[str, str] = {}


def open_sale_once(stack: LiveStack) -> str:
    """One sale for every example (a sale per example would be 25 more)."""
    if stack.base_url not in _FUZZED_SALES:
        _FUZZED_SALES[stack.base_url] = open_sale(stack)
    return _FUZZED_SALES[stack.base_url]
