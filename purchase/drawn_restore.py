"""A saved draw put back into Redis, for a sale Redis lost (purchase/restore.py).

What ``draw_record`` holds (purchase/drawn.py) goes back as it was
published. A sale frozen but not drawn gets its frozen buffer back and
waits for the same beacon round; the clock then draws it, and the order is
the one it would have been. A drawn sale gets its queue numbers 1..N back,
and its seed, beacon value and promise; admission resumes after the last
drawn fan the database saw buy (:func:`resume_after`).

The members go back before ``restore_sale.lua`` makes the sale exist, in
chunks of WRITE_CHUNK: once the sale exists a fan who joins must find their
number, and admission must find every number before theirs; one script
over the whole list would block Redis for as long as it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, func
from sqlmodel import Session, col, select

from fairdrop.connections import SaleRedis
from purchase.models import DrawnEntrant, DrawRecord, Order, epoch_ms
from queue_engine.keys import EventKeys

# Members per ZADD or SADD (buffer/draw.py's WRITE_CHUNK: about a millisecond
# of Redis time each on our machines).
WRITE_CHUNK = 1_500


def _drawn_pages(connection: Connection, event_id: str) -> Iterator[list[str]]:
    """The saved entry ids in number order (number 1 first), a chunk at a time,
    streamed (a server-side cursor on PostgreSQL)."""
    result = connection.execution_options(stream_results=True, yield_per=WRITE_CHUNK).execute(
        select(col(DrawnEntrant.entry_id))
        .where(col(DrawnEntrant.event_id) == event_id)
        .order_by(col(DrawnEntrant.number))
    )
    for rows in result.partitions(WRITE_CHUNK):
        yield [str(row[0]) for row in rows]


def _frozen_pages(record: DrawRecord) -> Iterator[list[str]]:
    ids = record.frozen_list.split("\n")[:-1]  # each id is followed by a newline
    for start in range(0, len(ids), WRITE_CHUNK):
        yield ids[start : start + WRITE_CHUNK]


def write_back(engine: Engine, client: SaleRedis, record: DrawRecord) -> None:
    """The frozen buffer, and once drawn the queue numbers, back in Redis.

    Writing the same members twice changes nothing, so two clocks restoring
    at once agree.
    """
    keys = EventKeys(record.event_id)
    if record.seed is None:
        for ids in _frozen_pages(record):
            client.sadd(keys.buffer, *ids)
        return
    written = 0
    with engine.connect() as connection:
        for ids in _drawn_pages(connection, record.event_id):
            pipe = client.pipeline(transaction=False)
            pipe.zadd(keys.queue, {entry_id: written + i for i, entry_id in enumerate(ids, 1)})
            pipe.sadd(keys.buffer, *ids)  # the buffer as the draw left it
            pipe.execute()
            written += len(ids)


def resume_after(session: Session, event_id: str, entrants: int) -> int:
    """The serving counter a restored drawn sale starts from.

    Admission goes in number order, so every drawn fan up to the highest
    number the database saw buy had their turn; after it, fans admitted
    before the loss get their turn again (their holds went with Redis). An
    order of a fan not drawn came from a late joiner: every drawn fan had
    their turn. Presale orders take no turn and say nothing about admission.
    """
    queued = (col(Order.event_id) == event_id) & col(Order.presale_id).is_(None)
    drawn = select(DrawnEntrant.entry_id).where(col(DrawnEntrant.event_id) == event_id)
    late_buyer = session.exec(
        select(Order.id).where(queued, col(Order.fan_id).not_in(drawn)).limit(1)
    ).first()
    if late_buyer is not None:
        return entrants
    highest = session.exec(
        select(func.max(DrawnEntrant.number)).where(
            col(DrawnEntrant.event_id) == event_id,
            col(DrawnEntrant.entry_id).in_(select(Order.fan_id).where(queued)),
        )
    ).one()
    return int(highest or 0)


def restored_draw(session: Session, record: DrawRecord) -> dict[str, Any]:
    """restore_sale.lua's ARGV[4]: the state, N, the serving counter and the
    meta fields the freeze (and the draw) left, as Redis had them."""
    meta = {
        "algorithm": record.algorithm,
        "entrants_digest": record.entrants_digest,
        "draw_started_at": str(epoch_ms(record.frozen_at)),
        # It came from the database: nothing for the clock to save again.
        "frozen_saved": "1",
    }
    if record.digest_at is not None:
        meta["digest_at"] = str(epoch_ms(record.digest_at))
    if record.beacon is not None:
        meta["beacon"] = record.beacon
    if record.seed is None or record.drawn_at is None:
        return {"state": "drawing", "entrants": record.entrants, "serving": 0, "meta": meta}
    meta |= {
        "seed_revealed": record.seed,
        "drawn_at": str(epoch_ms(record.drawn_at)),
        "draw_saved": "1",
    }
    if record.promise is not None:
        meta["promise"] = record.promise
    serving = resume_after(session, record.event_id, record.entrants)
    return {"state": "queueing", "entrants": record.entrants, "serving": serving, "meta": meta}
