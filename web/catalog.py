"""Events and ticket types as stored in the database, cached per process.

Most of a sale's configuration can change only until its window opens (the
access policy); what the organiser steers while it runs (rate, cap, hold
time, pause message, stock: purchase/steering.py) is what Redis runs on, and
what fans see of it comes from there. So a fan page load reads the record
from memory. Before the window opens a cached record is read again after
``FRESH_SECONDS``, so a change made through another web process shows; once
it has opened, after ``SETTLED_FRESH_SECONDS``, so the organiser's list shows
a steered figure within seconds (this process forgets its copy at once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from fairdrop.errors import ErrorCode, FairdropError
from purchase.db import open_session
from purchase.models import Event, TicketType, aware
from web.validation import SLUG, text_field

# How stale a sale's record may be before its window opens, and after.
FRESH_SECONDS = 2.0
SETTLED_FRESH_SECONDS = 10.0


@dataclass(frozen=True)
class EventRecord:
    event: Event
    ticket_types: tuple[TicketType, ...]
    loaded_at: float = field(default_factory=time.monotonic, compare=False)

    def settled(self) -> bool:
        """True once nothing in the record can change any more (the window has opened)."""
        return aware(self.event.opens_at) <= datetime.now(UTC)

    def fresh(self) -> bool:
        age = time.monotonic() - self.loaded_at
        return age < FRESH_SECONDS or (self.settled() and age < SETTLED_FRESH_SECONDS)

    def type_ids(self) -> set[str]:
        return {t.id for t in self.ticket_types}

    def type_named_in(self, body: dict[str, Any]) -> str | None:
        """The full id of the sale's type the body's optional ``ticket_type`` names
        (as the organiser named it, without the sale's prefix); None without one."""
        if body.get("ticket_type") is None:
            return None
        type_id = f"{self.event.id}.{text_field(body, 'ticket_type', 40, SLUG)}"
        if type_id not in self.type_ids():
            raise FairdropError(
                ErrorCode.UNKNOWN_TICKET_TYPE,
                f"ticket_type {body['ticket_type']!r} is not in this event",
            )
        return type_id


def iso(value: datetime) -> str:
    return aware(value).isoformat().replace("+00:00", "Z")


class Catalog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[str, EventRecord] = {}

    def _load(self, event_id: str) -> EventRecord | None:
        with open_session(self.engine) as session:
            event = session.get(Event, event_id)
            if event is None:
                return None
            types = session.exec(
                select(TicketType)
                .where(TicketType.event_id == event_id)
                .order_by(TicketType.created_at)  # type: ignore[arg-type]
            ).all()
            return EventRecord(event, tuple(types))

    async def get(self, event_id: str) -> EventRecord | None:
        """The event and its ticket types; None when there is no such event.

        Every event id is a slug (web/organiser.py: the organiser's, or 8 hex
        digits), so anything else is answered without asking the database,
        which could refuse it (PostgreSQL: a NUL in text) rather than find nothing.
        """
        if not SLUG.fullmatch(event_id):
            return None
        record = self._cache.get(event_id)
        if record is None or not record.fresh():
            record = await run_in_threadpool(self._load, event_id)
            if record is not None:
                self._cache[event_id] = record
        return record

    def _save(self, event: Event, types: list[TicketType]) -> bool:
        with open_session(self.engine) as session:
            if session.get(Event, event.id) is not None:
                return False
            session.add(event)
            session.flush()
            for t in types:
                session.add(t)
            session.commit()
        return True

    async def save(self, event: Event, types: list[TicketType]) -> bool:
        """False when an event with that id already exists."""
        return await run_in_threadpool(self._save, event, types)

    def _set_access(self, event_id: str, policy: str) -> None:
        with open_session(self.engine) as session:
            event = session.get(Event, event_id)
            if event is not None:
                event.access = policy
                session.add(event)
                session.commit()
        self._cache.pop(event_id, None)

    async def set_access(self, event_id: str, policy: str) -> None:
        """Records a new policy (Redis, which enforces it, has taken it already)."""
        await run_in_threadpool(self._set_access, event_id, policy)

    def forget(self, event_id: str) -> None:
        """Reads the sale from the database at its next use (this process changed it)."""
        self._cache.pop(event_id, None)

    def _list(self) -> list[Event]:
        with open_session(self.engine) as session:
            return list(session.exec(select(Event).order_by(Event.created_at.desc())).all())  # type: ignore[attr-defined]

    async def list_events(self) -> list[Event]:
        return await run_in_threadpool(self._list)
