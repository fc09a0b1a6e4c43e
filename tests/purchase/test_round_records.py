"""Resale rounds survive Redis: the clock saves each round's published steps
(purchase/round_records.py), a sale restored after Redis lost it serves its
rounds' records again, and the web serves a restored round's entrants from
the database (web/round_draws.py), so the round still verifies."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func
from sqlmodel import col, select
from starlette.testclient import TestClient

from buffer.rounds import RoundTiming, round_record
from buffer.verify import PublishedDraw, check_published_draw
from fairdrop.settings import Settings
from launch.clock import check_redis, keep_draw, keep_rounds, step_all_sales
from loadtests.sync_sale import hold_tickets, join_sync
from purchase.db import make_engine, open_session
from purchase.holds import confirm_hold
from purchase.restore import restore_lost_sales
from purchase.round_models import RoundEntrant, RoundRecord
from purchase.round_records import ROUND_SAVED, save_rounds, saved_rounds, unsaved_rounds
from queue_engine.scripts import SyncScripts
from tests.purchase.test_drawn import _engine, frozen
from tests.reads import text, zset_scores
from web.app import create_app

WINDOW = RoundTiming(window_seconds=1.0)
NEWCOMERS = 7
WAIT_S = 30.0
SECRET = "round-records"


@pytest.fixture(params=["postgresql", "sqlite"])
def settings(request: pytest.FixtureRequest, redis_url: str, tmp_path: Path) -> Settings:
    """The web's and the clock's settings, on each kind of database fairdrop runs on."""
    url = request.getfixturevalue("database_url") if request.param == "postgresql" else ""
    return Settings(redis_url=redis_url, database_url=url, data_dir=tmp_path, secret_key=SECRET)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    yield from _engine(settings)


class Resale:
    """A sale of one ticket to one fan (test_drawn.py's), in the database and in Redis."""

    def __init__(self, engine: Engine, scripts: SyncScripts) -> None:
        sale = frozen(engine, scripts, 1, stock=1)
        self.engine, self.scripts, self.event_id = engine, scripts, sale.event_id
        self.client, self.keys = sale.client, sale.keys
        self.ticket_type = f"{sale.event_id}.ga"

    def meta(self, field: str) -> str:
        return text(self.client.hget(self.keys.meta, field) or b"")

    def step(self, database: Engine | None = None) -> None:
        """A clock step that saves to ``database`` (default: the sale's) as run_clock does."""
        clock = Clock(database or self.engine, self.client)
        step_all_sales(self.scripts, 1_000, clock.draw, rounds=WINDOW, on_round=clock.rounds)

    def until(self, what: str, done: Any, database: Engine | None = None) -> None:
        deadline = time.monotonic() + WAIT_S
        while not done():
            assert time.monotonic() < deadline, f"{what}: not within {WAIT_S}s"
            self.step(database)
            time.sleep(0.05)

    def sold_out_and_put_back(self) -> None:
        self.until("drawn, the buyer let in", lambda: self.meta("serving") == "1")
        buyer = "fan-00000"
        held = hold_tickets(self.scripts, self.event_id, buyer, "r-buyer", [(self.ticket_type, 1)])
        assert held.ok and held.hold is not None, held
        assert confirm_hold(self.scripts, self.event_id, held.hold.id, "pay-buyer").ok
        self.until("sold out", lambda: self.meta("state") == "sold_out")
        answer = json.loads(
            self.scripts.run("resale_return", self.event_id, "l-1", self.ticket_type, "0")
        )
        assert answer["returned"], answer

    def drawn_round(self, database: Engine | None = None) -> dict[str, Any]:
        """Round 1 opened, entered by the newcomers and drawn by the clock."""
        self.until("round 1 opens", lambda: self.meta("round") == "1", database)
        for i in range(NEWCOMERS):
            assert join_sync(self.scripts, self.event_id, f"new-{i}").status == "buffered"
        time.sleep(WINDOW.window_seconds)

        def drawn() -> bool:
            record = round_record(self.client, self.event_id, 1)
            return record is not None and "drawn_at" in record

        self.until("round 1 drawn", drawn, database)
        record = round_record(self.client, self.event_id, 1)
        assert record is not None and record["entrants"] == NEWCOMERS
        return record

    def block(self, record: dict[str, Any]) -> dict[str, int]:
        first = int(record["first_number"])
        numbers = zset_scores(self.client, self.keys.queue)
        return {fan: n for fan, n in numbers.items() if first <= n < first + NEWCOMERS}


@dataclass
class Clock:
    """What run_clock's saver does, here and now (run_clock: on a thread)."""

    database: Engine
    client: redis.Redis

    def draw(self, event_id: str) -> None:
        keep_draw(self.database, self.client, event_id)

    def rounds(self, event_id: str) -> None:
        keep_rounds(self.database, self.client, event_id)


def saved_block(engine: Engine, event_id: str) -> dict[str, int]:
    with open_session(engine) as session:
        rows = session.exec(select(RoundEntrant).where(col(RoundEntrant.event_id) == event_id))
        return {row.entry_id: row.number for row in rows}


def saved_count(engine: Engine, event_id: str) -> int:
    with open_session(engine) as session:
        query = select(func.count()).where(col(RoundRecord.event_id) == event_id)
        return int(session.exec(query.select_from(RoundRecord)).one())


def served(settings: Settings, event_id: str) -> tuple[list[Any], dict[str, Any], str]:
    """What the web serves of round 1: the list, the record and its entrant lines."""
    with TestClient(create_app(settings), base_url="http://fairdrop.test") as http:
        rounds = f"/api/events/{event_id}/draw/rounds"
        listed, one, lines = (
            http.get(rounds),
            http.get(f"{rounds}/1"),
            http.get(f"{rounds}/1/entrants"),
        )
    assert listed.status_code == one.status_code == lines.status_code == 200, lines.text
    return listed.json(), one.json(), lines.text


def check(document: dict[str, Any], lines: str) -> None:
    """The round as anyone verifies it (buffer/verify_round.py, without a beacon)."""
    published = [(int(n), fan) for n, fan in (line.split(" ") for line in lines.splitlines())]
    draw = PublishedDraw(
        document["algorithm"], document["seed"], document["seed_hash"], document["entrants_digest"]
    )
    verdict = check_published_draw(draw, published, int(document["first_number"]))
    assert verdict.ok and verdict.entrants == NEWCOMERS, verdict.reason


def test_a_drawn_round_is_saved_once_and_verifies_after_redis_is_lost(
    engine: Engine, scripts: SyncScripts, settings: Settings
) -> None:
    sale = Resale(engine, scripts)
    sale.sold_out_and_put_back()
    record = sale.drawn_round()
    block = sale.block(record)

    # Saved as the clock drew it, and asked again (a second clock): one copy.
    assert saved_rounds(engine, sale.event_id) == [record]
    assert saved_block(engine, sale.event_id) == block and len(block) == NEWCOMERS
    assert sale.meta(ROUND_SAVED) == "1:" and unsaved_rounds(sale.client) == []
    sale.client.hdel(sale.keys.meta, ROUND_SAVED)
    assert unsaved_rounds(sale.client) == [sale.event_id]
    assert save_rounds(engine, sale.client, sale.event_id) == 0
    assert saved_count(engine, sale.event_id) == 1
    assert saved_block(engine, sale.event_id) == block
    before = served(settings, sale.event_id)
    check(before[1], before[2])

    assert sale.client.flushall()  # a restart without persistence
    # Not restored yet: the web has the rounds from the database.
    assert served(settings, sale.event_id) == before
    assert restore_lost_sales(engine, scripts, timedelta(seconds=1)) == [sale.event_id]

    assert round_record(sale.client, sale.event_id, 1) == record
    assert (sale.meta("round"), sale.meta("rounds_restored")) == ("1", "1")
    assert unsaved_rounds(sale.client) == []
    # A newcomer now takes a number of the lost block: the list is the saved one.
    late = join_sync(scripts, sale.event_id, "after-the-loss")
    assert late.number in block.values()
    assert served(settings, sale.event_id) == before
    check(before[1], before[2])


def test_a_round_the_database_missed_at_its_draw_is_saved_later(
    engine: Engine, scripts: SyncScripts, tmp_path: Path
) -> None:
    down = make_engine(Settings(database_url="postgresql://127.0.0.1:1/none", data_dir=tmp_path))
    sale = Resale(engine, scripts)
    sale.sold_out_and_put_back()
    record = sale.drawn_round(database=down)
    assert saved_rounds(engine, sale.event_id) == []
    assert unsaved_rounds(sale.client) == [sale.event_id]
    for database in (down, engine):  # still down, then back
        clock = Clock(database, sale.client)
        check_redis(database, scripts, timedelta(seconds=1), clock.draw, save_rounds=clock.rounds)
        if database is down:
            assert sale.meta(ROUND_SAVED) == ""

    assert saved_rounds(engine, sale.event_id) == [record]
    assert saved_block(engine, sale.event_id) == sale.block(record)
    assert sale.meta(ROUND_SAVED) == "1:" and unsaved_rounds(sale.client) == []
