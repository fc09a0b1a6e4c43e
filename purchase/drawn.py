"""The published draw, kept in the database so it survives Redis (issue 13).

The draw runs in Redis (buffer/draw.py) and is published in two steps. At
the freeze the buffer's entrant list is fixed and its digest published; a v2
draw then waits for its beacon round. Once drawn, the queue zset holds
numbers 1..N and the meta hash reveals the seed, the beacon value and the
promise. Redis keeps no disk copy, so the clock copies each step here as it
is published (:func:`save_draw`): the frozen list into ``draw_record``, then
the seed and the rest, with N ``drawn_entrant`` rows in the same
transaction. A sale Redis lost comes back with what was published
(purchase/restore.py): still waiting for its beacon with the same frozen
list, or drawn with the same numbers, never a new draw of an empty buffer.

Saving is idempotent (what is saved stands; a second call or a second clock
changes nothing) and marked in Redis (meta ``frozen_saved``, ``draw_saved``)
only after the commit, so the clock retries a step whose saving failed, say
because the database was down at the drop (:func:`unsaved_draws`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import psycopg
import redis
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col

from buffer.order import ALGORITHM_V1, digest_of_ordered
from buffer.published import given_up_in
from fairdrop.connections import SaleRedis
from purchase.models import DrawnEntrant, DrawRecord, from_epoch_ms
from queue_engine.keys import EVENTS_INDEX, EventKeys

log = logging.getLogger("fairdrop.drawn")

# Members per SSCAN of the frozen buffer and per ZRANGE of the numbers (as
# buffer/draw.py and buffer/published.py read them).
SCAN_COUNT = 2_000
READ_PAGE = 10_000
# Rows per executemany on SQLite; PostgreSQL gets every row through one COPY.
INSERT_CHUNK = 5_000
# States in which the sale's draw has finished (queue_engine/lua/_prelude.lua).
DRAWN_STATES = frozenset({"queueing", "sold_out"})
# The meta fields the freeze and the draw leave (buffer/lua/record_digest.lua,
# finish_draw.lua). Sales made before v2 lack algorithm, digest_at, beacon
# and promise.
DRAW_FIELDS = (
    "state",
    "algorithm",
    "seed_hash",
    "entrants_digest",
    "frozen",
    "draw_started_at",
    "digest_at",
    "beacon",
    "seed_revealed",
    "drawn_at",
    "promise",
    "frozen_saved",
    "draw_saved",
)
# What each saved step sets in meta, after the commit.
FROZEN_SAVED, DRAW_SAVED = "frozen_saved", "draw_saved"


class DrawNotSaved(RuntimeError):
    """The sale has no published step to save, or what Redis holds is not all of it."""


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


def _read_meta(client: SaleRedis, event_id: str) -> dict[str, str]:
    values = cast(list[object], client.hmget(EventKeys(event_id).meta, list(DRAW_FIELDS)))
    return {name: _text(value) for name, value in zip(DRAW_FIELDS, values, strict=True)}


def _ms(meta: dict[str, str], field: str) -> Any:
    return from_epoch_ms(int(meta[field])) if meta[field] else None


def _frozen_record(event_id: str, meta: dict[str, str], ids: Sequence[bytes]) -> DrawRecord:
    """The draw_record of a frozen list whose digest is published; ``ids`` in byte order."""
    digest = digest_of_ordered(list(ids))
    if len(ids) != int(meta["frozen"] or 0) or digest != meta["entrants_digest"]:
        raise DrawNotSaved(f"event {event_id}: the entrants are not the published digest's")
    return DrawRecord(
        event_id=event_id,
        algorithm=meta["algorithm"] or ALGORITHM_V1,
        seed_hash=meta["seed_hash"],
        entrants_digest=digest,
        entrants=len(ids),
        frozen_list=b"".join(entry + b"\n" for entry in ids).decode(),
        frozen_at=_ms(meta, "draw_started_at") or _ms(meta, "drawn_at"),
        digest_at=_ms(meta, "digest_at"),
        beacon=meta["beacon"] or None,
    )


def read_frozen(client: SaleRedis, event_id: str) -> list[bytes]:
    """The frozen buffer's entry ids (UTF-8), each once, in byte order."""
    members = client.sscan_iter(EventKeys(event_id).buffer, count=SCAN_COUNT)
    return sorted(set(cast(Iterator[bytes], members)))


