"""The draw survives Redis: the clock saves a finished draw to the database
(purchase/drawn.py), and a sale restored after Redis lost it keeps the draw
its fans were shown (purchase/restore.py, restore_sale.lua)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func
from sqlmodel import col, select

from buffer.arrivals import NO_SHARE, Joiner, join_args
from buffer.beacon import fetch_chain
from buffer.order import draw_key, draw_order, new_seed, seed_commitment
from fairdrop.settings import Settings
from launch.clock import check_redis, keep_draw, step_all_sales
from loadtests.sync_sale import create_sale_sync, join_sync, snapshot_sync
from purchase.db import make_engine, open_session, upgrade_database
from purchase.drawn import (
    DRAWN_STATES,
    DrawNotSaved,
    read_drawn_entrants,
    save_draw,
    unsaved_draws,
)
from purchase.models import DrawnEntrant, DrawRecord, Event, Order, OrderItem, TicketType
from purchase.restore import restore_lost_sales, sale_spec
from queue_engine.keys import EventKeys
from queue_engine.scripts import SyncScripts
from tests.reads import set_members, text, zset_scores

# More than two ZADDs of the restore's 1,500 and than one of the draw's writes.
FANS = 3_007
STOCK = 20
# What GET /api/events/{id}/draw is made of (queue_engine/lua/snapshot.lua).
DRAW_FIELDS = (
    "state",
    "algorithm",
    "beacon",
    "promise",
    "seed_hash",
    "seed",
    "entrants",
    "entrants_digest",
    "frozen_at",
    "digest_at",
    "drawn_at",
)
DRAW_WAIT_S = 30.0


@dataclass
class Drop:
    engine: Engine
    scripts: SyncScripts
    event_id: str

    @property
    def client(self) -> redis.Redis:
        client = self.scripts.client
        assert isinstance(client, redis.Redis)  # these tests run on a lone server
        return client

    @property
    def keys(self) -> EventKeys:
        return EventKeys(self.event_id)

    def draw(self) -> dict[str, Any]:
        live = snapshot_sync(self.scripts, self.event_id)
        assert live is not None
        return {field: live.get(field) for field in DRAW_FIELDS}

    def meta(self, field: str) -> str:
        return text(self.client.hget(self.keys.meta, field) or b"")

    def buy(self, fan: str, presale: str | None = None) -> None:
        """An order the database has for ``fan``, as the worker writes one."""
        order_id = uuid.uuid4().hex
        with open_session(self.engine) as session:
            session.add(
                Order(
                    id=order_id,
                    event_id=self.event_id,
                    fan_id=fan,
                    hold_id=uuid.uuid4().hex,
                    payment_ref=uuid.uuid4().hex,
                    payment_provider="test",
                    total_cents=100,
                    currency="EUR",
                    presale_id=presale,
                )
            )
            session.flush()
            session.add(
                OrderItem(
                    order_id=order_id,
                    ticket_type_id=f"{self.event_id}.ga",
                    quantity=1,
                    unit_price_cents=100,
                )
            )
            session.commit()


def _engine(settings: Settings) -> Iterator[Engine]:
    upgrade_database(settings)
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    yield from _engine(Settings(database_url=database_url, data_dir=tmp_path))


@pytest.fixture(params=["postgresql", "sqlite"])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The database of each kind fairdrop runs on (SQLite: the embedded default)."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("database_url")
        yield from _engine(Settings(database_url=url, data_dir=tmp_path))
    else:
        yield from _engine(Settings(data_dir=tmp_path))


def frozen(
    engine: Engine,
    scripts: SyncScripts,
    fans: int,
    beacon_url: str = "",
    beacon_in_s: float = 0,
    stock: int = STOCK,
) -> Drop:
    """A sale of ``stock`` tickets whose ``fans`` joined in the window, just
    closed: frozen by the clock's next step. With ``beacon_url``, its draw
    waits for the beacon's first round ``beacon_in_s`` from now."""
    now = datetime.now(UTC)
    seed = new_seed()
    event = Event(
        id=f"ev-{uuid.uuid4().hex[:10]}",
        name="drawn",
        opens_at=now - timedelta(minutes=5),
        drop_at=now - timedelta(seconds=1),
        rate_per_min=600,
        cap=50,
        hold_seconds=60,
        currency="EUR",
        seed_hash=seed_commitment(seed),
        seed=seed,
        # Made before the restore grace below, as a sale Redis lost would be.
        created_at=now - timedelta(minutes=5),
    )
    if beacon_url:
        chain = fetch_chain(beacon_url)
        round_ = chain.round_after(now.timestamp() + beacon_in_s)
        event.beacon = json.dumps(
            {**chain.as_json(), "round": round_, "round_time": chain.round_time(round_)}
        )
    ticket = TicketType(
        id=f"{event.id}.ga",
        event_id=event.id,
        name="GA",
        price_cents=100,
        currency="EUR",
        stock=stock,
        per_person_limit=2,
        created_at=now - timedelta(minutes=5),
    )
    with open_session(engine) as session:
        session.add(event)
        session.add(ticket)
        session.commit()
    assert create_sale_sync(scripts, sale_spec(event, [ticket]))
    in_window = int((now - timedelta(minutes=4)).timestamp() * 1000)
    pipe = scripts.client.pipeline(transaction=False)
    for i in range(fans):
        args = join_args(Joiner(f"fan-{i:05d}"), NO_SHARE)
        scripts.run("join", event.id, in_window, *args, pipeline=pipe)
    pipe.execute()
    return Drop(engine, scripts, event.id)


