"""Steering a running sale on a live stack (web/sale_steering.py, purchase/steering.py,
queue_engine/lua/steer.lua): rate, cap, hold time, pause message and stock change
while fans wait, each logged with who and when, and a sale Redis loses comes back steered."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import redis

from fairdrop.errors import ErrorCode
from purchase.db import make_engine
from purchase.restore import restore_sale
from queue_engine.keys import EVENTS_INDEX, EventKeys
from queue_engine.scripts import SyncScripts
from tests.live_stack import LiveStack
from tests.web.fans import (
    WAIT_S,
    Crowd,
    Message,
    client,
    expect_error,
    ga,
    is_admitted,
    open_sale,
    stats,
    ticket_type,
)


async def _steer(stack: LiveStack, event_id: str, body: Any) -> httpx.Response:
    async with client(stack, stack.organiser_headers) as http:
        return await http.patch(f"/api/events/{event_id}", json=body)


async def _steered(stack: LiveStack, event_id: str, body: Any) -> dict[str, Any]:
    response = await _steer(stack, event_id, body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _changes(stack: LiveStack, event_id: str) -> list[dict[str, Any]]:
    async with client(stack, stack.organiser_headers) as http:
        response = await http.get(f"/api/events/{event_id}/changes")
    assert response.status_code == 200, response.text
    changes: list[dict[str, Any]] = response.json()["changes"]
    return changes


async def _until(check: Any, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not seen in time"
        await asyncio.sleep(0.1)


async def test_a_higher_rate_and_cap_let_waiting_fans_in_at_the_next_step(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    # One fan a minute, one shopping at a time: the second fan would wait a minute.
    event_id = open_sale(live_stack, rate_per_min=1, cap=1)
    fans = await crowd.joined(event_id, 3)
    await _until(lambda: stats(live_stack, event_id)["admitted"] == 1)
    await asyncio.sleep(1.5)
    assert stats(live_stack, event_id)["admitted"] == 1

    answer = await _steered(live_stack, event_id, {"rate_per_min": 600, "cap": 5, "by": "Ana"})

    assert (answer["event"]["rate_per_min"], answer["event"]["cap"]) == (600, 5)
    assert [(c["field"], c["old"], c["new"], c["by"]) for c in answer["changes"]] == [
        ("rate_per_min", "1", "600", "Ana"),
        ("cap", "1", "5", "Ana"),
    ]
    started = time.monotonic()
    for fan in fans[1:]:
        socket = await fan.open_socket()
        await socket.next(is_admitted)
    assert time.monotonic() - started < 10
    logged = await _changes(live_stack, event_id)
    assert [c["field"] for c in logged] == ["rate_per_min", "cap"]
    assert all(c["at"] and c["address"] for c in logged), logged


async def test_a_new_hold_time_counts_for_fans_let_in_after_it(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, hold_seconds=60)
    await _steered(live_stack, event_id, {"hold_seconds": 300})
    fan = crowd.fan(event_id)
    await fan.join()
    socket = await fan.open_socket()
    admitted = await socket.next(is_admitted)
    left_s = (admitted["admission"]["deadline_ms"] - admitted["now_ms"]) / 1000
    assert 240 < left_s <= 300, admitted


async def test_the_pause_message_reaches_waiting_fans(live_stack: LiveStack, crowd: Crowd) -> None:
    event_id = open_sale(live_stack, cap=1)
    # The second of two fans waits behind the first (one shopping at a time).
    _, second = await crowd.joined(event_id, 2)
    waiting = await second.open_socket()
    async with client(live_stack, live_stack.organiser_headers) as http:
        assert (await http.post(f"/api/events/{event_id}/pause")).status_code == 200
    words = "Back at 20:15: the card terminal is being swapped. 🎟️"
    await _steered(live_stack, event_id, {"pause_message": f"  {words} "})

    told = await waiting.next(lambda m: m.get("pause_message") == words and bool(m.get("paused")))
    assert told["paused"] is True
    assert (await _changes(live_stack, event_id))[-1]["new"] == words


async def test_stock_added_mid_sale_reaches_waiting_fans_who_then_buy(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, cap=1, ticket_types=[ticket_type(stock=1)])
    first, second = crowd.fan(event_id), crowd.fan(event_id)
    await first.join()
    await second.join()
    await first.buy(1)
    waiting = await second.open_socket()
    await waiting.next(lambda m: m.get("event_state") == "sold_out")

    answer = await _steered(live_stack, event_id, {"add_stock": {ga(event_id): 2}})

    assert answer["changes"][0] | {"at": "", "address": ""} == {
        "field": f"stock:{ga(event_id)}",
        "old": "1",
        "new": "3",
        "by": "",
        "at": "",
        "address": "",
    }
    heard: Message = await waiting.next(lambda m: m.get("remaining_total") == 2)
    assert heard["event_state"] == "queueing"
    order = await second.buy(2)
    assert len(order["tickets"]) == 2
    figures = stats(live_stack, event_id)
    assert (figures["sold"], figures["remaining_total"]) == (3, 0)
    assert figures["stock_by_type"] == {ga(event_id): 3}


async def test_a_sale_redis_loses_comes_back_steered(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack, rate_per_min=60, ticket_types=[ticket_type(stock=4)])
    await _steered(
        live_stack,
        event_id,
        {"rate_per_min": 120, "cap": 7, "pause_message": "soon", "add_stock": {ga(event_id): 6}},
    )
    keys = EventKeys(event_id)
    engine = make_engine(live_stack.settings)
    with redis.Redis.from_url(live_stack.settings.redis_url or "") as sale_redis:
        sale_redis.delete(*sale_redis.keys(f"*{keys.tag}*"))
        # What the clock does for a sale Redis lost (after a grace the test does not wait).
        restored = restore_sale(engine, SyncScripts(sale_redis), event_id)
        meta = sale_redis.hgetall(keys.meta)
        stock = sale_redis.hget(keys.stock, ga(event_id))
    engine.dispose()
    assert restored or meta, "the sale did not come back"
    assert (meta[b"rate_per_min"], meta[b"cap"], meta[b"pause_message"], stock) == (
        b"120",
        b"7",
        b"soon",
        b"10",
    )


async def test_an_older_change_arriving_late_changes_nothing_in_redis(
    live_stack: LiveStack,
) -> None:
    """Two organisers at once: steer.lua keeps the later change, whatever order Redis sees."""
    event_id = open_sale(live_stack)
    await _steered(live_stack, event_id, {"cap": 3})
    await _steered(live_stack, event_id, {"cap": 4})
    keys = EventKeys(event_id)
    with redis.Redis.from_url(live_stack.settings.redis_url or "") as sale_redis:
        version = int(sale_redis.hget(keys.meta, "steered") or 0)
        assert version >= 2
        # The first change's call, late: the cap stays the later one.
        old = {"rate_per_min": 6000, "cap": 3, "hold_ms": 60_000, "pause_message": ""}
        SyncScripts(sale_redis).run("steer", event_id, json.dumps(old), "{}", version - 1)
        assert sale_redis.hget(keys.meta, "cap") == b"4"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({}, "nothing to change"),
        ({"rate_per_min": 0}, "rate_per_min"),
        ({"rate_per_min": "fast"}, "rate_per_min"),
        ({"cap": True}, "cap"),
        ({"hold_seconds": 1}, "hold_seconds"),
        ({"pause_message": 5}, "pause_message"),
        ({"pause_message": "x" * 281}, "pause_message"),
        ({"pause_message": "bell\x07"}, "pause_message"),
        ({"add_stock": []}, "add_stock"),
        ({"add_stock": {"x": 0}}, "x"),
        ({"add_stock": {"x": 10_000_001}}, "x"),
        ({"seed": "00"}, "seed"),
        ({"cap": 2, "by": ""}, "by"),
    ],
)
async def test_bad_changes_get_422_naming_the_field_and_change_nothing(
    live_stack: LiveStack, body: dict[str, Any], named: str
) -> None:
    event_id = open_sale(live_stack)
    before = stats(live_stack, event_id)
    response = await _steer(live_stack, event_id, body)
    assert named in expect_error(response, ErrorCode.INVALID_FIELD)["message"]
    assert await _changes(live_stack, event_id) == []
    assert stats(live_stack, event_id)["remaining"] == before["remaining"]


async def test_unknown_sales_types_and_strangers_are_refused(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack)
    expect_error(await _steer(live_stack, "no-such-sale", {"cap": 2}), ErrorCode.UNKNOWN_EVENT)
    unknown_type = await _steer(live_stack, event_id, {"cap": 2, "add_stock": {"nope": 1}})
    expect_error(unknown_type, ErrorCode.UNKNOWN_TICKET_TYPE)
    async with client(live_stack, {}) as http:
        stranger = await http.patch(f"/api/events/{event_id}", json={"cap": 2})
    assert stranger.status_code == 401, stranger.text
    # The refused calls changed nothing, the cap included.
    assert await _changes(live_stack, event_id) == []
    too_much = await _steer(live_stack, event_id, {"add_stock": {ga(event_id): 10_000_000}})
    expect_error(too_much, ErrorCode.INVALID_FIELD)
    assert await _changes(live_stack, event_id) == []


async def test_a_change_to_the_same_values_logs_nothing(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack, cap=9)
    answer = await _steered(live_stack, event_id, {"cap": 9})
    assert answer["changes"] == [] and await _changes(live_stack, event_id) == []


def _later(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def test_before_its_window_a_sale_can_be_renamed_and_moved_then_deleted(
    live_stack: LiveStack,
) -> None:
    event = live_stack.create_event(opens_at=_later(30), drop_at=_later(40))
    event_id = event["id"]
    answer = await _steered(
        live_stack,
        event_id,
        {"name": "Night two", "opens_at": _later(60), "drop_at": _later(70), "cap": 3, "by": "Jo"},
    )
    assert answer["event"]["name"] == "Night two" and answer["event"]["cap"] == 3
    fields = [c["field"] for c in answer["changes"]]
    assert fields[:3] == ["name", "opens_at", "drop_at"] and fields[-1] == "cap", fields
    with redis.Redis.from_url(live_stack.settings.redis_url or "") as sale_redis:
        meta = sale_redis.hgetall(EventKeys(event_id).meta)
    drop_ms = datetime.fromisoformat(answer["event"]["drop_at"]).timestamp() * 1000
    assert abs(int(meta[b"drop_at"]) - drop_ms) < 1
    # The draw's beacon round moved with the drop: it is out only after the new drop.
    beacon = json.loads(meta[b"beacon"]) if meta[b"beacon"] else None
    if beacon is not None:
        assert beacon["round_time"] * 1000 > drop_ms

    async with client(live_stack, live_stack.organiser_headers) as http:
        deleted = await http.delete(f"/api/events/{event_id}")
        assert deleted.status_code == 200, deleted.text
        gone = await http.get(f"/api/events/{event_id}/stats")
    expect_error(gone, ErrorCode.UNKNOWN_EVENT)
    with redis.Redis.from_url(live_stack.settings.redis_url or "") as sale_redis:
        assert sale_redis.keys(f"*{EventKeys(event_id).tag}*") == []
        assert not sale_redis.sismember(EVENTS_INDEX, event_id)


async def test_once_the_window_opens_times_and_deletion_are_refused_and_nothing_changes(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    await crowd.fan(event_id).buy(1)
    moved = await _steer(live_stack, event_id, {"drop_at": _later(5), "cap": 50})
    expect_error(moved, ErrorCode.WINDOW_OPEN)
    async with client(live_stack, live_stack.organiser_headers) as http:
        refused = await http.delete(f"/api/events/{event_id}")
    expect_error(refused, ErrorCode.WINDOW_OPEN)
    assert await _changes(live_stack, event_id) == []
    assert stats(live_stack, event_id)["sold"] == 1


async def test_a_sale_with_presale_buyers_cannot_be_deleted(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = live_stack.create_event(opens_at=_later(30), drop_at=_later(40))["id"]
    async with client(live_stack, live_stack.organiser_headers) as http:
        made = await http.post(
            f"/api/events/{event_id}/presale-links",
            json={"allowance": 2, "expires_at": _later(60)},
        )
    assert made.status_code == 201, made.text
    fan = crowd.fan(event_id)
    await fan.join()
    items = [{"type": ga(event_id), "quantity": 1}]
    held = await fan.request(
        "POST", fan.path(f"/presale/{made.json()['id']}/holds"), json={"items": items}
    )
    assert held.status_code == 200, held.text
    async with client(live_stack, live_stack.organiser_headers) as http:
        refused = await http.delete(f"/api/events/{event_id}")
    expect_error(refused, ErrorCode.SALE_HAS_BUYERS)
    assert stats(live_stack, event_id)["held"] == 1
