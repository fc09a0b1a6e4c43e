"""Resale rounds kept in the database, so they survive Redis as the sale's draw does.

A resale round (buffer/rounds.py) publishes in three steps, each in its
record in the ``rounds`` hash: its commitment when it opens, its entrant
digest and block of numbers at the freeze, its seed, beacon value and
promise once drawn, when its entrants hold numbers first_number.. in the
queue. The clock copies each step to ``round_record`` (and, once drawn, the
block to ``round_entrant``) as purchase/drawn.py copies the sale's draw
(:func:`save_rounds`), and marks it saved in meta (``round_saved``, the
round and its state when saved) only after the commit, so a step whose
saving failed is saved a second later (:func:`unsaved_rounds`).

Only the latest round can be unfinished: the next opens once it is drawn.

A sale Redis lost comes back with its rounds' records (purchase/restore.py),
so the round counter goes on from the last; their entrants' queue places do
not (nor do late joiners'): the numbers are given anew after a restore, so
the web serves a restored round's entrants from here (meta ``rounds_restored``,
set by restore_sale.lua; web/round_draws.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Engine, and_, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from buffer.order import digest_of_ordered
from fairdrop.connections import SaleRedis
from purchase.drawn import DrawNotSaved, insert_numbered, mark_saved, read_drawn_entrants
from purchase.models import epoch_ms, from_epoch_ms
from purchase.round_models import RoundEntrant, RoundRecord
from queue_engine.keys import EVENTS_INDEX, EventKeys

# Meta: the latest round and its state when last saved ("3:drawing").
ROUND_SAVED = "round_saved"
# A record's steps, in order; each published step has its fields.
OPEN, FROZEN, DRAWN = 0, 1, 2
_TIMES = ("opens_at", "drop_at", "digest_at", "drawn_at")
# What a record holds once drawn (buffer/lua/open_round.lua, round_draw.lua).
_PUBLISHED = (
    "round",
    "opens_at",
    "drop_at",
    "seed_hash",
    "beacon",
    "algorithm",
    "digest",
    "digest_at",
    "entrants",
    "first_number",
    "seed",
    "promise",
    "drawn_at",
)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def step_of(record: dict[str, Any]) -> int:
    """How far a round's record got: OPEN, FROZEN (digest out) or DRAWN."""
    return DRAWN if "drawn_at" in record else FROZEN if "digest" in record else OPEN


def _saved_mark(number: int, round_state: str) -> str:
    return f"{number}:{round_state}"


def _row(event_id: str, record: dict[str, Any]) -> RoundRecord:
    """The record as a row; its times in ms become datetimes."""
    fields: dict[str, Any] = {
        name: from_epoch_ms(int(value)) if name in _TIMES else value
        for name, value in record.items()
        if name in _PUBLISHED and value is not None
    }
    return RoundRecord(event_id=event_id, **fields)


def record_of(row: RoundRecord) -> dict[str, Any]:
    """The row as the ``rounds`` hash held its record (times in ms again)."""
    record: dict[str, Any] = {}
    for name in _PUBLISHED:
        value = getattr(row, name)
        if value is not None:
            record[name] = epoch_ms(value) if name in _TIMES else value
    return record


def _upsert(connection: Connection, row: RoundRecord) -> bool:
    """Writes the round's step unless the database has it already; whether it did.

    A row only ever moves on (opened, frozen, drawn) and a drawn one never
    changes, so a second clock saving the same step writes nothing.
    """
    postgres = connection.dialect.name == "postgresql"
    statement = (postgresql if postgres else sqlite).insert(RoundRecord)
    values = row.model_dump()
    published = [name for name in values if name not in ("event_id", "round", "created_at")]
    upsert = statement.on_conflict_do_update(
        index_elements=["event_id", "round"],
        set_={name: statement.excluded[name] for name in published},
        where=or_(
            and_(col(RoundRecord.digest).is_(None), statement.excluded.digest.is_not(None)),
            and_(col(RoundRecord.drawn_at).is_(None), statement.excluded.drawn_at.is_not(None)),
        ),
    )
    if postgres:
        # psycopg reports no row count here (-1): the returned key says it.
        returning = upsert.returning(col(RoundRecord.round))
        return connection.execute(returning, values).first() is not None
    return connection.execute(upsert, values).rowcount == 1


def _saved_steps(engine: Engine, event_id: str, since: int) -> dict[int, int]:
    """Each saved round from ``since`` on, and how far it was saved."""
    with Session(engine) as session:
        rows = session.exec(
            select(
                col(RoundRecord.round),
                col(RoundRecord.digest).is_not(None),
                col(RoundRecord.drawn_at).is_not(None),
            ).where(col(RoundRecord.event_id) == event_id, col(RoundRecord.round) >= since)
        ).all()
    return {int(n): DRAWN if drawn else FROZEN if frozen else OPEN for n, frozen, drawn in rows}