def draw(sale: Drop, on_drawn: Callable[[str], None] | None) -> None:
    """Clock steps until the sale is drawn (``on_drawn`` as step_all_sales takes it)."""
    deadline = time.monotonic() + DRAW_WAIT_S
    while sale.meta("state") not in DRAWN_STATES:
        assert time.monotonic() < deadline, "the sale was not drawn in time"
        step_all_sales(sale.scripts, 1_000, on_drawn, beacon_wait_seconds=5)
        time.sleep(0.05)


def drop(
    engine: Engine,
    scripts: SyncScripts,
    fans: int,
    beacon_url: str = "",
    saving: bool = True,
    clock_database: Engine | None = None,
) -> Drop:
    """A sale whose ``fans`` joined in the window, drawn by the clock, with the
    beacon's round when given. The clock saves the draw unless ``saving`` is
    off, to ``clock_database`` when given (say, one that is down)."""
    sale = frozen(engine, scripts, fans, beacon_url)
    draw(sale, saver(clock_database or engine, scripts) if saving else None)
    return sale


def saver(engine: Engine, scripts: SyncScripts) -> Callable[[str], None]:
    """What the clock does with a finished draw, here and now (run_clock: on a thread)."""
    return lambda event_id: keep_draw(engine, scripts.client, event_id)


def lose_redis(sale: Drop) -> None:
    assert sale.client.flushall()  # a restart without persistence
    assert restore_lost_sales(sale.engine, sale.scripts, timedelta(seconds=1)) == [sale.event_id]


def saved_numbers(engine: Engine, event_id: str) -> dict[str, int]:
    with open_session(engine) as session:
        rows = session.exec(
            select(DrawnEntrant).where(col(DrawnEntrant.event_id) == event_id)
        ).all()
    return {row.entry_id: row.number for row in rows}


def test_the_clock_saves_the_draw_it_has_just_made(engine: Engine, scripts: SyncScripts) -> None:
    sale = drop(engine, scripts, FANS)

    numbers = zset_scores(sale.client, sale.keys.queue)
    assert sorted(numbers.values()) == list(range(1, FANS + 1))
    assert saved_numbers(engine, sale.event_id) == numbers
    with open_session(engine) as session:
        record = session.get(DrawRecord, sale.event_id)
    assert record is not None
    live = sale.draw()
    assert (record.entrants, record.entrants_digest, record.seed, record.algorithm) == (
        FANS,
        live["entrants_digest"],
        live["seed"],
        live["algorithm"],
    )
    assert sale.meta("draw_saved") == "1"
    assert unsaved_draws(sale.client) == []


