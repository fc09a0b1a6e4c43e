"""A sale's configuration in Redis: create, pause and resume, read live figures.

The PostgreSQL rows (purchase/models.py) are the durable record; the Redis
meta hash is what the scripts run on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from queue_engine.keys import EVENTS_INDEX
from queue_engine.scripts import AsyncScripts, SyncScripts


@dataclass(frozen=True)
class TicketTypeSpec:
    id: str
    name: str
    price_cents: int
    currency: str
    stock: int
    per_person_limit: int


@dataclass(frozen=True)
class SaleSpec:
    event_id: str
    name: str
    opens_at_ms: int
    drop_at_ms: int
    rate_per_min: int
    cap: int
    hold_seconds: int
    seed: str
    seed_hash: str
    ticket_types: tuple[TicketTypeSpec, ...]
    access: str = "open"
    # The draw's algorithm (buffer/order.py ALGORITHM) and, for v2, the beacon
    # round fixed at creation as JSON (buffer/beacon.py); "" for none.
    algorithm: str = "fairdrop-draw-v2"
    beacon: str = ""
    # What paused pages say (steered while the sale runs); "" for the page's own words.
    pause_message: str = ""

    def script_arg(self) -> str:
        return json.dumps(
            {
                "opens_at": self.opens_at_ms,
                "drop_at": self.drop_at_ms,
                "rate_per_min": self.rate_per_min,
                "cap": self.cap,
                "hold_ms": self.hold_seconds * 1000,
                "seed": self.seed,
                "seed_hash": self.seed_hash,
                "access": self.access,
                "algorithm": self.algorithm,
                "beacon": self.beacon,
                "pause_message": self.pause_message,
                "types": [[t.id, t.stock, t.per_person_limit] for t in self.ticket_types],
            }
        )


async def create_sale(scripts: AsyncScripts, spec: SaleSpec) -> bool:
    created = bool(await scripts.run("create", spec.event_id, spec.script_arg()))
    if created:
        await scripts.client.sadd(EVENTS_INDEX, spec.event_id)
    return created


async def set_paused(scripts: AsyncScripts, event_id: str, paused: bool) -> bool:
    """False when the event does not exist."""
    return bool(await scripts.run("set_paused", event_id, 1 if paused else 0))


async def set_access(scripts: AsyncScripts, event_id: str, policy: str) -> str:
    """'ok', or why not: 'unknown_event', 'window_open' (the policy is fixed from then on)."""
    return _said(await scripts.run("set_access", event_id, 0, policy))


def set_allowances(
    scripts: SyncScripts, event_id: str, allowances: dict[str, int], replace: bool
) -> int:
    """Puts the organiser's list in the sale; the list's length, or -1 for an unknown event."""
    return int(scripts.run("set_allowances", event_id, json.dumps(allowances), int(replace)))


async def set_allowances_async(
    scripts: AsyncScripts, event_id: str, allowances: dict[str, int], replace: bool
) -> int:
    return int(await scripts.run("set_allowances", event_id, json.dumps(allowances), int(replace)))


@dataclass(frozen=True)
class Steering:
    """A running sale's admission settings and stock, as the database has them after a change."""

    rate_per_min: int
    cap: int
    hold_seconds: int
    pause_message: str
    stock: dict[str, int]
    # The change's number in the database's log: a call overtaken by a later one is ignored.
    version: int


def steer(scripts: SyncScripts, event_id: str, steering: Steering) -> bool:
    """Puts the settings in the sale (steer.lua); False when Redis has no such sale."""
    settings = {
        "rate_per_min": steering.rate_per_min,
        "cap": steering.cap,
        "hold_ms": steering.hold_seconds * 1000,
        "pause_message": steering.pause_message,
    }
    stock = json.dumps(steering.stock)
    answer = scripts.run("steer", event_id, json.dumps(settings), stock, steering.version)
    return bool(answer)


def _said(answer: Any) -> str:
    return answer.decode() if isinstance(answer, bytes) else str(answer)


async def reschedule(
    scripts: AsyncScripts, event_id: str, opens_at_ms: int, drop_at_ms: int, beacon: str
) -> str:
    """'ok', or why not: 'unknown_event', 'window_open' (reschedule.lua)."""
    return _said(await scripts.run("reschedule", event_id, 0, opens_at_ms, drop_at_ms, beacon))


async def delete_sale(scripts: AsyncScripts, event_id: str) -> str:
    """'ok', or why not: 'unknown_event', 'window_open', 'has_buyers' (delete_sale.lua)."""
    answer = _said(await scripts.run("delete_sale", event_id, 0))
    if answer == "ok":
        await scripts.client.srem(EVENTS_INDEX, event_id)
    return answer


def parse_snapshot(raw: str | bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None
    value: dict[str, Any] = json.loads(raw)
    return value


async def snapshot(scripts: AsyncScripts, event_id: str) -> dict[str, Any] | None:
    """Live figures of a sale, or None for an unknown event."""
    return parse_snapshot(await scripts.run("snapshot", event_id, 0))
