"""Blocking, one-call-at-a-time versions of the sale's scripts, for tests and benches.

The product creates sales, joins fans and reads figures asynchronously (the
web app) and holds tickets in batches (the worker); the tests and the
benchmarks drive the same Lua scripts step by step at times of their own.
The scripts' arguments come from the product's own helpers, so both sides
call the scripts alike.
"""

from __future__ import annotations

import uuid
from typing import Any

from buffer.arrivals import NO_SHARE, AddressShare, Entry, Joiner, join_args, parse_entry
from purchase.holds import HoldAsk, ScriptAnswer, answer_of, hold_args
from queue_engine.keys import EVENTS_INDEX
from queue_engine.sales import SaleSpec, parse_snapshot
from queue_engine.scripts import SyncScripts


def create_sale_sync(scripts: SyncScripts, spec: SaleSpec) -> bool:
    """As ``queue_engine.sales.create_sale``: False when the event exists already."""
    created = bool(scripts.run("create", spec.event_id, spec.script_arg()))
    if created:
        scripts.client.sadd(EVENTS_INDEX, spec.event_id)
    return created


def join_sync(
    scripts: SyncScripts,
    event_id: str,
    joiner: Joiner | str,
    now_ms: int = 0,
    share: AddressShare = NO_SHARE,
) -> Entry:
    """As ``buffer.arrivals.join``, at a time of the caller's; a bare id is an open fan."""
    if isinstance(joiner, str):
        joiner = Joiner(joiner)
    return parse_entry(scripts.run("join", event_id, now_ms, *join_args(joiner, share)))


def snapshot_sync(scripts: SyncScripts, event_id: str) -> dict[str, Any] | None:
    """As ``queue_engine.sales.snapshot``: live figures, or None for an unknown event."""
    return parse_snapshot(scripts.run("snapshot", event_id, 0))


def hold_tickets(
    scripts: SyncScripts,
    event_id: str,
    fan_id: str,
    request_id: str,
    items: list[tuple[str, int]],
    now_ms: int = 0,
    hold_id: str | None = None,
    discount: str = "",
) -> ScriptAnswer:
    """One fan's hold.lua call: all the items or none; the same request id
    always gets the same answer. ``hold_id`` fixes the new hold's id (replays);
    ``discount`` is a code in lower case."""
    ask = HoldAsk(fan_id, request_id, items, discount)
    args = hold_args(ask, now_ms, hold_id or uuid.uuid4().hex)
    return answer_of(scripts.run("hold", event_id, *args))
