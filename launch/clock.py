"""The clock process (Procfile ``clock``): runs every sale's schedule.

Each step is one tick.lua call per sale, atomic and safe to run from several
clocks at once, so a second clock (for failover) neither double-admits nor
skips anyone. The draw itself is computed here when a sale's window closes.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from buffer.draw import run_draw
from fairdrop.connections import sync_redis
from fairdrop.settings import Settings
from purchase.db import make_engine
from purchase.restore import restore_lost_sales
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EVENTS_INDEX
from queue_engine.scripts import SyncScripts

log = logging.getLogger("fairdrop.clock")

# How often the clock asks whether Redis lost a sale (one query, one pipeline).
RESTORE_CHECK_SECONDS = 1.0


def step_all_sales(scripts: SyncScripts, heartbeat_ms: int) -> int:
    """One step for every sale; returns how many fans were admitted."""
    admitted = 0
    for raw in scripts.client.smembers(EVENTS_INDEX):
        event_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        result = admit_next_batch(scripts, event_id, heartbeat_ms)
        admitted += result.admitted
        if result.state == "drawing":
            drawn = run_draw(scripts, event_id)
            if drawn is not None:
                log.info("drew %s: %d entrants in %.3fs", event_id, drawn.entrants, drawn.seconds)
    return admitted


def run_clock(settings: Settings, stop: threading.Event | None = None) -> None:
    scripts = SyncScripts(sync_redis(settings))
    engine = make_engine(settings)
    # One tick early: a step lands up to a tick after the heartbeat falls due,
    # and every fan must hear from us within heartbeat_seconds.
    heartbeat_ms = int((settings.heartbeat_seconds - settings.clock_tick_seconds) * 1000)
    grace = timedelta(seconds=settings.restore_grace_seconds)
    stop = stop or threading.Event()
    next_restore = 0.0
    while not stop.is_set():
        started = time.monotonic()
        if started >= next_restore:
            next_restore = started + RESTORE_CHECK_SECONDS
            # A Redis that restarted empty has lost every sale: the database
            # puts them back before anyone can hold a ticket it already sold.
            # Apart from the steps: a database outage must not stop admission.
            try:
                restore_lost_sales(engine, scripts, grace)
            except Exception as exc:  # retried next second; no trace per second
                log.warning("looking for sales Redis lost failed: %s", exc)
        try:
            step_all_sales(scripts, heartbeat_ms)
        except Exception:  # a bad step must not stop every sale's clock
            log.exception("clock step failed")
        stop.wait(max(0.0, settings.clock_tick_seconds - (time.monotonic() - started)))
