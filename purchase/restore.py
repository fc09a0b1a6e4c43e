"""Puts back a sale Redis lost, from PostgreSQL's record (DESIGN invariant 6).

Redis runs the sale and PostgreSQL keeps what was sold. If Redis restarts
empty (no persistence, a failover to a fresh replica), the clock finds every
sale the database has and Redis lacks, and ``restore_sale.lua`` rebuilds
each in one step: its schedule and stock with every ticket the database says
was sold taken out, and each order's hold, so cancels and late payments
still find them; the organiser's list and its allowances come back from
``access_entry``, each presale link with what paid orders left of it, and
each discount code with the uses paid orders made of it.

A sale lost after its freeze keeps its draw as far as it was published
(``draw_record``, purchase/drawn_restore.py): the frozen list, and once
drawn the numbers, seed, beacon value and promise. A fan who joins again
gets their drawn number back. Late joiners (numbers after N) are not in the
record: joining again puts them after the drawn fans, in the order they
come back. Live holds are gone: their fans take their turn again. Resale
rounds come back as published records (purchase/round_records.py), for
anyone to verify and for the next round's number; their entrants' places
do not, as late joiners' do not.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import col, select

from purchase.db import open_session
from purchase.discounts import restore_codes
from purchase.drawn_restore import restored_draw, write_back
from purchase.models import (
    AccessEntry,
    DrawRecord,
    Event,
    Order,
    OrderItem,
    TicketType,
    epoch_ms,
    utcnow,
)
from purchase.presales import restore_links
from purchase.resale import mark_seats_returned, put_back_counts
from purchase.round_records import restored_rounds, rounds_of
from queue_engine.keys import EVENTS_INDEX, EventKeys
from queue_engine.sales import SaleSpec, TicketTypeSpec, set_allowances
from queue_engine.scripts import SyncScripts

log = logging.getLogger("fairdrop.restore")


def sale_spec(event: Event, types: Sequence[TicketType]) -> SaleSpec:
    """What create.lua (and restore_sale.lua) need, from the database rows."""
    return SaleSpec(
        event_id=event.id,
        name=event.name,
        opens_at_ms=epoch_ms(event.opens_at),
        drop_at_ms=epoch_ms(event.drop_at),
        rate_per_min=event.rate_per_min,
        cap=event.cap,
        hold_seconds=event.hold_seconds,
        seed=event.seed,
        seed_hash=event.seed_hash,
        access=event.access,
        algorithm=event.algorithm,
        beacon=event.beacon or "",
        pause_message=event.pause_message,
        ticket_types=tuple(
            TicketTypeSpec(t.id, t.name, t.price_cents, t.currency, t.stock, t.per_person_limit)
            for t in types
        ),
    )


def restore_sale(engine: Engine, scripts: SyncScripts, event_id: str, now_ms: int = 0) -> bool:
    """Rebuilds one sale in Redis from the database; False when Redis still has it."""
    with open_session(engine) as session:
        event = session.get(Event, event_id)
        if event is None:
            return False
        types = session.exec(select(TicketType).where(TicketType.event_id == event_id)).all()
        orders = session.exec(select(Order).where(Order.event_id == event_id)).all()
        items = session.exec(
            select(OrderItem).where(col(OrderItem.order_id).in_([o.id for o in orders]))
        ).all()
        spec = sale_spec(event, types)
        listed = session.exec(select(AccessEntry).where(AccessEntry.event_id == event_id)).all()
        allowances = {entry.entrant_id: entry.allowance for entry in listed}
        record = session.get(DrawRecord, event_id)
        draw = "" if record is None else json.dumps(restored_draw(session, record))
        rounds = restored_rounds(rounds_of(session, event_id))
    if record is not None:
        if scripts.client.exists(EventKeys(event_id).meta):
            return False
        # Before the script makes the sale exist (purchase/drawn_restore.py).
        write_back(engine, scripts.client, record)
    by_order: dict[str, list[list[str | int]]] = {o.id: [] for o in orders}
    # A ticket put back is on sale again or counted by its buyer's order: its
    # seller's seat is not sold twice (purchase/resale.py).
    back = put_back_counts(engine, event_id)
    for item in items:
        quantity = item.quantity - back.get((item.order_id, item.ticket_type_id), 0)
        if quantity > 0:
            by_order[item.order_id].append([item.ticket_type_id, quantity])
    sold = [
        [o.hold_id, o.fan_id, by_order[o.id], o.payment_ref, o.status]
        for o in orders
        if by_order[o.id]
    ]
    answer = json.loads(
        scripts.run(
            "restore_sale", event_id, now_ms, spec.script_arg(), json.dumps(sold), draw, rounds
        )
    )
    if answer.get("incomplete"):
        raise RuntimeError(f"event {event_id}: the saved draw did not all reach Redis")
    scripts.client.sadd(EVENTS_INDEX, event_id)
    if answer["restored"] and allowances:
        set_allowances(scripts, event_id, allowances, replace=True)
    if answer["restored"]:
        restore_links(engine, scripts, event_id)
        mark_seats_returned(engine, scripts, event_id)
        restore_codes(engine, scripts, event_id)
    if answer["restored"]:
        log.warning(
            "restored sale %s from the database: sold %s, drawn entrants %s",
            event_id,
            answer["sold"],
            record.entrants if record else "none",
        )
    return bool(answer["restored"])


def restore_lost_sales(
    engine: Engine, scripts: SyncScripts, created_before: timedelta
) -> list[str]:
    """Every sale the database has and Redis lacks, restored; their ids.

    Sales created within ``created_before`` are left alone: the organiser API
    writes the database first and Redis a moment later.
    """
    cutoff = utcnow() - created_before
    with open_session(engine) as session:
        ids = list(session.exec(select(Event.id).where(col(Event.created_at) < cutoff)).all())
    if not ids:
        return []
    pipe = scripts.client.pipeline(transaction=False)
    for event_id in ids:
        pipe.exists(EventKeys(event_id).meta)
    missing = [event_id for event_id, there in zip(ids, pipe.execute(), strict=True) if not there]
    return [event_id for event_id in missing if restore_sale(engine, scripts, event_id)]
