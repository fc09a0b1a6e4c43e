"""Hold requests gathered into one RQ job per batch.

RQ spends about 6 ms of bookkeeping on every job (measured by
``loadtests/rq_workers.py``), which holds one worker near 160 jobs a second:
a job per hold could never reach thousands of holds a second. So each web
process gathers the hold requests of one event that arrive within a few
milliseconds into one job, and the worker runs their hold.lua calls in one
pipeline (``purchase.jobs.hold_batch_job``).

A request is acknowledged only once its batch is in RQ's queue, so an
acknowledged request survives this process dying. Its id carries its batch's
id, so "is this request still pending?" is one lookup of the batch's job.
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import InvalidJobOperation
from rq.job import Job, JobStatus
from starlette.concurrency import run_in_threadpool

BATCH_ID_CHARS = 24
INDEX_CHARS = 4  # hex digits of the request's place in its batch
MAX_BATCH = 500
LINGER_S = 0.004
# At most about 50 partial batches a second per event and web process (see HoldBatcher).
MIN_GAP_S = 0.02
HOLD_RETRY = Retry(max=3, interval=1)
_WAITING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
# What _Batch.add issues: the batch's hex id, then the request's place in hex.
REQUEST_ID = re.compile(f"[0-9a-f]{{{BATCH_ID_CHARS + INDEX_CHARS}}}")


def is_request_id(text: str) -> bool:
    """True when ``text`` has the shape of a request id this module issues."""
    return REQUEST_ID.fullmatch(text) is not None


def batch_job_id(request_id: str) -> str:
    """The RQ job that carries a request: ``holds-`` and the batch part of its id."""
    return f"holds-{request_id[:BATCH_ID_CHARS]}"


def still_pending(rq_client: redis.Redis, request_id: str) -> bool:
    """True while the request's batch waits for or runs in a worker.

    A finished batch has stored an answer for every request in it, so a
    request with no answer and no waiting batch was never issued.
    """
    if not is_request_id(request_id):
        # Never issued, and RQ raises ValueError for a job id outside [A-Za-z0-9_-].
        return False
    try:
        status = Job(batch_job_id(request_id), connection=rq_client).get_status()
    except InvalidJobOperation:
        return False
    return status in _WAITING


class _Batch:
    def __init__(self, event_id: str) -> None:
        self.event_id = event_id
        self.id = uuid.uuid4().hex[:BATCH_ID_CHARS]
        # [fan id, request id, items] each: plain lists, as RQ pickles them.
        self.requests: list[list[Any]] = []
        # One future per request, each its own: a fan who goes away cancels
        # only its own wait, never the batch (asyncio.shield did the same at
        # about three times the cost).
        self.waiters: list[asyncio.Future[str]] = []

    def add(self, fan_id: str, items: list[list[Any]], discount: str) -> asyncio.Future[str]:
        """The request's wait for its id (given once the batch is in RQ's queue)."""
        request_id = f"{self.id}{len(self.requests):0{INDEX_CHARS}x}"
        # A discount code is a fourth element, only when there is one.
        self.requests.append(
            [fan_id, request_id, items, discount] if discount else [fan_id, request_id, items]
        )
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return waiter

    def settle(self, error: BaseException | None) -> None:
        """Each waiting request learns its id, or what enqueueing raised."""
        for waiter, (_, request_id, *_) in zip(self.waiters, self.requests, strict=True):
            if waiter.done():
                continue  # its fan went away
            if error is None:
                waiter.set_result(request_id)
            else:
                waiter.set_exception(error)


class HoldBatcher:
    """This process's open batch per event, closed when full or after ``linger_s``.

    A batch that is not full also waits until ``min_gap_s`` after the event's
    previous batch left: when holds trickle in (a drop's steady state, or a
    web process short of CPU), batches of a few requests each would cost the
    workers RQ's ~6 ms per job for every few holds, more than the holds
    themselves, and the box would spend itself on bookkeeping. A full batch
    never waits.
    """

    def __init__(
        self,
        queue: Queue,
        linger_s: float = LINGER_S,
        max_batch: int = MAX_BATCH,
        min_gap_s: float = MIN_GAP_S,
    ) -> None:
        if not 1 <= max_batch < 16**INDEX_CHARS:
            raise ValueError(f"max_batch must be 1..{16**INDEX_CHARS - 1}")
        self.queue = queue
        self.linger_s = linger_s
        self.max_batch = max_batch
        self.min_gap_s = min_gap_s
        self._open: dict[str, _Batch] = {}
        self._last_sent: dict[str, float] = {}  # loop time each event's last batch left
        # Strong references: the event loop keeps only weak ones to tasks.
        self._sending: set[asyncio.Task[None]] = set()

    async def submit(
        self, event_id: str, fan_id: str, items: list[list[Any]], discount: str = ""
    ) -> str:
        """Adds a hold request (with a discount code in lower case, or '');
        returns its id once its batch is enqueued.

        Raises whatever enqueueing raised (Redis unreachable): the caller then
        answers an error, and the fan knows the request was not taken.
        """
        batch = self._open.get(event_id)
        if batch is None:
            batch = self._open[event_id] = _Batch(event_id)
            loop = asyncio.get_running_loop()
            gap_left = self._last_sent.get(event_id, -math.inf) + self.min_gap_s - loop.time()
            loop.call_later(max(self.linger_s, gap_left), self._close, batch)
        waiter = batch.add(fan_id, items, discount)
        if len(batch.requests) >= self.max_batch:
            self._close(batch)
        return await waiter

    def _close(self, batch: _Batch) -> None:
        if self._open.get(batch.event_id) is not batch:
            return  # already closed because it filled up
        del self._open[batch.event_id]
        self._last_sent[batch.event_id] = asyncio.get_running_loop().time()
        task = asyncio.create_task(self._enqueue(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _enqueue(self, batch: _Batch) -> None:
        try:
            await run_in_threadpool(
                self.queue.enqueue,
                "purchase.jobs.hold_batch_job",
                batch.event_id,
                batch.requests,
                job_id=f"holds-{batch.id}",
                retry=HOLD_RETRY,
            )
        except Exception as error:  # every waiting request gets the failure
            batch.settle(error)
        else:
            batch.settle(None)

    async def close(self) -> None:
        """Sends what is still open; called when the web process stops."""
        for batch in list(self._open.values()):
            self._close(batch)
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
