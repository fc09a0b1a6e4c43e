"""Jobs of a dead worker, back in the queue within seconds.

RQ notices a job whose worker died only when the job's StartedJobRegistry
entry expires: for our in-process SimpleWorker that is the job timeout plus
60 s (240 s by default), and only in a worker's maintenance pass, every
600 s. A job dequeued by a worker that dies before it marks the job started
sits in the queue's intermediate list until that pass, which then fails it
without running it. For a hold batch that is fans left "pending" past their
turn; for a payment, tickets sold in Redis with no order in the database.

So each worker process keeps a short-lived key of its own alive
(``beat``: every BEAT_S, lasting ALIVE_TTL_MS), and every second one of the
live workers (a lock) looks for the jobs of workers whose key is gone
(``reap``):

- a job in the started registry whose worker is dead goes back to the front
  of its queue, with its execution removed, so RQ's own cleanup never sees
  it and it keeps its retries;
- a job in the intermediate list, never started (still ``queued``) and seen
  there for STUCK_S, goes back to the queue too;
- while RQ's scheduler (a child of one worker) is dead, due retries and
  delayed jobs are moved to the queue by the reaper instead.

Re-running is safe because every job is idempotent (purchase/jobs.py): a
hold request keeps its first answer, a confirmed hold answers "already" and
its order is unique per hold. A live worker taken for dead (a pause longer
than ALIVE_TTL_MS) only means a job runs twice, harmlessly.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.utils import parse_composite_key, utcparse

BEAT_S = 1.0
ALIVE_TTL_MS = 4_000
STUCK_S = 3.0
# RQ's scheduler beats every second; this long without one, it is dead.
SCHEDULER_STALE_S = 5.0
ALIVE_KEY = "fairdrop:worker-alive:{}"
# One reaper a second across the workers; the lock lapses before the next.
LOCK_KEY = "fairdrop:reaper-lock:{}"
LOCK_MS = 900
# Job id -> when a reaper first saw it dequeued and not started (ms).
SEEN_KEY = "fairdrop:reaper-seen:{}"
# Why -> how many jobs were requeued, ever (reaped_counts).
REAPED_KEY = "fairdrop:reaper-reaped:{}"

log = logging.getLogger("fairdrop.reaper")


@dataclass(frozen=True)
class Reaped:
    job_id: str
    why: str  # "worker_died", "never_started" or "scheduler_died"


def beat(connection: redis.Redis, worker_name: str) -> None:
    """This worker is alive for the next ALIVE_TTL_MS."""
    connection.set(ALIVE_KEY.format(worker_name), b"1", px=ALIVE_TTL_MS)


def is_alive(connection: redis.Redis, worker_name: str) -> bool:
    return bool(worker_name) and bool(connection.exists(ALIVE_KEY.format(worker_name)))


def reap(queue: Queue, now_s: float | None = None) -> list[Reaped]:
    """Requeues the queue's abandoned jobs (see the module); returns them.

    Does nothing while another worker holds this second's lock.
    """
    connection = queue.connection
    if not connection.set(LOCK_KEY.format(queue.name), b"1", nx=True, px=LOCK_MS):
        return []
    now_s = time.time() if now_s is None else now_s
    reaped = _dead_workers_jobs(queue)
    reaped += _never_started_jobs(queue, now_s)
    reaped += _due_jobs_of_a_dead_scheduler(queue, now_s)
    for job in reaped:
        log.warning("requeued job %s of a dead worker (%s)", job.job_id, job.why)
        connection.hincrby(REAPED_KEY.format(queue.name), job.why, 1)
    return reaped


def reaped_counts(connection: redis.Redis, queue_name: str) -> dict[str, int]:
    """How many jobs the reapers requeued, by why: for the demo's report."""
    raw = connection.hgetall(REAPED_KEY.format(queue_name))
    return {_text(why): int(count) for why, count in raw.items()}


