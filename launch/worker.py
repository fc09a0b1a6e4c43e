"""The purchase worker process (Procfile ``worker``).

RQ's default Worker forks a child per job, which costs milliseconds per job
and re-opens connections each time; our jobs are a Lua call and a publish, so
SimpleWorker (jobs in the worker process, connections kept) is the right fit.
Scale by running more worker processes.

Beside RQ's loop, each worker keeps a key of its own alive and requeues the
jobs of workers that died (purchase/reaper.py): RQ alone would take minutes.

RQ's loop waits for Redis only while it waits for a job: a Redis error
anywhere else (running a job, its registries, its heartbeat, its own
teardown) ends ``work()``, and the process with it. A Redis restarted in
the middle of a sale did exactly that (issue 14). So a worker that quits
without being asked to is started again here, as a new RQ worker (the old
one's registration went with Redis), once Redis answers.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from types import FrameType

import redis
from rq import Queue, SimpleWorker, Worker

from fairdrop.connections import rq_redis
from fairdrop.settings import Settings
from purchase.reaper import Keeper

log = logging.getLogger("fairdrop.worker")

# Measured by loadtests/rq_workers.py; the figures are in the README.
WORKER_CLASSES: dict[str, type[Worker] | type[SimpleWorker]] = {
    "simple": SimpleWorker,
    "fork": Worker,
}
# Between two tries of a Redis that does not answer yet.
REDIS_WAIT_S = 0.5


def run_worker(settings: Settings, burst: bool = False, worker_class: str = "simple") -> None:
    # Import the jobs (SQLModel, psycopg, ...) once here: a forking worker
    # would otherwise import them again in every child, ~0.3 s per job.
    import purchase.jobs

    # And build the jobs' context now (it opens nothing): its database engine
    # loads SQLAlchemy's dialect, ~0.1 s of CPU that otherwise fell on the
    # sale's first batch of holds, at the busiest moment.
    purchase.jobs.worker_context()

    while True:
        try:
            asked_to_stop = _work(settings, burst, worker_class)
        except (redis.ConnectionError, redis.TimeoutError) as lost:
            log.warning("the worker could not start: %s", lost)  # the keeper's first beat
            asked_to_stop = False
        if burst or asked_to_stop:
            return
        log.warning("the worker quit without being asked to: starting it again")
        if not _wait_for_redis(settings):
            return


def _work(settings: Settings, burst: bool, worker_class: str) -> bool:
    """One RQ worker's life; True when a signal asked it to stop."""
    connection = rq_redis(settings)
    queue = Queue(settings.rq_queue, connection=connection)
    worker = WORKER_CLASSES[worker_class]([queue], connection=connection)
    # Its own connection: the reaper's thread must not share RQ's blocking one.
    keeper = Keeper(Queue(settings.rq_queue, connection=rq_redis(settings)), worker.name)
    keeper.start()
    try:
        worker.work(burst=burst, with_scheduler=not burst, logging_level="WARNING")
    except (redis.ConnectionError, redis.TimeoutError) as lost:
        log.warning("the worker lost Redis: %s", lost)  # raised by RQ's teardown
    finally:
        with contextlib.suppress(redis.RedisError):  # its key expires by itself
            keeper.stop()
        connection.close()
    # RQ's SIGTERM and SIGINT handler notes the time of the request first.
    return worker._shutdown_requested_date is not None


def _wait_for_redis(settings: Settings) -> bool:
    """Waits until RQ's Redis answers; False when a signal asked the process to stop."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # RQ's handlers belong to the worker that quit: ours until the next one starts.
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    client = rq_redis(settings)
    try:
        while not stop.is_set():
            try:
                if client.ping():
                    return True
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            stop.wait(REDIS_WAIT_S)
        return False
    finally:
        client.close()