def test_a_restored_sale_keeps_its_published_draw(
    engine: Engine, scripts: SyncScripts, beacon_url: str
) -> None:
    sale = drop(engine, scripts, FANS, beacon_url)
    published = sale.draw()
    assert json.loads(published["beacon"])["status"] == "verified", published
    numbers = zset_scores(sale.client, sale.keys.queue)
    late = join_sync(scripts, sale.event_id, "late-fan")
    assert late.number == FANS + 1
    # The database saw the fans numbered 3 and 9 buy; a presale buyer takes no turn.
    by_number = {number: fan for fan, number in numbers.items()}
    sale.buy(by_number[3])
    sale.buy(by_number[9])
    sale.buy(by_number[2_000], presale="link")

    lose_redis(sale)

    assert sale.draw() == published
    assert zset_scores(sale.client, sale.keys.queue) == numbers
    assert set_members(sale.client, sale.keys.buffer) == set(numbers)
    # Admission resumes after the last drawn fan the database saw buy.
    assert sale.meta("serving") == "9"
    # A buffered fan who joins again gets the drawn number back; a late
    # joiner is not in the draw and comes back after every drawn fan.
    again = join_sync(scripts, sale.event_id, by_number[17])
    assert (again.status, again.number) == ("queued", 17)
    assert join_sync(scripts, sale.event_id, "late-fan").number == FANS + 1
    assert join_sync(scripts, sale.event_id, "new-fan").number == FANS + 2
    # Nothing left to save: the draw came from the database.
    assert unsaved_draws(sale.client) == []
    step_all_sales(scripts, 1_000)
    assert int(sale.meta("serving")) > 9


def test_a_sale_lost_while_its_draw_waits_for_the_beacon_keeps_its_frozen_list(
    engine: Engine, scripts: SyncScripts, beacon_url: str
) -> None:
    sale = frozen(engine, scripts, FANS, beacon_url, beacon_in_s=4)
    while not sale.meta("entrants_digest"):  # the freeze, and its digest published
        step_all_sales(scripts, 1_000, beacon_wait_seconds=5)
    assert sale.meta("state") == "drawing"
    check_redis(engine, scripts, timedelta(minutes=1), saver(engine, scripts))
    assert sale.meta("frozen_saved") == "1"
    published = sale.draw()
    entrants = set_members(sale.client, sale.keys.buffer)

    lose_redis(sale)

    # Still frozen, the same list, the same digest, the same beacon round to wait for.
    assert sale.draw() == published
    assert set_members(sale.client, sale.keys.buffer) == entrants
    assert join_sync(scripts, sale.event_id, "fan-00017").status == "buffered"
    draw(sale, saver(engine, scripts))
    # The order is the one the published seed, beacon value and list give.
    drawn = sale.draw()
    assert drawn["entrants_digest"] == published["entrants_digest"]
    randomness = json.loads(drawn["beacon"])["randomness"]
    ordered, _ = draw_order(draw_key(drawn["algorithm"], drawn["seed"], randomness), entrants)
    numbers = zset_scores(sale.client, sale.keys.queue)
    assert numbers == {fan: number for number, fan in enumerate(ordered, 1)}
    assert saved_numbers(engine, sale.event_id) == numbers


def test_a_sale_lost_in_its_window_keeps_its_commitment(
    engine: Engine, scripts: SyncScripts, beacon_url: str
) -> None:
    sale = frozen(engine, scripts, 3, beacon_url)
    before = sale.draw()
    assert before["state"] == "buffering" and json.loads(before["beacon"])["round"] > 0

    lose_redis(sale)

    # The buffer is gone (nothing was published of it yet), but the seed's
    # commitment, the algorithm and the beacon round the fans saw are not.
    after = sale.draw()
    assert [after[f] for f in ("seed_hash", "algorithm", "beacon")] == [
        before[f] for f in ("seed_hash", "algorithm", "beacon")
    ]


def test_an_order_of_a_late_joiner_means_every_drawn_fan_had_a_turn(
    engine: Engine, scripts: SyncScripts
) -> None:
    sale = drop(engine, scripts, 40)
    assert join_sync(scripts, sale.event_id, "late-fan").number == 41
    sale.buy("late-fan")

    lose_redis(sale)

    assert sale.meta("serving") == "40"


def test_a_drop_with_no_entrants_comes_back_drawn(engine: Engine, scripts: SyncScripts) -> None:
    sale = drop(engine, scripts, 0)
    published = sale.draw()

    lose_redis(sale)

    assert sale.draw() == published
    assert published["entrants"] == 0 and published["state"] == "queueing"


