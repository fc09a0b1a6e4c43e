"""Sales made for one benchmark figure each, through the real create script."""

from __future__ import annotations

import uuid

from buffer.order import new_seed, seed_commitment
from fairdrop.connections import SaleRedis
from loadtests.sync_sale import create_sale_sync
from queue_engine.keys import EVENTS_INDEX, EventKeys
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.scripts import SyncScripts

# Admission as fast as the clock's step bound allows: the figures measure the
# engine, not the organiser's chosen rate.
UNLIMITED_RATE_PER_MIN = 60_000_000
HOLD_SECONDS = 600


def create_bench_sale(
    scripts: SyncScripts, opens_ms: int, drop_ms: int, stock: int, cap: int
) -> str:
    """A new sale of one type ``"ga"`` (limit 1 per fan); returns its event id."""
    event_id = f"bench-{uuid.uuid4().hex[:10]}"
    seed = new_seed()
    ticket_type = TicketTypeSpec("ga", "GA", 100, "EUR", stock, 1)
    spec = SaleSpec(
        event_id,
        "bench",
        opens_ms,
        drop_ms,
        UNLIMITED_RATE_PER_MIN,
        cap,
        HOLD_SECONDS,
        seed,
        seed_commitment(seed),
        (ticket_type,),
    )
    if not create_sale_sync(scripts, spec):
        raise RuntimeError(f"sale {event_id} already exists")
    return event_id


def drop_sale(client: SaleRedis, event_id: str) -> None:
    """Frees a finished benchmark sale's memory (UNLINK frees it off the main thread)."""
    keys = EventKeys(event_id)
    client.unlink(*keys.stored_keys, keys.draw_lease)
    client.srem(EVENTS_INDEX, event_id)
