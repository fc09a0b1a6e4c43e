"""launch/lifecycle_consumer.py: a consumer sees every ticket change exactly once
across a restart.

Real parts end to end: a live stack (web, worker, clock, Redis, PostgreSQL),
changes made the way fans, the organiser and the door make them (holds, a
release, sales, check-ins, a refund), and the consumer as its own process,
killed with SIGKILL between applying an entry and acknowledging it, then
started again under another name (a new host: it must claim what the dead one
left). Every entry of the stream is applied once and only once: the
consumer's SQLite holds each id once, and across both runs' output each id
was applied once (a redelivered one is printed as not applied).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from launch.lifecycle_consumer import ChangeStore, LifecycleConsumer
from queue_engine.keys import EventKeys
from queue_engine.lifecycle import CHECKED_IN, HELD, REFUNDED, RELEASED, SOLD, lifecycle_entries
from queue_engine.scripts import SyncScripts
from tests.live_stack import LiveStack
from tests.reads import text
from tests.web.fans import Crowd, client, open_sale, ticket_type
from tests.web.test_tickets import check_in

GROUP = "restart-test"
# Bounded waits: the consumer applies an entry every SLOW_MS in its first run.
SLOW_MS = 400
WAIT_S = 30.0


def _consumer(
    stack: LiveStack, event_id: str, db: Path, log: Path, *args: str
) -> subprocess.Popen[bytes]:
    env = {**os.environ, **stack.settings.as_env()}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "launch.lifecycle_consumer", "--event", event_id,
             "--group", GROUP, "--db", str(db), *args],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip


def _applied_ids(db: Path) -> list[str]:
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        try:
            return [row[0] for row in connection.execute("SELECT entry_id FROM applied")]
        except sqlite3.OperationalError:  # the table is not made yet
            return []


def _lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


async def _changes(stack: LiveStack, crowd: Crowd, event_id: str, buyers: int) -> int:
    """Holds, a release, sales, check-ins and a refund through the API; how many changes."""
    changes = 0
    orders = []
    for _ in range(buyers):
        orders.append(await crowd.fan(event_id).buy(2))
        changes += 2  # held, sold
    letting_go = crowd.fan(event_id)
    hold_id = await letting_go.hold(1)
    released = await letting_go.request("POST", letting_go.path(f"/holds/{hold_id}/release"))
    assert released.status_code == 202, released.text  # the worker lets it go
    changes += 2  # held, released
    for order in orders[:-1]:
        for ticket in order["tickets"]:
            answer = await check_in(stack, {"code": ticket["code"], "door": "north"})
            assert answer.json()["result"] == "valid", answer.text
            changes += 1
    async with client(stack, stack.organiser_headers) as http:
        cancelled = await http.post(
            f"/api/events/{event_id}/orders/{orders[-1]['order_id']}/cancel"
        )
    assert cancelled.status_code in (200, 202), cancelled.text
    return changes + 1  # refunded


def _wait(condition: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {WAIT_S}s for {what}")


async def test_a_consumer_killed_mid_stream_and_started_again_applies_every_change_once(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    crowd = Crowd(live_stack)
    event_id = open_sale(live_stack, name="stream night", ticket_types=[ticket_type(stock=20)])
    client_ = redis.Redis.from_url(str(live_stack.settings.redis_url))
    key = EventKeys(event_id).lifecycle
    db, first_log, second_log = tmp_path / "changes.sqlite3", tmp_path / "a.log", tmp_path / "b.log"
    try:
        made = await _changes(live_stack, crowd, event_id, buyers=2)
        first = _consumer(
            live_stack, event_id, db, first_log, "--name", "a", "--slow-ms", str(SLOW_MS)
        )
        # Killed while it sleeps between applying an entry and acknowledging it.
        _wait(lambda: len(_applied_ids(db)) >= 3, "the first consumer to apply three entries")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        pending = client_.xpending(key, GROUP)
        assert pending["pending"] >= 1, pending
        applied_before_kill = set(_applied_ids(db))
        assert len(applied_before_kill) < made
        unacked_but_applied = {
            text(p["message_id"]) for p in client_.xpending_range(key, GROUP, "-", "+", 100)
        } & applied_before_kill
        assert unacked_but_applied, "the kill did not land between apply and XACK"

        # More changes while no consumer runs, and while the second one does.
        made += await _changes(live_stack, crowd, event_id, buyers=2)
        second = _consumer(
            live_stack, event_id, db, second_log,
            "--name", "b", "--claim-idle-ms", "300", "--idle-exit", "8",
        )  # fmt: skip
        made += await _changes(live_stack, crowd, event_id, buyers=2)
        assert second.wait(timeout=WAIT_S + 30) == 0, second_log.read_text()
    finally:
        await crowd.close()

    stream_ids = [e.id for e in lifecycle_entries(client_, event_id)]
    kinds = Counter(e.kind for e in lifecycle_entries(client_, event_id))
    client_.close()
    # Every change made is on the stream once ...
    assert len(stream_ids) == made == sum(kinds.values())
    assert set(kinds) == {HELD, SOLD, RELEASED, CHECKED_IN, REFUNDED}
    # ... and applied once: each id in the store once, applied once across both runs,
    assert sorted(_applied_ids(db)) == sorted(stream_ids)
    lines = _lines(first_log) + _lines(second_log)
    applied = Counter(line["id"] for line in lines if line["applied"])
    assert applied == Counter(stream_ids)
    # the entry applied before the kill was delivered again, and not applied again,
    redelivered = {line["id"] for line in _lines(second_log) if not line["applied"]}
    assert unacked_but_applied <= redelivered
    # and nothing is left unacknowledged.
    check = redis.Redis.from_url(str(live_stack.settings.redis_url))
    assert check.xpending(key, GROUP)["pending"] == 0
    check.close()
    with sqlite3.connect(db) as connection:
        tickets = dict(connection.execute("SELECT kind, tickets FROM tickets_by_kind"))
    # Three rounds of two orders of two tickets; one order a round checked in, one cancelled.
    assert tickets == {HELD: 3 * 5, SOLD: 3 * 4, RELEASED: 3, CHECKED_IN: 3 * 2, REFUNDED: 3 * 2}


def test_a_consumer_follows_a_stream_redis_lost_and_began_again(
    redis_url: str, tmp_path: Path
) -> None:
    """A Redis that restarted empty lost the stream and its group (NOGROUP):
    the consumer makes the group again and applies the new stream's entries."""
    client_ = redis.Redis.from_url(redis_url)
    scripts = SyncScripts(client_)
    event_id = uuid.uuid4().hex[:12]
    db = tmp_path / "changes.sqlite3"
    store = ChangeStore(db)
    consumer = LifecycleConsumer(client_, event_id, store, name="only")
    follower = threading.Thread(target=consumer.run, kwargs={"idle_exit_s": 3.0})
    follower.start()
    try:
        for code in ("a", "b", "c"):
            scripts.run("stream_once", event_id, "checked_in", code, "ga", "order-1", code)
        _wait(lambda: len(_applied_ids(db)) == 3, "the first three entries")
        client_.delete(EventKeys(event_id).lifecycle, EventKeys(event_id).lifecycle_once)
        for code in ("d", "e"):
            scripts.run("stream_once", event_id, "checked_in", code, "ga", "order-1", code)
    finally:
        follower.join(timeout=WAIT_S)
    assert not follower.is_alive()
    assert len(_applied_ids(db)) == 5
    store.close()
    client_.close()
