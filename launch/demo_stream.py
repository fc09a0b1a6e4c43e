"""The demo's door and its check on the ticket lifecycle stream.

After the drop the door checks in a share of the tickets sold, through the
door API as staff would. Then the stream's entries are counted from the
stream itself and compared, kind by kind, with the changes the sale actually
made, counted where each change is recorded:

- every hold ever taken is in the sale's ``holds`` hash with its last status,
  from which queue_engine/lifecycle.py ``changes_in_holds`` counts the
  changes it went through (the same count the property test checks after
  every step, tests/queue_engine/test_invariants.py);
- the sold holds are checked against the orders in PostgreSQL (one per hold);
- check-ins are the tickets of the sale with ``checked_in_at`` set in PostgreSQL.

``stream_events`` is the number of entries on the stream; ``stream_matches_changes`` is true
when every kind's count equals the changes counted above.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import col, select

from fairdrop.connections import sync_redis
from fairdrop.settings import Settings
from purchase.db import make_engine, open_session
from purchase.models import Order, Ticket
from queue_engine.keys import EventKeys
from queue_engine.lifecycle import (
    CHECKED_IN,
    RESOLD,
    SOLD,
    changes_in_holds,
    entries_by_change,
    parse_entry,
)

# The share of paid orders whose tickets the demo's door checks in, and the most.
CHECK_IN_SHARE = 0.5
MAX_CHECK_INS = 50


async def check_in_some(base_url: str, token: str, event_id: str) -> int:
    """Checks in the tickets of every other paid order at the demo's door; how many."""
    headers = {"Authorization": f"Bearer {token}"}
    checked = 0
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        listed = await http.get(f"/api/events/{event_id}/orders")
        listed.raise_for_status()
        paid = [o for o in listed.json()["orders"] if o["status"] == "paid"]
        chosen = paid[:: round(1 / CHECK_IN_SHARE)]
        codes = [t["code"] for order in chosen for t in order["tickets"]][:MAX_CHECK_INS]
        for code in codes:
            answer = await http.post("/api/door/check-in", json={"code": code, "door": "demo"})
            if answer.status_code == 200 and answer.json()["result"] == "valid":
                checked += 1
    return checked


def _counted_in_database(settings: Settings, event_id: str) -> tuple[int, int]:
    """The sale's orders and its tickets checked in, counted in PostgreSQL."""
    engine = make_engine(settings)
    try:
        with open_session(engine) as session:
            orders = session.exec(
                select(func.count()).select_from(Order).where(Order.event_id == event_id)
            ).one()
            checked_in = session.exec(
                select(func.count())
                .select_from(Ticket)
                .join(Order, col(Ticket.order_id) == col(Order.id))
                .where(Order.event_id == event_id, col(Ticket.checked_in_at).is_not(None))
            ).one()
    finally:
        engine.dispose()
    return int(orders), int(checked_in)


def stream_figures(settings: Settings, event_id: str, resold: int | None = None) -> dict[str, Any]:
    """The stream's entries against the changes made (see the module).

    ``resold``: the resales the sale made, as the resale counts them where it
    records them; None when the demo made none (then no entry may say so)."""
    keys = EventKeys(event_id)
    client = sync_redis(settings)
    try:
        # One MULTI (one slot): a hold the clock expires meanwhile is in both or neither.
        pipe = client.pipeline(transaction=True)
        pipe.xrange(keys.lifecycle, "-", "+")
        pipe.hvals(keys.holds)
        entries, raw_holds = pipe.execute()
    finally:
        client.close()
    on_stream = entries_by_change(parse_entry(entry_id, fields) for entry_id, fields in entries)
    made = changes_in_holds(raw_holds)
    orders, made[CHECKED_IN] = _counted_in_database(settings, event_id)
    made[RESOLD] = resold or 0
    kinds = set(made) | set(on_stream)
    return {
        "stream_events": len(entries),
        "stream_changes_made": sum(made.values()),
        "stream_matches_changes": all(on_stream[k] == made[k] for k in kinds)
        and made[SOLD] == orders,
        "stream_by_kind": {k: on_stream[k] for k in sorted(kinds) if on_stream[k]},
    }
