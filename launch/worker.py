"""The purchase worker process (Procfile ``worker``).

RQ's default Worker forks a child per job, which costs milliseconds per job
and re-opens connections each time; our jobs are a Lua call and a publish, so
SimpleWorker (jobs in the worker process, connections kept) is the right fit.
Scale by running more worker processes.

Beside RQ's loop, each worker keeps a key of its own alive and requeues the
jobs of workers that died (purchase/reaper.py): RQ alone would take minutes.
"""

from __future__ import annotations

from rq import Queue, SimpleWorker, Worker

from fairdrop.connections import rq_redis
from fairdrop.settings import Settings
from purchase.reaper import Keeper

# Measured by loadtests/rq_workers.py; the figures are in the README.
WORKER_CLASSES: dict[str, type[Worker] | type[SimpleWorker]] = {
    "simple": SimpleWorker,
    "fork": Worker,
}


def run_worker(settings: Settings, burst: bool = False, worker_class: str = "simple") -> None:
    # Import the jobs (SQLModel, psycopg, ...) once here: a forking worker
    # would otherwise import them again in every child, ~0.3 s per job.
    import purchase.jobs  # noqa: F401

    connection = rq_redis(settings)
    queue = Queue(settings.rq_queue, connection=connection)
    worker = WORKER_CLASSES[worker_class]([queue], connection=connection)
    # Its own connection: the reaper's thread must not share RQ's blocking one.
    keeper = Keeper(Queue(settings.rq_queue, connection=rq_redis(settings)), worker.name)
    keeper.start()
    try:
        worker.work(burst=burst, with_scheduler=not burst, logging_level="WARNING")
    finally:
        keeper.stop()
