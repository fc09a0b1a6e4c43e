"""Changes made in PostgreSQL on the sale's lifecycle stream, exactly once each.

Two changes are PostgreSQL's alone: a door check-in (purchase/tickets.py:
one conditional UPDATE) and a resale (purchase/resale.py take_listings,
inside the buyer's order's transaction). No Lua script can make either and
its stream entry in one step. The way chosen here is an outbox without a
new table: the row itself (a ticket with ``checked_in_at`` set, a listing
with ``resold_at`` set) is the durable record that an entry is owed, and
stream_once.lua is an idempotent XADD keyed by the change's own name (a
ticket checks in at most once, so its code names the check-in; a listing
is resold at most once, so its id names the resale):

- the door calls :func:`stream_check_in_async` right after the commit, the
  worker :func:`stream_resales` right after the buyer's order is written;
- if that process dies between the commit and the XADD, the clock's sweep
  (:class:`CheckInSweep`, every SWEEP_SECONDS) finds the change in the
  database and offers it again; offering one twice (the caller was only
  slow, or died after the XADD) finds its name in the sale's
  ``lifecycle_once`` hash and writes nothing.

Why not a separate outbox table: the row a crash could leave without its
entry already exists and says everything the entry needs, and a new table
would mean a migration and a second write in the door's hot path for nothing.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import Engine, select
from sqlmodel import col

from purchase.models import Order, ResaleListing, Ticket
from purchase.resale import RESOLD as RESOLD_STATUS
from purchase.tickets import TicketDetails
from queue_engine.lifecycle import CHECKED_IN, RESOLD
from queue_engine.scripts import AsyncScripts, ScriptArg, SyncScripts

log = logging.getLogger("fairdrop.db_changes_stream")

# How often the clock looks for check-ins with no entry yet.
SWEEP_SECONDS = 5.0
# How far back each sweep looks before the previous one started: a door's
# ``checked_in_at`` is taken before its UPDATE commits, so a slow commit
# lands in the database with a time the previous sweep had already passed.
SWEEP_MARGIN = timedelta(seconds=60)
# A clock that starts looks this far back (one that was down longer misses
# older lost entries: they are in the database, not the stream).
START_LOOKBACK = timedelta(hours=1)


def check_in_args(code: str, ticket_type_id: str, order_id: str) -> list[ScriptArg]:
    """stream_once.lua's arguments for a ticket's check-in."""
    return [CHECKED_IN, code, ticket_type_id, order_id, code]


def _resale_args(listing_id: str, type_id: str, buyer_order_id: str, code: str) -> list[ScriptArg]:
    return [RESOLD, listing_id, type_id, buyer_order_id, code]


def _resales(engine: Engine, *where: Any) -> list[tuple[str, list[ScriptArg]]]:
    """(sale, stream_once.lua's arguments) of each resale the conditions pick."""
    query = (
        select(
            col(ResaleListing.event_id),
            col(ResaleListing.id),
            col(ResaleListing.ticket_type_id),
            col(ResaleListing.buyer_order_id),
            col(Ticket.code),
        )
        .join(Ticket, col(Ticket.id) == col(ResaleListing.ticket_id))
        .where(col(ResaleListing.status) == RESOLD_STATUS, *where)
    )
    with engine.connect() as connection:
        return [
            (event_id, _resale_args(listing_id, type_id, order_id or "", code))
            for event_id, listing_id, type_id, order_id, code in connection.execute(query)
        ]


def _offer(scripts: SyncScripts, changes: list[tuple[str, list[ScriptArg]]]) -> int:
    """Offers each (sale, arguments) to stream_once.lua; how many were not streamed before."""
    by_sale: dict[str, list[list[ScriptArg]]] = defaultdict(list)
    for event_id, args in changes:
        by_sale[event_id].append(args)
    written = 0
    for event_id, arg_lists in by_sale.items():
        answers = scripts.run_many("stream_once", event_id, arg_lists)
        written += sum(answer is not None for answer in answers)
    return written


def stream_resales(engine: Engine, scripts: SyncScripts, buyer_order_id: str) -> int:
    """The resales this paid order made, on the stream (once); how many were new.

    Called by the worker once the order is written; a worker that dies first
    leaves them to the clock's sweep.
    """
    return _offer(scripts, _resales(engine, col(ResaleListing.buyer_order_id) == buyer_order_id))


async def stream_check_in_async(scripts: AsyncScripts, ticket: TicketDetails) -> str | None:
    """The check-in's entry id, or None when it was streamed before or Redis
    is out of reach: the holder is in (the database says so), and the door
    must hear that; the clock's sweep writes the entry once Redis is back."""
    args = check_in_args(ticket.code, ticket.ticket_type_id, ticket.order_id)
    try:
        entry = await scripts.run("stream_once", ticket.event_id, *args)
    except redis.RedisError as error:
        # Not the code: it is what lets its holder in.
        log.warning(
            "a check-in of %s not streamed yet (the sweep will): %s", ticket.event_id, error
        )
        return None
    return None if entry is None else entry.decode() if isinstance(entry, bytes) else str(entry)


def stream_check_ins_since(engine: Engine, scripts: SyncScripts, since: datetime) -> int:
    """Offers every check-in and resale made at or after ``since`` to the
    stream again; how many entries were missing (and are written now)."""
    query = (
        select(col(Order.event_id), col(Ticket.code), col(Ticket.ticket_type_id), col(Order.id))
        .join(Order, col(Order.id) == col(Ticket.order_id))
        .where(col(Ticket.checked_in_at) >= since)
    )
    with engine.connect() as connection:
        check_ins = [
            (event_id, check_in_args(code, type_id, order_id))
            for event_id, code, type_id, order_id in connection.execute(query)
        ]
    return _offer(scripts, check_ins + _resales(engine, col(ResaleListing.resold_at) >= since))


class CheckInSweep:
    """The clock's sweep: check-ins and resales since the previous sweep (less the margin)."""

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
            log.info("streamed %d check-in(s) or resale(s) their caller had not", written)
        return written