def _members_and_scores(reply: list[Any]) -> tuple[list[Any], list[Any]]:
    """A raw ``ZRANGE ... WITHSCORES`` reply: [member, score] pairs (RESP3, which
    redis-py 8 speaks) or members and scores alternating (RESP2)."""
    if reply and isinstance(reply[0], list):
        return [pair[0] for pair in reply], [pair[1] for pair in reply]
    return reply[0::2], reply[1::2]


def read_drawn_entrants(
    client: SaleRedis, event_id: str, entrants: int, first: int = 1
) -> list[str]:
    """The entry ids of queue numbers first..first+entrants-1 (1..N for the
    sale's draw, a block for a resale round's), in number order.

    Read a page of numbers at a time, so Redis answers others in between; a
    number missing or out of place means this is not the whole draw.
    """
    keys = EventKeys(event_id)
    command = cast(Callable[..., list[Any]], client.execute_command)  # untyped in redis-py
    last = first + entrants - 1
    requeued = cast(dict[bytes, bytes], client.hgetall(keys.requeued)).items()
    given_up = given_up_in(requeued, first, last)
    ids: list[str] = []
    for low in range(first, last + 1, READ_PAGE):
        high = min(last, low + READ_PAGE - 1)
        # The raw reply: redis-py's (member, float) pairs of zrange(withscores=True)
        # took 20 times as long (0.9 s of 100k members here).
        members, scores = _members_and_scores(
            command("ZRANGE", keys.queue, low, high, "BYSCORE", "WITHSCORES")
        )
        numbered = [
            (int(score), _text(member)) for member, score in zip(members, scores, strict=True)
        ]
        if given_up:
            numbered = sorted(numbered + [(n, f) for n, f in given_up.items() if low <= n <= high])
        if [n for n, _ in numbered] != list(range(low, high + 1)):
            raise DrawNotSaved(f"event {event_id}: the queue lacks drawn numbers {low}..{high}")
        ids += [fan for _, fan in numbered]
    return ids


def _save_record(connection: Connection, record: DrawRecord) -> bool:
    """Writes the record unless the event's is drawn already; whether it did.

    A frozen record gets the draw's fields; a drawn one is never changed. A
    second clock saving at the same moment waits for the first one's
    transaction, then finds the record drawn and writes nothing.
    """
    postgres = connection.dialect.name == "postgresql"
    statement = (postgresql if postgres else sqlite).insert(DrawRecord)
    if record.seed is None:  # the freeze: the first record stands
        upsert = statement.on_conflict_do_nothing(index_elements=["event_id"])
    else:
        drawn = ("algorithm", "beacon", "seed", "drawn_at", "promise")
        upsert = statement.on_conflict_do_update(
            index_elements=["event_id"],
            set_={name: statement.excluded[name] for name in drawn},
            where=col(DrawRecord.seed).is_(None),
        )
    # The values as parameters, not in the statement: compiling one with the
    # frozen list in it (2.3 MB for 100k entrants) took most of a second.
    values = record.model_dump()
    if postgres:
        # psycopg reports no row count here (-1): the returned key says it.
        returning = upsert.returning(col(DrawRecord.event_id))
        return connection.execute(returning, values).first() is not None
    return connection.execute(upsert, values).rowcount == 1


def _chunks(rows: Sequence[str], size: int) -> Iterator[tuple[int, Sequence[str]]]:
    for start in range(0, len(rows), size):
        yield start, rows[start : start + size]


def _insert_entrants(connection: Connection, event_id: str, ids: Sequence[str]) -> None:
    """drawn_entrant rows (event, number, entry id) for ids in number order."""
    insert_numbered(connection, DrawnEntrant, {"event_id": event_id}, ids)


