"""purchase/db_changes_stream.py: each door check-in is one lifecycle entry, even when
the door's process dies between the database commit and the stream write."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.asyncio
from sqlalchemy import Engine

from purchase.db import make_engine
from purchase.db_changes_stream import (
    SWEEP_SECONDS,
    CheckInSweep,
    check_in_args,
    stream_check_in_async,
    stream_check_ins_since,
)
from purchase.tickets import check_in, find_ticket
from queue_engine.lifecycle import CHECKED_IN, lifecycle_entries
from queue_engine.scripts import AsyncScripts, SyncScripts
from tests.live_stack import LiveStack
from tests.purchase.test_tickets import engine, sold_ticket
from tests.web.fans import Crowd
from tests.web.test_tickets import bought_codes

__all__ = ["engine"]  # the fixture, on PostgreSQL and SQLite


@pytest.fixture
def scripts(redis_url: str) -> Iterator[SyncScripts]:
    client = redis.Redis.from_url(redis_url)
    yield SyncScripts(client)
    client.close()


def test_a_check_in_the_door_did_not_stream_is_streamed_once_by_the_sweep(
    engine: Engine, scripts: SyncScripts
) -> None:
    code = sold_ticket(engine)
    before = datetime.now(UTC) - timedelta(seconds=1)
    # The door committed the check-in and died before its XADD.
    assert check_in(engine, code, "north", datetime.now(UTC)) is not None
    ticket = find_ticket(engine, code)
    assert ticket is not None
    assert lifecycle_entries(scripts.client, ticket.event_id) == []
    assert stream_check_ins_since(engine, scripts, before) == 1
    # Swept again (the next sweep's window overlaps this one): nothing more.
    assert stream_check_ins_since(engine, scripts, before) == 0
    [entry] = lifecycle_entries(scripts.client, ticket.event_id)
    assert (entry.kind, entry.codes, entry.order) == (CHECKED_IN, (code,), ticket.order_id)
    assert entry.items == ((ticket.ticket_type_id, 1),)


def test_a_check_in_the_door_streamed_is_not_streamed_again(
    engine: Engine, scripts: SyncScripts
) -> None:
    code = sold_ticket(engine)
    assert check_in(engine, code, "north", datetime.now(UTC)) is not None
    ticket = find_ticket(engine, code)
    assert ticket is not None
    args = check_in_args(ticket.code, ticket.ticket_type_id, ticket.order_id)
    assert scripts.run("stream_once", ticket.event_id, *args)
    # The door's own call again (a retry), then the sweep: both find it streamed.
    assert scripts.run("stream_once", ticket.event_id, *args) is None
    sweep = CheckInSweep(engine, scripts)
    assert sweep.run_if_due() == 0
    assert len(lifecycle_entries(scripts.client, ticket.event_id)) == 1


def test_the_sweep_looks_again_only_every_sweep_seconds(
    engine: Engine, scripts: SyncScripts
) -> None:
    sweep = CheckInSweep(engine, scripts)
    assert sweep.run_if_due() == 0
    code = sold_ticket(engine)
    assert check_in(engine, code, "north", datetime.now(UTC)) is not None
    # Not due yet: the clock calls it every second, it queries every SWEEP_SECONDS.
    assert sweep.run_if_due() == 0
    ticket = find_ticket(engine, code)
    assert ticket is not None and lifecycle_entries(scripts.client, ticket.event_id) == []


async def test_the_clock_streams_a_check_in_whose_door_died_after_the_commit(
    live_stack: LiveStack,
) -> None:
    crowd = Crowd(live_stack)
    try:
        [code] = await bought_codes(live_stack, crowd)
    finally:
        await crowd.close()
    engine = make_engine(live_stack.settings)
    # What the door's process did before it died: the database's half only.
    assert check_in(engine, code, "north", datetime.now(UTC)) is not None
    ticket = find_ticket(engine, code)
    engine.dispose()
    assert ticket is not None
    client = redis.Redis.from_url(str(live_stack.settings.redis_url))
    try:
        deadline = time.monotonic() + 3 * SWEEP_SECONDS + 5
        kinds: list[str] = []
        while time.monotonic() < deadline:
            kinds = [e.kind for e in lifecycle_entries(client, ticket.event_id)]
            if CHECKED_IN in kinds:
                break
            time.sleep(0.2)
        assert kinds.count(CHECKED_IN) == 1, kinds
    finally:
        client.close()


async def test_a_door_whose_redis_is_out_of_reach_still_answers_and_leaves_it_to_the_sweep(
    engine: Engine, scripts: SyncScripts
) -> None:
    code = sold_ticket(engine)
    before = datetime.now(UTC) - timedelta(seconds=1)
    answer = check_in(engine, code, "north", datetime.now(UTC))
    assert answer is not None and answer.result == "valid"
    # A port nothing listens on: the door's stream write fails, the door's answer stands.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    unreachable = redis.asyncio.Redis(host="127.0.0.1", port=dead_port, socket_connect_timeout=1)
    try:
        assert await stream_check_in_async(AsyncScripts(unreachable), answer.ticket) is None
    finally:
        await unreachable.aclose()
    assert stream_check_ins_since(engine, scripts, before) == 1
