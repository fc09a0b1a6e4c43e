"""The clock process (Procfile ``clock``): runs every sale's schedule.

Each step is one tick.lua call per sale, atomic and safe to run from several
clocks at once, so a second clock (for failover) neither double-admits nor
skips anyone. The draw itself is computed here when a sale's window closes,
and what it publishes (the frozen list, then the numbers) is copied to the
database (purchase/drawn.py), as is each resale round's record
(purchase/round_records.py), so a sale Redis loses afterwards comes back
with the draw its fans were shown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import redis
from sqlalchemy import Engine

from buffer.draw import run_draw
from buffer.rounds import RoundTiming, open_round, run_round_draw
from fairdrop.connections import SaleRedis, sync_redis
from fairdrop.metrics import CLOCK_STEP, count_admitted
from fairdrop.settings import Settings
from purchase.db import make_engine
from purchase.db_changes_stream import CheckInSweep
from purchase.drawn import save_draw, unsaved_draws
from purchase.restore import restore_lost_sales
from purchase.round_records import save_rounds, unsaved_rounds
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EVENTS_INDEX
from queue_engine.samples import Sampler
from queue_engine.scripts import SyncScripts

log = logging.getLogger("fairdrop.clock")
DEFAULT_ROUNDS = RoundTiming()

# How often the clock asks whether Redis lost a sale (one query, one pipeline),
# and whether a draw's frozen list or numbers still wait to be saved (one
# pipeline): a frozen list is saved about a second after its digest is out.
RESTORE_CHECK_SECONDS = 1.0
# Samples for the organiser's charts (queue_engine/samples.py) are taken just
# after each wall-clock second begins, so each lands in a second of its own.
SAMPLE_OFFSET_SECONDS = 0.05


def keep_draw(engine: Engine, client: SaleRedis, event_id: str) -> None:
    """Saves what a sale's draw has published; a failure is only logged, since
    the clock tries again every restore check until it is saved."""
    try:
        started = time.perf_counter()
        entrants = save_draw(engine, client, event_id)
    except Exception as exc:  # the database may be down at the drop
        log.warning("saving the draw of %s failed (retried): %s", event_id, exc)
        return
    log.info(
        "saved the draw of %s: %d entrants in %.3fs",
        event_id,
        entrants,
        time.perf_counter() - started,
    )


def keep_rounds(engine: Engine, client: SaleRedis, event_id: str) -> None:
    """Saves what a sale's resale rounds have published, as :func:`keep_draw`."""
    try:
        written = save_rounds(engine, client, event_id)
    except Exception as exc:  # the database may be down at the round's draw
        log.warning("saving the rounds of %s failed (retried): %s", event_id, exc)
        return
    if written:
        log.info("saved %d round steps of %s", written, event_id)


class DrawSaver:
    """Saves draws (and rounds) on a thread of its own, one at a time, so no
    step of any sale waits for the database (a draw of 100k entrants takes
    about a second to save). A sale already waiting to be saved is not queued twice."""

    def __init__(self, engine: Engine, client: SaleRedis) -> None:
        self._engine = engine
        self._client = client
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="draw-saver")
        self._waiting: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def submit(self, event_id: str) -> None:
        self._submit(event_id, keep_draw)

    def submit_rounds(self, event_id: str) -> None:
        self._submit(event_id, keep_rounds)

    def _submit(self, event_id: str, keep: Callable[[Engine, SaleRedis, str], None]) -> None:
        waiting = (keep.__name__, event_id)
        with self._lock:
            if waiting in self._waiting:
                return
            self._waiting.add(waiting)
        self._executor.submit(self._save, waiting, keep)

    def _save(
        self, waiting: tuple[str, str], keep: Callable[[Engine, SaleRedis, str], None]
    ) -> None:
        try:
            keep(self._engine, self._client, waiting[1])
        finally:
            with self._lock:
                self._waiting.discard(waiting)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


