"""Steering a running sale: the organiser changes its rate, cap, hold time, pause
message or stock, and every change is logged with who and when.

The database is changed first, in one transaction that logs each field's old
and new value (``sale_change``), so a sale Redis loses comes back steered
(purchase/restore.py reads the same rows). Then steer.lua puts the database's
values, not the differences, into the running sale, with the number of the
log's last row: a retry sets the same state, and of two organisers' calls
the later change wins in Redis as in the database. The clock's next step
admits by the new figures.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import col, delete, select

from fairdrop.errors import ErrorCode, FairdropError
from purchase.db import open_session
from purchase.models import (
    AccessEntry,
    DoorToken,
    Event,
    Order,
    PresaleLink,
    SaleChange,
    TicketType,
    aware,
    utcnow,
)
from queue_engine.sales import Steering, steer
from queue_engine.scripts import SyncScripts

log = logging.getLogger("fairdrop.steering")

# The figures a running sale may change, as named in the API and the log.
STEERED = ("rate_per_min", "cap", "hold_seconds", "pause_message")


@dataclass(frozen=True)
class SaleEdit:
    """What the organiser asks for: new values (None: unchanged) and tickets to add per type."""

    rate_per_min: int | None = None
    cap: int | None = None
    hold_seconds: int | None = None
    pause_message: str | None = None
    add_stock: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Signed:
    """Who made a change: the name they gave and the address they came from."""

    by: str
    address: str


def steer_sale(
    engine: Engine,
    scripts: SyncScripts,
    event_id: str,
    edit: SaleEdit,
    who: Signed,
    max_stock: int,
) -> list[SaleChange]:
    """Applies ``edit`` to the sale and logs it; the changes made (none when nothing differed).

    Raises ``unknown_event``, ``unknown_ticket_type``, or ``invalid_field`` when a
    type's stock would pass ``max_stock``, changing nothing.
    """
    now = utcnow()
    with open_session(engine) as session:
        # Locked: two organisers' changes are applied and numbered one after the other.
        event = session.exec(select(Event).where(Event.id == event_id).with_for_update()).first()
        if event is None:
            raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
        types = {
            t.id: t
            for t in session.exec(
                select(TicketType).where(TicketType.event_id == event_id).with_for_update()
            )
        }
        changes = _settings_changed(event, edit, who, now)
        changes += _stock_added(types, edit.add_stock, max_stock, event_id, who, now)
        if not changes:
            return []
        session.add_all(changes)
        session.flush()  # numbers the rows: the last is this change's version
        steering = Steering(
            rate_per_min=event.rate_per_min,
            cap=event.cap,
            hold_seconds=event.hold_seconds,
            pause_message=event.pause_message,
            stock={t.id: t.stock for t in types.values()},
            version=max(int(c.id or 0) for c in changes),
        )
        session.commit()
    if not steer(scripts, event_id, steering):
        # Redis lost the sale: the clock puts it back from the database, steered.
        log.warning("steered %s in the database; Redis has no such sale yet", event_id)
    return changes


def _settings_changed(event: Event, edit: SaleEdit, who: Signed, now: datetime) -> list[SaleChange]:
    changes = []
    for name in STEERED:
        new = getattr(edit, name)
        old = getattr(event, name)
        if new is None or new == old:
            continue
        setattr(event, name, new)
        changes.append(_change(event.id, name, old, new, who, now))
    return changes


def _stock_added(
    types: dict[str, TicketType],
    added: dict[str, int],
    max_stock: int,
    event_id: str,
    who: Signed,
    now: datetime,
) -> list[SaleChange]:
    changes = []
    for type_id, more in added.items():
        ticket_type = types.get(type_id)
        if ticket_type is None:
            raise FairdropError(ErrorCode.UNKNOWN_TICKET_TYPE, f"no ticket type {type_id}")
        if ticket_type.stock + more > max_stock:
            raise FairdropError(
                ErrorCode.INVALID_FIELD,
                f"add_stock.{type_id}: at most {max_stock - ticket_type.stock} more "
                f"(a type holds at most {max_stock})",
            )
        old = ticket_type.stock
        ticket_type.stock = old + more
        changes.append(_change(event_id, f"stock:{type_id}", old, ticket_type.stock, who, now))
    return changes


def _change(
    event_id: str, name: str, old: object, new: object, who: Signed, now: datetime
) -> SaleChange:
    return SaleChange(
        event_id=event_id,
        field=name,
        old_value=str(old),
        new_value=str(new),
        by=who.by,
        address=who.address,
        at=now,
    )


def sale_changes(engine: Engine, event_id: str) -> list[SaleChange]:
    """The sale's change log, oldest first."""
    with open_session(engine) as session:
        return list(
            session.exec(
                select(SaleChange)
                .where(SaleChange.event_id == event_id)
                .order_by(col(SaleChange.id))
            ).all()
        )


@dataclass(frozen=True)
class Schedule:
    """A sale's name and window as the organiser moves them before it opens."""

    name: str
    opens_at: datetime
    drop_at: datetime
    # The beacon round the draw waits for (JSON, "" for none), chosen after drop_at.
    beacon: str


def reschedule_sale(
    engine: Engine, event_id: str, schedule: Schedule, who: Signed
) -> list[SaleChange]:
    """Records a new name or window (Redis has taken it: reschedule.lua) and logs each change."""
    now = utcnow()
    with open_session(engine) as session:
        event = session.exec(select(Event).where(Event.id == event_id).with_for_update()).first()
        if event is None:
            raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
        changes = []
        for name in ("name", "opens_at", "drop_at"):
            old, new = getattr(event, name), getattr(schedule, name)
            if _stored(old) != _stored(new):
                changes.append(_change(event_id, name, _stored(old), _stored(new), who, now))
                setattr(event, name, new)
        if (event.beacon or "") != schedule.beacon:
            # The round moves with the drop; the log keeps which was published before.
            changes.append(
                _change(event_id, "beacon", event.beacon or "", schedule.beacon, who, now)
            )
            event.beacon = schedule.beacon or None
        session.add_all(changes)
        session.commit()
    return changes


def _stored(value: object) -> str:
    """A value as the log keeps it: times in UTC ISO 8601, whatever the database gave back."""
    if isinstance(value, datetime):
        return aware(value).isoformat()
    return str(value)


def delete_sale_rows(engine: Engine, event_id: str) -> None:
    """Deletes a sale nobody bought from (Redis has let it go: delete_sale.lua) and its
    lists, links, door tokens and change log; ``sale_has_buyers`` if it has an order."""
    with open_session(engine) as session:
        event = session.exec(select(Event).where(Event.id == event_id).with_for_update()).first()
        if event is None:
            raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
        if session.exec(select(Order.id).where(Order.event_id == event_id).limit(1)).first():
            raise FairdropError(
                ErrorCode.SALE_HAS_BUYERS, "this sale has orders: refund them, it cannot be deleted"
            )
        for table in (TicketType, AccessEntry, DoorToken, PresaleLink, SaleChange):
            session.exec(delete(table).where(col(table.event_id) == event_id))
        session.delete(event)
        session.commit()