def _dead_workers_jobs(queue: Queue) -> list[Reaped]:
    connection = queue.connection
    registry = StartedJobRegistry(queue=queue)
    reaped: list[Reaped] = []
    for raw in connection.zrange(registry.key, 0, -1):
        entry = _text(raw) if isinstance(raw, bytes | str) else str(raw)
        job_id, execution_id = parse_composite_key(entry)
        execution = Execution(execution_id, job_id, connection)
        worker = connection.hget(execution.key, "worker_name")
        if isinstance(worker, bytes) and is_alive(connection, worker.decode()):
            continue  # the common case: one cheap look per running job
        job = _job(queue, job_id)
        if job is None:
            connection.zrem(registry.key, entry)
            continue
        name = worker.decode() if isinstance(worker, bytes) else (job.worker_name or "")
        execution.worker_name = name
        if is_alive(connection, name):
            continue
        if job.get_status() != JobStatus.STARTED:
            # Finished or failed as its worker died: nothing to run again.
            connection.zrem(registry.key, entry)
            continue
        with connection.pipeline() as pipe:
            pipe.zrem(registry.key, entry)
            pipe.delete(execution.key)
            pipe.srem(execution.worker_executions_key, entry)
            pipe.lrem(queue.intermediate_queue_key, 0, job_id)
            queue._enqueue_job(job, pipeline=pipe, at_front=True)
            pipe.execute()
        reaped.append(Reaped(job_id, "worker_died"))
    return reaped


def _never_started_jobs(queue: Queue, now_s: float) -> list[Reaped]:
    """Jobs a worker took off the queue and died before starting."""
    connection = queue.connection
    seen_key = SEEN_KEY.format(queue.name)
    stuck = {_text(raw) for raw in connection.lrange(queue.intermediate_queue_key, 0, -1)}
    # Forget jobs that left the list (started, or requeued).
    gone = [j for j in connection.hkeys(seen_key) if _text(j) not in stuck]
    if gone:
        connection.hdel(seen_key, *gone)
    reaped: list[Reaped] = []
    for job_id in stuck:
        job = _job(queue, job_id)
        if job is None or job.get_status() != JobStatus.QUEUED:
            # Started (the started registry speaks for it) or done: RQ's to tidy.
            continue
        connection.hsetnx(seen_key, job_id, str(now_s))
        first_seen = float(connection.hget(seen_key, job_id) or now_s)
        if now_s - first_seen < STUCK_S:
            continue
        with connection.pipeline() as pipe:
            pipe.lrem(queue.intermediate_queue_key, 0, job_id)
            pipe.hdel(seen_key, job_id)
            queue._enqueue_job(job, pipeline=pipe, at_front=True)
            pipe.execute()
        reaped.append(Reaped(job_id, "never_started"))
    return reaped


def _due_jobs_of_a_dead_scheduler(queue: Queue, now_s: float) -> list[Reaped]:
    """Retries and delayed jobs that are due, when no live scheduler moves them.

    RQ's scheduler runs in one worker (a child process) and holds a lock for
    61 s; the other workers try to take it over only in their maintenance
    pass, every 600 s. A worker killed with its scheduler would hold back
    every retry (a payment waiting out a database blip, an email) that long.
    So while the lock's holder has not beaten for SCHEDULER_STALE_S, the
    reaper moves the due jobs itself, as the scheduler would.
    """
    connection = queue.connection
    holder = connection.get(RQScheduler.get_locking_key(queue.name))
    if holder is not None:
        beaten = connection.hget(SCHEDULER_KEY_TEMPLATE % _text(holder), "last_heartbeat")
        if beaten is not None and now_s - utcparse(_text(beaten)).timestamp() < SCHEDULER_STALE_S:
            return []
    registry = ScheduledJobRegistry(queue=queue)  # type: ignore[no-untyped-call]
    due = registry.get_jobs_to_schedule(int(now_s))
    if not due:
        return []
    scheduler = RQScheduler([queue], connection=connection, serializer=queue.serializer)
    scheduler.prepare_registries([queue.name])
    scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
    return [Reaped(job_id, "scheduler_died") for job_id in due]


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _job(queue: Queue, job_id: str) -> Job | None:
    try:
        return Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return None


class Keeper:
    """A worker's thread: its alive key every BEAT_S, and a reap of the queue."""

    def __init__(self, queue: Queue, worker_name: str) -> None:
        self.queue = queue
        self.worker_name = worker_name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fairdrop-reaper", daemon=True)

    def start(self) -> None:
        # Alive before the first job is taken, so no reaper takes it for dead.
        beat(self.queue.connection, self.worker_name)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=BEAT_S * 2)
        self.queue.connection.delete(ALIVE_KEY.format(self.worker_name))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                beat(self.queue.connection, self.worker_name)
                reap(self.queue)
            except redis.RedisError as error:
                # Redis away for a moment: RQ's own loop waits for it too.
                log.warning("reaper: %s", error)
            except Exception:
                # Never let the thread die: a worker that stops beating has
                # its running job taken for abandoned and run a second time.
                log.exception("reaper pass failed")
            self._stop.wait(BEAT_S)