def insert_numbered(
    connection: Connection,
    table: type[SQLModel],
    key: dict[str, Any],
    ids: Sequence[str],
    first: int = 1,
) -> None:
    """Rows ``key`` + (number, entry id) for ids in number order from ``first``:
    COPY on PostgreSQL, in the connection's transaction."""
    columns = [*key, "number", "entry_id"]
    if connection.dialect.name == "postgresql":
        # The psycopg connection under SQLAlchemy's, in the same transaction.
        driver = cast(psycopg.Connection[Any], connection.connection.driver_connection)
        copy_sql = f"COPY {table.__tablename__} ({', '.join(columns)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for number, entry_id in enumerate(ids, start=first):
                copy.write_row((*key.values(), number, entry_id))
        return
    statement = insert(table)
    for start, chunk in _chunks(ids, INSERT_CHUNK):
        rows = [
            {**key, "number": first + start + i, "entry_id": entry_id}
            for i, entry_id in enumerate(chunk)
        ]
        connection.execute(statement, rows)


def _stored(engine: Engine, event_id: str) -> tuple[str, int, bool] | None:
    """The saved record's digest, entrants and whether it is drawn; None for none."""
    with engine.connect() as connection:
        row = connection.execute(
            select(
                col(DrawRecord.entrants_digest),
                col(DrawRecord.entrants),
                col(DrawRecord.seed).is_not(None),
            ).where(col(DrawRecord.event_id) == event_id)
        ).first()
    return None if row is None else (str(row[0]), int(row[1]), bool(row[2]))


def mark_saved(client: SaleRedis, event_id: str, flag: str, value: str = "1") -> None:
    """Sets a meta flag, only while the sale is in Redis.

    A bare HSET on a sale Redis has just lost would make a meta hash of one
    field, and the clock would take the sale for present and never restore it.
    """
    meta = EventKeys(event_id).meta

    def mark(pipe: redis.client.Pipeline) -> None:
        if pipe.exists(meta):
            pipe.multi()
            pipe.hset(meta, flag, value)

    client.transaction(mark, meta)


def save_draw(engine: Engine, client: SaleRedis, event_id: str) -> int:
    """Copies what the sale's draw has published so far to the database: the
    frozen list once its digest is out, everything once drawn. Returns N.

    Nothing changes when the database has that much already. Raises
    :class:`DrawNotSaved` when the sale has published neither, or Redis does
    not hold it whole.
    """
    meta = _read_meta(client, event_id)
    drawn = meta["state"] in DRAWN_STATES and bool(meta["seed_revealed"])
    if not drawn and not (meta["state"] == "drawing" and meta["entrants_digest"]):
        raise DrawNotSaved(f"event {event_id} has no draw to save (state {meta['state']})")
    stored = _stored(engine, event_id)
    # A frozen record gets the draw only if it is the same list.
    if stored is None or (drawn and not stored[2] and stored[0] == meta["entrants_digest"]):
        numbered: list[str] = []  # the entry ids in number order, once drawn
        if drawn:
            numbered = read_drawn_entrants(client, event_id, int(meta["frozen"] or 0))
            record = _frozen_record(event_id, meta, sorted(f.encode() for f in numbered))
            record.seed, record.promise = meta["seed_revealed"], meta["promise"] or None
            record.drawn_at = _ms(meta, "drawn_at")
        else:
            record = _frozen_record(event_id, meta, read_frozen(client, event_id))
        with engine.begin() as connection:
            if _save_record(connection, record) and drawn:
                _insert_entrants(connection, event_id, numbered)
        stored = _stored(engine, event_id)
    if stored is None or stored[0] != meta["entrants_digest"]:
        # Never overwritten: the first list saved is the one fans were shown.
        log.error("event %s: the saved draw is not the one in Redis", event_id)
    mark_saved(client, event_id, DRAW_SAVED if drawn else FROZEN_SAVED)
    return stored[1] if stored else 0


def unsaved_draws(client: SaleRedis) -> list[str]:
    """Every sale with a published draw step not saved yet (one pipeline)."""
    event_ids = sorted(_text(raw) for raw in cast(set[object], client.smembers(EVENTS_INDEX)))
    pipe = client.pipeline(transaction=False)
    for event_id in event_ids:
        pipe.hmget(EventKeys(event_id).meta, ["state", "entrants_digest", FROZEN_SAVED, DRAW_SAVED])
    return [
        event_id
        for event_id, (state, digest, frozen, drawn) in zip(event_ids, pipe.execute(), strict=True)
        if not drawn
        and (_text(state) in DRAWN_STATES or (_text(state) == "drawing" and digest and not frozen))
    ]
