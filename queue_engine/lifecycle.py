"""A sale's ticket lifecycle as a Redis Stream, for other systems to follow.

One entry per ticket change, written by the Lua script that makes the change
(``record_change`` in lua/_prelude.lua), so a change and its entry happen
together or not at all:

======================  ==============================================================
kind                    written by
======================  ==============================================================
``held``                hold.lua, presale_hold.lua (``take_hold``)
``released``            release.lua (the fan let go, or the payment failed)
``expired``             tick.lua's expiry sweep, or confirm.lua meeting an unswept one
``sold``                confirm.lua (once per hold; a late payment after
                        ``expired``/``released`` writes ``sold`` after it)
``refunded``            return_sold.lua (an organiser's cancel, a refund)
``resold``              stream_once.lua, after the buyer's order took the listing in
                        PostgreSQL (purchase/db_changes_stream.py: exactly once)
``checked_in``          stream_once.lua, after the door's PostgreSQL check-in
                        (purchase/db_changes_stream.py: exactly once, see there)
======================  ==============================================================

A ``resold`` entry is one seat that changed hands: ``items`` ``[[type, 1]]``,
``order`` the buyer's order, ``codes`` the seller's code, void from then on.

Every entry's fields: ``kind``; ``sale`` (the event id); ``items``, JSON
``[[ticket type id, count], ...]``; ``hold``, the hold id ("" for a check-in:
an order is unique per hold, ``orders.hold_id``); ``order``, the order id
where the change knows one (refunded, checked_in; a sale's order is written
to PostgreSQL just after ``sold``, under the same hold); ``codes``, JSON
ticket codes (checked_in); ``at``, Redis's clock in ms when the change was
made. The stream's key carries the sale's hash tag (queue_engine/keys.py
``EventKeys.lifecycle``) and is trimmed to about
``Settings.lifecycle_stream_maxlen`` entries (``XADD MAXLEN ~``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from fairdrop.connections import SaleRedis
from queue_engine.keys import EventKeys

HELD: Final = "held"
RELEASED: Final = "released"
EXPIRED: Final = "expired"
SOLD: Final = "sold"
REFUNDED: Final = "refunded"
RESOLD: Final = "resold"
CHECKED_IN: Final = "checked_in"
KINDS: Final = (HELD, RELEASED, EXPIRED, SOLD, REFUNDED, RESOLD, CHECKED_IN)

# Entries read per XRANGE call when a whole stream is counted.
_PAGE = 1_000


@dataclass(frozen=True)
class LifecycleEntry:
    id: str
    kind: str
    sale: str
    items: tuple[tuple[str, int], ...]
    hold: str
    order: str
    codes: tuple[str, ...]
    at_ms: int

    @property
    def tickets(self) -> int:
        return sum(count for _, count in self.items)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_entry(entry_id: bytes | str, fields: Mapping[Any, Any] | Sequence[Any]) -> LifecycleEntry:
    """An entry as XRANGE/XREADGROUP give it (bytes or str, as the client decodes;
    a flat list of names and values from a cluster's MULTI, which redis-py leaves raw)."""
    if isinstance(fields, Mapping):
        pairs = list(fields.items())
    else:
        pairs = list(zip(fields[::2], fields[1::2], strict=True))
    f = {_text(k): _text(v) for k, v in pairs}
    return LifecycleEntry(
        id=_text(entry_id),
        kind=f["kind"],
        sale=f["sale"],
        items=tuple((str(t), int(n)) for t, n in json.loads(f["items"])),
        hold=f["hold"],
        order=f["order"],
        codes=tuple(json.loads(f["codes"])),
        at_ms=int(f["at"]),
    )


def lifecycle_entries(client: SaleRedis, event_id: str) -> list[LifecycleEntry]:
    """Every entry the sale's stream still keeps, oldest first, a page at a time."""
    key = EventKeys(event_id).lifecycle
    entries: list[LifecycleEntry] = []
    start = "-"
    while True:
        page: list[tuple[Any, Any]] = client.xrange(key, start, "+", count=_PAGE) or []
        entries.extend(parse_entry(entry_id, fields) for entry_id, fields in page)
        if len(page) < _PAGE:
            return entries
        start = "(" + _text(page[-1][0])


def count_by_kind(client: SaleRedis, event_id: str) -> Counter[str]:
    """How many entries of each kind the sale's stream keeps."""
    return Counter(entry.kind for entry in lifecycle_entries(client, event_id))


# Released and expired counted as one: a hold sold late keeps only ``late``,
# not which of the two ended it.
ENDED_UNPAID: Final = "ended_unpaid"


def changes_in_holds(raw_holds: Iterable[bytes | str]) -> Counter[str]:
    """The changes the sale's holds went through, from each hold's last state
    (the ``holds`` hash keeps every hold): what its stream must hold, by
    :func:`entries_by_change`'s kinds. Each hold was held once; one that ended
    unpaid (released or expired) ended once, and so did one sold late (it had
    ended before its payment came); a confirmed or refunded hold was sold
    once, and a refunded one refunded once."""
    changes: Counter[str] = Counter()
    for hold in map(json.loads, raw_holds):
        status = hold["status"]
        changes[HELD] += 1
        changes[ENDED_UNPAID] += int(status in (RELEASED, EXPIRED)) + int(bool(hold.get("late")))
        changes[SOLD] += int(status in ("confirmed", REFUNDED))
        changes[REFUNDED] += int(status == REFUNDED)
    return changes


def entries_by_change(entries: Iterable[LifecycleEntry]) -> Counter[str]:
    """Entries counted by kind, released and expired together (ENDED_UNPAID)."""
    counted = Counter(entry.kind for entry in entries)
    counted[ENDED_UNPAID] = counted.pop(RELEASED, 0) + counted.pop(EXPIRED, 0)
    return counted
