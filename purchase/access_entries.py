"""The organiser's list of an event (access policy ``list``) as the database keeps it.

Redis enforces the list (join.lua, hold.lua read the ``allowance`` hash);
these rows are the record an import leaves: what the organiser sees, what the
export names, and what rebuilds a sale Redis lost (purchase/restore.py).
Nothing here touches orders: re-importing a corrected list changes
allowances, never what anyone already bought.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, delete, insert, update
from sqlmodel import col, select

from purchase.db import open_session
from purchase.models import AccessEntry, utcnow

# Rows per statement: large lists go in a few round trips, not one per person.
_CHUNK = 2_000


@dataclass(frozen=True)
class ListRow:
    entrant_id: str
    kind: str
    subject: str
    allowance: int


@dataclass(frozen=True)
class ImportCounts:
    added: int
    updated: int
    removed: int
    total: int


def store_list(
    engine: Engine, event_id: str, rows: Sequence[ListRow], replace: bool
) -> ImportCounts:
    """Writes an imported list in one transaction; ``replace`` drops who is no longer on it."""
    now = utcnow()
    incoming = {row.entrant_id: row for row in rows}
    with open_session(engine) as session:
        existing = set(
            session.exec(
                select(AccessEntry.entrant_id).where(AccessEntry.event_id == event_id)
            ).all()
        )
        new = [row for key, row in incoming.items() if key not in existing]
        changed = [row for key, row in incoming.items() if key in existing]
        gone = sorted(existing - incoming.keys()) if replace else []
        for start in range(0, len(new), _CHUNK):
            session.execute(
                insert(AccessEntry),
                [
                    {
                        "event_id": event_id,
                        "entrant_id": row.entrant_id,
                        "kind": row.kind,
                        "subject": row.subject,
                        "allowance": row.allowance,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for row in new[start : start + _CHUNK]
                ],
            )
        statement = (
            update(AccessEntry)
            .where(col(AccessEntry.event_id) == event_id)
            .where(col(AccessEntry.entrant_id) == bindparam("key"))
            .values(allowance=bindparam("new_allowance"), updated_at=now)
        )
        for start in range(0, len(changed), _CHUNK):
            session.connection().execute(
                statement,
                [
                    {"key": row.entrant_id, "new_allowance": row.allowance}
                    for row in changed[start : start + _CHUNK]
                ],
            )
        for start in range(0, len(gone), _CHUNK):
            session.execute(
                delete(AccessEntry)
                .where(col(AccessEntry.event_id) == event_id)
                .where(col(AccessEntry.entrant_id).in_(gone[start : start + _CHUNK]))
            )
        session.commit()
        total = len(existing) + len(new) - len(gone)
    return ImportCounts(added=len(new), updated=len(changed), removed=len(gone), total=total)


def listed(engine: Engine, event_id: str) -> list[AccessEntry]:
    """The event's list: emails, then ids, each alphabetically."""
    with open_session(engine) as session:
        return list(
            session.exec(
                select(AccessEntry)
                .where(AccessEntry.event_id == event_id)
                .order_by(col(AccessEntry.kind), col(AccessEntry.subject))
            ).all()
        )