def _save_round(engine: Engine, client: SaleRedis, event_id: str, record: dict[str, Any]) -> None:
    """One round's record as far as it got, with its block once drawn."""
    numbered: list[str] = []
    if step_of(record) == DRAWN:
        first, entrants = int(record["first_number"]), int(record["entrants"])
        numbered = read_drawn_entrants(client, event_id, entrants, first)
        if digest_of_ordered(sorted(f.encode() for f in numbered)) != record["digest"]:
            raise DrawNotSaved(f"event {event_id}: round {record['round']} is not its digest's")
    with engine.begin() as connection:
        key = {"event_id": event_id, "round": int(record["round"])}
        if _upsert(connection, _row(event_id, record)) and numbered:
            insert_numbered(connection, RoundEntrant, key, numbered, int(record["first_number"]))


def save_rounds(engine: Engine, client: SaleRedis, event_id: str) -> int:
    """Copies every round step the sale has published and the database lacks;
    how many rounds it wrote. Marks the latest round saved in meta after the
    commit, once its state's step is out (a frozen round's digest may be a
    moment behind its freeze: saved at the next call)."""
    keys = EventKeys(event_id)
    number, round_state, saved = map(
        _text, client.hmget(keys.meta, ["round", "round_state", ROUND_SAVED])
    )
    last = int(number or 0)
    # Every round before the one last marked was saved drawn.
    since = int(saved.split(":")[0] or 0) if saved else 1
    stored = _saved_steps(engine, event_id, since)
    written, step = 0, OPEN
    for n in range(max(since, 1), last + 1):
        raw = client.hget(keys.rounds, str(n))
        if raw is None:
            continue
        record: dict[str, Any] = json.loads(_text(raw))
        step = step_of(record)
        if step > stored.get(n, -1):
            _save_round(engine, client, event_id, record)
            written += 1
    wanted = {"buffering": OPEN, "drawing": FROZEN, "": DRAWN}.get(round_state, DRAWN)
    if last and step >= wanted:
        mark_saved(client, event_id, ROUND_SAVED, _saved_mark(last, round_state))
    return written


def unsaved_rounds(client: SaleRedis) -> list[str]:
    """Every sale with a round step not saved yet (one pipeline)."""
    event_ids = sorted(_text(raw) for raw in cast(set[object], client.smembers(EVENTS_INDEX)))
    pipe = client.pipeline(transaction=False)
    for event_id in event_ids:
        pipe.hmget(EventKeys(event_id).meta, ["round", "round_state", ROUND_SAVED])
    unsaved = []
    for event_id, fields in zip(event_ids, pipe.execute(), strict=True):
        number, round_state, saved = map(_text, fields)
        if number and number != "0" and saved != _saved_mark(int(number), round_state):
            unsaved.append(event_id)
    return unsaved


def saved_rounds(engine: Engine, event_id: str, number: int | None = None) -> list[dict[str, Any]]:
    """The saved records of the sale's rounds (or of round ``number``), round 1 first."""
    with Session(engine) as session:
        return rounds_of(session, event_id, number)


def rounds_of(session: Session, event_id: str, number: int | None = None) -> list[dict[str, Any]]:
    """:func:`saved_rounds` in a session of the caller's."""
    query = select(RoundRecord).where(col(RoundRecord.event_id) == event_id)
    if number is not None:
        query = query.where(col(RoundRecord.round) == number)
    return [record_of(row) for row in session.exec(query.order_by(col(RoundRecord.round))).all()]


def saved_entrants(engine: Engine, event_id: str, number: int) -> list[tuple[int, str]]:
    """A drawn round's (queue number, entry id) pairs as saved, in number order."""
    with Session(engine) as session:
        rows = session.exec(
            select(col(RoundEntrant.number), col(RoundEntrant.entry_id))
            .where(col(RoundEntrant.event_id) == event_id, col(RoundEntrant.round) == number)
            .order_by(col(RoundEntrant.number))
        ).all()
    return [(int(n), str(entry_id)) for n, entry_id in rows]


def restored_rounds(records: Sequence[dict[str, Any]]) -> str:
    """restore_sale.lua's ARGV[5]: the rounds' records and the last round, '' for none."""
    if not records:
        return ""
    last = max(int(record["round"]) for record in records)
    return json.dumps(
        {
            "last": str(last),
            "saved": _saved_mark(last, ""),
            "records": {str(record["round"]): json.dumps(record) for record in records},
        }
    )
