"""Door check-ins on the sale's lifecycle stream, exactly once each.

A check-in is a PostgreSQL change (purchase/tickets.py: one conditional
UPDATE), so no Lua script can make it and its stream entry in one step. The
way chosen here is an outbox without a new table: the ticket row itself, with
``checked_in_at`` set, is the durable record that an entry is owed, and
stream_check_in.lua is an idempotent XADD keyed by the ticket's code (a
ticket checks in at most once, so its code names the change):

- the door calls :func:`stream_check_in_async` right after the commit;
- if that process dies between the commit and the XADD, the clock's sweep
  (:class:`CheckInSweep`, every SWEEP_SECONDS) finds the check-in in the
  database and offers it again; offering one twice (the door was only slow,
  or the process died after the XADD) finds its code in the sale's
  ``lifecycle_check_ins`` hash and writes nothing.

Why not a separate outbox table: the row a crash could leave without its
entry already exists and says everything the entry needs, and a new table
would mean a migration and a second write in the door's hot path for nothing.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import Engine, select
from sqlmodel import col

from purchase.models import Order, Ticket
from purchase.tickets import TicketDetails
from queue_engine.scripts import AsyncScripts, ScriptArg, SyncScripts

log = logging.getLogger("fairdrop.check_in_stream")

# How often the clock looks for check-ins with no entry yet.
SWEEP_SECONDS = 5.0
# How far back each sweep looks before the previous one started: a door's
# ``checked_in_at`` is taken before its UPDATE commits, so a slow commit
# lands in the database with a time the previous sweep had already passed.
SWEEP_MARGIN = timedelta(seconds=60)
# A clock that starts looks this far back (one that was down longer misses
# older lost entries: they are in the database, not the stream).
START_LOOKBACK = timedelta(hours=1)


def _script_args(code: str, ticket_type_id: str, order_id: str) -> list[ScriptArg]:
    return [code, ticket_type_id, order_id]


async def stream_check_in_async(scripts: AsyncScripts, ticket: TicketDetails) -> str | None:
    """The check-in's entry id, or None when it was streamed before or Redis
    is out of reach: the holder is in (the database says so), and the door
    must hear that; the clock's sweep writes the entry once Redis is back."""
    args = _script_args(ticket.code, ticket.ticket_type_id, ticket.order_id)
    try:
        entry = await scripts.run("stream_check_in", ticket.event_id, *args)
    except redis.RedisError as error:
        # Not the code: it is what lets its holder in.
        log.warning(
            "a check-in of %s not streamed yet (the sweep will): %s", ticket.event_id, error
        )
        return None
    return None if entry is None else entry.decode() if isinstance(entry, bytes) else str(entry)


def stream_check_ins_since(engine: Engine, scripts: SyncScripts, since: datetime) -> int:
    """Offers every check-in made at or after ``since`` to the stream again;
    how many entries were missing (and are written now)."""
    query = (
        select(col(Order.event_id), col(Ticket.code), col(Ticket.ticket_type_id), col(Order.id))
        .join(Order, col(Order.id) == col(Ticket.order_id))
        .where(col(Ticket.checked_in_at) >= since)
    )
    by_sale: dict[str, list[list[ScriptArg]]] = defaultdict(list)
    with engine.connect() as connection:
        for event_id, code, type_id, order_id in connection.execute(query):
            by_sale[event_id].append(_script_args(code, type_id, order_id))
    written = 0
    for event_id, arg_lists in by_sale.items():
        answers = scripts.run_many("stream_check_in", event_id, arg_lists)
        written += sum(answer is not None for answer in answers)
    return written


class CheckInSweep:
    """The clock's sweep: check-ins since the previous sweep (less the margin)."""

    def __init__(self, engine: Engine, scripts: SyncScripts) -> None:
        self._engine = engine
        self._scripts = scripts
        self._since = datetime.now(UTC) - START_LOOKBACK
        self._next = 0.0

    def run_if_due(self) -> int:
        """Sweeps when SWEEP_SECONDS passed since the last sweep; entries written."""
        if time.monotonic() < self._next:
            return 0
        started = datetime.now(UTC)
        written = stream_check_ins_since(self._engine, self._scripts, self._since)
        # Only after a sweep went through: one that failed is made again.
        self._since = started - SWEEP_MARGIN
        self._next = time.monotonic() + SWEEP_SECONDS
        if written:
            log.info("streamed %d check-in(s) their door had not", written)
        return written
