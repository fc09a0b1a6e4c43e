"""Events and ticket types as stored in the database, cached per process.

A sale's configuration does not change once created, so a fan page load
reads it from memory, not from the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from purchase.db import open_session
from purchase.models import Event, TicketType, aware


@dataclass(frozen=True)
class EventRecord:
    event: Event
    ticket_types: tuple[TicketType, ...]

    def type_ids(self) -> set[str]:
        return {t.id for t in self.ticket_types}


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
        record = self._cache.get(event_id)
        if record is None:
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

    def _list(self) -> list[Event]:
        with open_session(self.engine) as session:
            return list(session.exec(select(Event).order_by(Event.created_at.desc())).all())  # type: ignore[attr-defined]

    async def list_events(self) -> list[Event]:
        return await run_in_threadpool(self._list)