@CLOCK_STEP.time()  # its step time, in fairdrop_clock_step_seconds
def step_all_sales(
    scripts: SyncScripts,
    heartbeat_ms: int,
    on_drawn: Callable[[str], None] | None = None,
    beacon_wait_seconds: float = 20.0,
    rounds: RoundTiming = DEFAULT_ROUNDS,
    on_round: Callable[[str], None] | None = None,
) -> int:
    """One step for every sale; returns how many fans were admitted.

    ``on_drawn`` is called with the id of each sale whose draw finished in this
    step. A sale whose tickets came back after it sold out, with nobody left in
    line, gets a resale round, drawn when its window closes (buffer/rounds.py);
    ``on_round`` is called with its id when a round opens or is drawn.
    """
    admitted = 0
    for raw in scripts.client.smembers(EVENTS_INDEX):
        event_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        result = admit_next_batch(scripts, event_id, heartbeat_ms)
        admitted += result.admitted
        count_admitted(result.admitted)
        if result.state == "drawing":
            drawn = run_draw(scripts, event_id, beacon_wait_seconds)
            if drawn is not None:
                log.info("drew %s: %d entrants in %.3fs", event_id, drawn.entrants, drawn.seconds)
            if drawn is not None and drawn.state != "drawing" and on_drawn is not None:
                on_drawn(event_id)
        if result.round_due:
            opened = open_round(scripts, event_id, rounds)
            if opened and on_round is not None:
                on_round(event_id)
        elif result.round_state == "drawing":
            drew = run_round_draw(scripts, event_id, rounds.beacon_wait_seconds)
            if drew is not None:
                log.info("drew %s round %d: %d entrants", event_id, drew.round, drew.entrants)
                if on_round is not None:
                    on_round(event_id)
    return admitted


def check_redis(
    engine: Engine,
    scripts: SyncScripts,
    grace: timedelta,
    save: Callable[[str], None],
    sweep: CheckInSweep | None = None,
    save_rounds: Callable[[str], None] | None = None,
) -> None:
    """Once a second: sales Redis lost come back, and each sale with a draw
    step not saved yet (just frozen, or the database was down at the drop)
    goes to ``save``, each with a resale round step not saved yet to
    ``save_rounds``; ``sweep`` streams check-ins a dying door did not."""
    # A Redis that restarted empty has lost every sale: the database puts
    # them back before anyone can hold a ticket it already sold. Apart from
    # the steps: a database outage must not stop admission.
    try:
        restore_lost_sales(engine, scripts, grace)
    except Exception as exc:  # retried next second; no trace per second
        log.warning("looking for sales Redis lost failed: %s", exc)
    try:
        for event_id in unsaved_draws(scripts.client):
            save(event_id)
        if save_rounds is not None:
            for event_id in unsaved_rounds(scripts.client):
                save_rounds(event_id)
    except Exception as exc:  # retried next second
        log.warning("looking for draws to save failed: %s", exc)
    if sweep is not None:
        try:
            sweep.run_if_due()
        except Exception as exc:  # the same check-ins are looked for next time
            log.warning("streaming door check-ins failed: %s", exc)


def take_samples(sampler: Sampler) -> None:
    """A sample of every live sale for the organiser's charts; a failure costs
    the charts a second, never a step of any sale."""
    try:
        sampler.sample_all()
    except (redis.ConnectionError, redis.TimeoutError) as lost:
        log.warning("sampling the sales: Redis out of reach: %s", lost)
    except Exception:  # the charts are not worth a sale's admission
        log.exception("sampling the sales failed")


def run_clock(settings: Settings, stop: threading.Event | None = None) -> None:
    scripts = SyncScripts(sync_redis(settings), settings.lifecycle_stream_maxlen)
    engine = make_engine(settings)
    saver = DrawSaver(engine, scripts.client)
    sweep = CheckInSweep(engine, scripts)
    # One tick early: a step lands up to a tick after the heartbeat falls due,
    # and every fan must hear from us within heartbeat_seconds.
    heartbeat_ms = int((settings.heartbeat_seconds - settings.clock_tick_seconds) * 1000)
    grace = timedelta(seconds=settings.restore_grace_seconds)
    stop = stop or threading.Event()
    next_check = 0.0
    sampler = Sampler(scripts.client)
    next_sample = 0.0
    rounds = RoundTiming.from_settings(settings)
    try:
        while not stop.is_set():
            started = time.monotonic()
            if started >= next_check:
                next_check = started + RESTORE_CHECK_SECONDS
                check_redis(engine, scripts, grace, saver.submit, sweep, saver.submit_rounds)
            if time.time() >= next_sample:
                next_sample = int(time.time()) + 1 + SAMPLE_OFFSET_SECONDS
                take_samples(sampler)
            try:
                step_all_sales(
                    scripts,
                    heartbeat_ms,
                    saver.submit,
                    settings.beacon_wait_seconds,
                    rounds,
                    saver.submit_rounds,
                )
            except (redis.ConnectionError, redis.TimeoutError) as lost:
                # Down or restarting: every tick says so, in one line, until it is
                # back; then check_redis puts back the sales it lost.
                log.warning("clock step: Redis out of reach: %s", lost)
            except Exception:  # a bad step must not stop every sale's clock
                log.exception("clock step failed")
            stop.wait(max(0.0, settings.clock_tick_seconds - (time.monotonic() - started)))
    finally:
        saver.close()
