"""purchase/tickets.py: door check-in on PostgreSQL and on SQLite (the demo's database)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fairdrop.settings import Settings
from purchase.db import make_engine, open_session, upgrade_database
from purchase.models import Order, Ticket, TicketType
from purchase.tickets import CheckIn, check_in, find_ticket
from tests.purchase.test_migrations import add_event

DOORS = 20


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of each kind fairdrop runs on."""
    url = request.getfixturevalue("database_url") if request.param == "postgresql" else None
    settings = Settings(database_url=url, data_dir=tmp_path)
    upgrade_database(settings)
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def sold_ticket(engine: Engine, order_status: str = "paid") -> str:
    """One ticket of a new order with this status; its code."""
    event_id, order_id, code = uuid.uuid4().hex[:8], uuid.uuid4().hex, uuid.uuid4().hex
    add_event(engine, event_id)
    with open_session(engine) as session:
        session.add(
            TicketType(
                id=f"{event_id}.ga",
                event_id=event_id,
                name="GA",
                price_cents=100,
                currency="EUR",
                stock=1,
                per_person_limit=1,
            )
        )
        session.add(
            Order(
                id=order_id,
                event_id=event_id,
                fan_id="fan",
                hold_id=order_id,
                payment_ref=order_id,
                payment_provider="local",
                total_cents=100,
                currency="EUR",
                status=order_status,
            )
        )
        session.flush()
        session.add(Ticket(id=code, order_id=order_id, ticket_type_id=f"{event_id}.ga", code=code))
        session.commit()
    return code


def test_many_doors_at_once_check_a_ticket_in_once(engine: Engine) -> None:
    code = sold_ticket(engine)
    barrier = threading.Barrier(DOORS)
    answers: list[CheckIn | None] = []

    def door(name: str) -> None:
        barrier.wait()
        answers.append(check_in(engine, code, name, datetime.now(UTC)))

    threads = [threading.Thread(target=door, args=(f"door-{i}",)) for i in range(DOORS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert len(answers) == DOORS and all(a is not None for a in answers)
    [winner] = [a for a in answers if a and a.result == "valid"]
    assert {a.result for a in answers if a and a is not winner} == {"already_used"}
    # Everyone hears the same moment and door, and so does the record.
    stored = find_ticket(engine, code)
    assert stored is not None and stored.checked_in_by == winner.ticket.checked_in_by
    assert {(a.ticket.checked_in_at, a.ticket.checked_in_by) for a in answers if a} == {
        (stored.checked_in_at, stored.checked_in_by)
    }
    assert stored.checked_in_at is not None and stored.checked_in_at.tzinfo is not None


def test_a_ticket_of_an_order_that_is_not_paid_does_not_check_in(engine: Engine) -> None:
    code = sold_ticket(engine, order_status="refunded")
    answer = check_in(engine, code, "north", datetime.now(UTC))
    assert answer is not None and answer.result == "void"
    stored = find_ticket(engine, code)
    assert stored is not None and (stored.checked_in_at, stored.checked_in_by) == (None, None)


def test_an_unknown_code_checks_nothing_in(engine: Engine) -> None:
    code = sold_ticket(engine)
    assert check_in(engine, code + "x", "north", datetime.now(UTC)) is None
    assert find_ticket(engine, code + "x") is None
    stored = find_ticket(engine, code)
    assert stored is not None and stored.checked_in_at is None


def test_a_door_of_one_event_checks_in_only_that_events_tickets(engine: Engine) -> None:
    ours, theirs = sold_ticket(engine), sold_ticket(engine)
    ticket = find_ticket(engine, ours)
    assert ticket is not None
    our_event = ticket.event_id

    foreign = check_in(engine, theirs, "north", datetime.now(UTC), event_id=our_event)

    assert foreign is not None and foreign.result == "another_event"
    stored = find_ticket(engine, theirs)
    assert stored is not None and (stored.checked_in_at, stored.checked_in_by) == (None, None)
    # Once used at its own event's door it is still only "not here" to ours.
    used = check_in(engine, theirs, "south", datetime.now(UTC))
    assert used is not None and used.result == "valid"
    again = check_in(engine, theirs, "north", datetime.now(UTC), event_id=our_event)
    assert again is not None and again.result == "another_event"
    assert again.ticket.checked_in_by == "south"
    mine = check_in(engine, ours, "north", datetime.now(UTC), event_id=our_event)
    assert mine is not None and (mine.result, mine.ticket.checked_in_by) == ("valid", "north")
