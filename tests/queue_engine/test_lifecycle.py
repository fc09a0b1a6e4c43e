"""queue_engine/lifecycle.py and ``record_change`` (lua/_prelude.lua): each kind of
ticket change made by a script writes exactly one entry on the sale's stream,
and a repeated call (a retried job, a second cancel) writes none. Real scripts
on a real Redis; check-ins are tests/purchase/test_db_changes_stream.py's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis

from buffer.draw import run_draw
from buffer.order import seed_commitment
from loadtests.sync_sale import create_sale_sync, hold_tickets, join_sync
from purchase.holds import confirm_hold, release_hold
from purchase.orders import return_sold_tickets
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.lifecycle import (
    EXPIRED,
    HELD,
    REFUNDED,
    RELEASED,
    SOLD,
    LifecycleEntry,
    count_by_kind,
    lifecycle_entries,
)
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.scripts import SyncScripts

OPENS, DROP, HOLD_MS = 10_000, 12_000, 5_000
FANS = [f"fan-{i}" for i in range(4)]


@dataclass
class Sale:
    scripts: SyncScripts
    event_id: str
    now: int

    def entries(self) -> list[LifecycleEntry]:
        return lifecycle_entries(self.scripts.client, self.event_id)

    def hold(self, fan: str, quantity: int = 1, request_id: str | None = None) -> str:
        request_id = request_id or uuid.uuid4().hex
        answer = hold_tickets(
            self.scripts, self.event_id, fan, request_id, [("ga", quantity)], self.now
        )
        assert answer.body["ok"], answer.body
        hold_id: str = answer.body["hold"]["id"]
        return hold_id


def open_sale(scripts: SyncScripts) -> Sale:
    """A sale whose FANS were drawn and let in (rate and cap let all four in)."""
    event_id = uuid.uuid4().hex[:12]
    seed = uuid.uuid4().hex * 2
    spec = SaleSpec(
        event_id, "stream", OPENS, DROP, 6_000, 10, HOLD_MS // 1000, seed,
        seed_commitment(seed), (TicketTypeSpec("ga", "GA", 100, "EUR", 40, 2),),
    )  # fmt: skip
    assert create_sale_sync(scripts, spec)
    for fan in FANS:
        join_sync(scripts, event_id, fan, OPENS + 1)
    result = admit_next_batch(scripts, event_id, heartbeat_ms=1_000, now_ms=DROP)
    assert result.state == "drawing"
    drawn = run_draw(scripts, event_id)
    assert drawn is not None and drawn.state == "queueing"
    now = DROP + 1_000
    assert admit_next_batch(scripts, event_id, heartbeat_ms=1_000, now_ms=now).admitted == 4
    assert scripts.client.zcard(EventKeys(event_id).shopping) == len(FANS)
    return Sale(scripts, event_id, now)


@pytest.fixture
def scripts(redis_url: str) -> Iterator[SyncScripts]:
    client = redis.Redis.from_url(redis_url)
    yield SyncScripts(client)
    client.close()


def test_a_hold_and_its_release_write_one_entry_each_however_often_asked(
    scripts: SyncScripts,
) -> None:
    sale = open_sale(scripts)
    hold_id = sale.hold(FANS[0], 2, request_id="r-1")
    # The same request again (a retried job): the stored answer, no second entry.
    assert sale.hold(FANS[0], 2, request_id="r-1") == hold_id
    [held] = sale.entries()
    assert (held.kind, held.sale, held.items, held.hold) == (
        HELD,
        sale.event_id,
        (("ga", 2),),
        hold_id,
    )
    assert (held.order, held.codes) == ("", ())
    assert held.at_ms > 0 and held.id.startswith(f"{held.at_ms}-")

    for _ in range(2):
        assert release_hold(scripts, sale.event_id, hold_id, FANS[0], sale.now).body["ok"]
    assert [e.kind for e in sale.entries()] == [HELD, RELEASED]
    assert sale.entries()[1].items == (("ga", 2),) and sale.entries()[1].hold == hold_id


def test_an_expiry_writes_one_entry_whichever_script_finds_it(scripts: SyncScripts) -> None:
    sale = open_sale(scripts)
    swept = sale.hold(FANS[0])
    unswept = sale.hold(FANS[1])
    later = sale.now + HOLD_MS + 1
    # confirm.lua meets an expired hold the clock has not swept: it expires it
    # (one entry), then sells it late since its ticket is free (one more).
    assert confirm_hold(scripts, sale.event_id, unswept, "pay-1", later).body["ok"]
    # The clock's sweep (tick.lua) expires the other, once, over several steps.
    for step in range(3):
        admit_next_batch(scripts, sale.event_id, heartbeat_ms=1_000, now_ms=later + step)
    kinds = [(e.kind, e.hold) for e in sale.entries()]
    assert kinds == [
        (HELD, swept),
        (HELD, unswept),
        (EXPIRED, unswept),
        (SOLD, unswept),
        (EXPIRED, swept),
    ]


def test_a_sale_and_its_refund_write_one_entry_each(scripts: SyncScripts) -> None:
    sale = open_sale(scripts)
    hold_id = sale.hold(FANS[2], 2)
    for _ in range(2):  # a webhook and the worker confirming the same payment
        assert confirm_hold(scripts, sale.event_id, hold_id, "pay-1", sale.now).body["ok"]
    for _ in range(2):  # a retried cancel
        answer = return_sold_tickets(scripts, sale.event_id, hold_id, "order-9", sale.now)
        assert answer["ok"]
    entries = sale.entries()
    assert [e.kind for e in entries] == [HELD, SOLD, REFUNDED]
    assert all(e.hold == hold_id and e.items == (("ga", 2),) for e in entries)
    assert entries[2].order == "order-9"
    assert count_by_kind(scripts.client, sale.event_id) == {HELD: 1, SOLD: 1, REFUNDED: 1}


def test_the_stream_is_trimmed_to_about_its_setting_and_keeps_the_sales_tag(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    small = SyncScripts(client, lifecycle_maxlen=10)
    sale = open_sale(small)
    changes = 300  # check-ins: the change a script can make the most of in a row
    for i in range(changes):
        assert small.run(
            "stream_once", sale.event_id, "checked_in", f"code-{i}", "ga", "order-1", f"code-{i}"
        )
    key = EventKeys(sale.event_id).lifecycle
    assert key.startswith(EventKeys(sale.event_id).tag)
    # MAXLEN ~ trims whole macro nodes (100 entries by default): never far past it.
    assert 10 <= client.xlen(key) <= 10 + 100 < changes
    last = sale.entries()[-1]
    assert (last.kind, last.codes, last.items, last.order) == (
        "checked_in", (f"code-{changes - 1}",), (("ga", 1),), "order-1",
    )  # fmt: skip
    client.close()
