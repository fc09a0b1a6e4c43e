"""The clock process (Procfile ``clock``): runs every sale's schedule.

Each step is one tick.lua call per sale, atomic and safe to run from several
clocks at once, so a second clock (for failover) neither double-admits nor
skips anyone. The draw itself is computed here when a sale's window closes.
"""

from __future__ import annotations

import logging
import threading
import time

from buffer.draw import run_draw
from fairdrop.connections import sync_redis
from fairdrop.settings import Settings
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EVENTS_INDEX
from queue_engine.scripts import SyncScripts

log = logging.getLogger("fairdrop.clock")


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
    # One tick early: a step lands up to a tick after the heartbeat falls due,
    # and every fan must hear from us within heartbeat_seconds.
    heartbeat_ms = int((settings.heartbeat_seconds - settings.clock_tick_seconds) * 1000)
    stop = stop or threading.Event()
    while not stop.is_set():
        started = time.monotonic()
        try:
            step_all_sales(scripts, heartbeat_ms)
        except Exception:  # a bad step must not stop every sale's clock
            log.exception("clock step failed")
        stop.wait(max(0.0, settings.clock_tick_seconds - (time.monotonic() - started)))