def test_a_draw_the_database_missed_at_the_drop_is_saved_later(
    engine: Engine, scripts: SyncScripts, tmp_path: Path
) -> None:
    # The database is down at the drop: the clock draws, the save fails.
    down = make_engine(Settings(database_url="postgresql://127.0.0.1:1/none", data_dir=tmp_path))
    sale = drop(engine, scripts, 25, clock_database=down)
    assert unsaved_draws(sale.client) == [sale.event_id]
    check_redis(down, scripts, timedelta(seconds=1), saver(down, scripts))  # still down
    assert sale.meta("draw_saved") == ""

    check_redis(engine, scripts, timedelta(seconds=1), saver(engine, scripts))  # back

    assert saved_numbers(engine, sale.event_id) == zset_scores(sale.client, sale.keys.queue)
    assert sale.meta("draw_saved") == "1"


def record_of(engine: Engine, event_id: str) -> DrawRecord | None:
    with open_session(engine) as session:
        return session.get(DrawRecord, event_id)


def test_saving_each_step_twice_changes_nothing(
    any_engine: Engine, scripts: SyncScripts, beacon_url: str
) -> None:
    sale = frozen(any_engine, scripts, FANS, beacon_url, beacon_in_s=3)
    while not sale.meta("entrants_digest"):
        step_all_sales(scripts, 1_000, beacon_wait_seconds=5)
    # The freeze, saved twice (as a second clock that missed the first).
    assert save_draw(any_engine, sale.client, sale.event_id) == FANS
    first = record_of(any_engine, sale.event_id)
    sale.client.hdel(sale.keys.meta, "frozen_saved")
    assert save_draw(any_engine, sale.client, sale.event_id) == FANS
    assert first is not None and first.seed is None
    assert record_of(any_engine, sale.event_id) == first
    assert saved_numbers(any_engine, sale.event_id) == {}
    # The draw, saved twice: the record gets its seed once, the numbers once.
    draw(sale, None)
    assert save_draw(any_engine, sale.client, sale.event_id) == FANS
    drawn = record_of(any_engine, sale.event_id)
    numbers = saved_numbers(any_engine, sale.event_id)
    sale.client.hdel(sale.keys.meta, "draw_saved")
    assert save_draw(any_engine, sale.client, sale.event_id) == FANS

    assert drawn is not None and drawn.seed == sale.meta("seed_revealed")
    assert (drawn.frozen_list, drawn.created_at) == (first.frozen_list, first.created_at)
    assert record_of(any_engine, sale.event_id) == drawn
    assert numbers == zset_scores(sale.client, sale.keys.queue)
    assert saved_numbers(any_engine, sale.event_id) == numbers
    with open_session(any_engine) as session:
        assert session.exec(select(func.count()).select_from(DrawRecord)).one() == 1


def test_two_clocks_saving_at_once_save_one_draw(engine: Engine, scripts: SyncScripts) -> None:
    sale = drop(engine, scripts, FANS, saving=False)
    barrier = threading.Barrier(2)
    counts: list[int] = []

    def clock() -> None:
        barrier.wait()
        counts.append(save_draw(engine, sale.client, sale.event_id))

    threads = [threading.Thread(target=clock) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counts == [FANS, FANS]
    assert len(saved_numbers(engine, sale.event_id)) == FANS


@pytest.mark.parametrize("protocol", [2, 3])
def test_the_drawn_numbers_are_read_whole_or_refused(
    redis_url: str, protocol: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("purchase.drawn.READ_PAGE", 10)  # pages of 10, 10 and 5
    client = redis.Redis.from_url(redis_url, protocol=protocol)
    queue = EventKeys("gaps").queue
    client.zadd(queue, {f"fan-{n}": n for n in range(1, 26)})

    assert read_drawn_entrants(client, "gaps", 25) == [f"fan-{n}" for n in range(1, 26)]
    client.zrem(queue, "fan-13")
    with pytest.raises(DrawNotSaved, match="lacks drawn numbers"):
        read_drawn_entrants(client, "gaps", 25)
    client.close()
