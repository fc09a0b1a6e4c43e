"""``fairdrop demo --chaos``: every fault of issue 14 in one real drop, injected
on a schedule and recovered, each reported with when it happened and when the
stack was whole again (``faults`` in the demo's last JSON line).

The stack runs the sale on a Redis Cluster of its own (3 masters, a replica
each; RQ on a lone Redis), the plan's web processes behind nginx, two clocks,
and a private PostgreSQL (launch/postgres_server.py) that this module stops.
Times are seconds after the drop (the sale's ``drop_at``: the draw is due and
admission starts). The faults run side by side:

- ``worker_mid_hold_batch``: the stack's only worker at first runs with
  FAIRDROP_FAULT=pause_in_hold_batch (purchase/faults.py); once it pauses in
  the first hold batch it is killed -9 (with its process group) and started
  again, now with pause_after_confirm:
- ``worker_after_confirm``: once that one pauses after the first confirm.lua
  it is killed -9 too, and the plan's workers start plain. Each is recovered
  when the job the dead worker held has finished, by RQ's own record (the
  reaper, purchase/reaper.py, put it back in the queue).
- ``web_process``: the last web process is killed -9 with its fans connected,
  and started again ``web_down_s`` later; recovered when it answers again.
- ``clock``: one of the two clocks is killed -9; recovered when the sale's
  progress is published after the kill (by the other clock), as Redis says.
- ``redis_master``: the master serving the sale's slot is killed -9;
  recovered when another node serves the slot and the API answers the sale's
  stats through it.
- ``postgres``: PostgreSQL stops for ``postgres_seconds`` and starts again;
  recovered when it accepts connections again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from fairdrop.connections import rq_redis, sync_redis
from fairdrop.settings import Settings
from launch.chaos_fans import ChaosFan
from launch.chaos_figures import chaos_figures
from launch.postgres_server import PostgresServer, private_postgres
from launch.stack import Stack
from purchase.faults import FAULT_ENV, PAUSE_AFTER_CONFIRM, PAUSE_IN_HOLD_BATCH
from queue_engine.keys import EventKeys

FAULT_KINDS = (
    "worker_mid_hold_batch",
    "worker_after_confirm",
    "web_process",
    "clock",
    "redis_master",
    "postgres",
)
# The worker that pauses at the fault points, and is then started plain.
FAULT_WORKER = "worker-0"
CLOCK_TO_KILL = "clock"
# A process manager's pause before it starts a web process that exited again.
WEB_RESTART_PAUSE_S = 1.0
POLL_S = 0.1


@dataclass(frozen=True)
class ChaosPlan:
    postgres_seconds: float = 30.0
    # When each scheduled fault is injected, in seconds after the drop: once fans
    # have their numbers (the draw is a beacon round after the drop) and while
    # they are still being let in, holding and paying.
    web_at_s: float = 3.0
    # Back up (about 3 s to start here) before PostgreSQL stops: `fairdrop web`
    # upgrades the database as it starts, and exits while PostgreSQL is down.
    web_down_s: float = 1.5
    clock_at_s: float = 4.0
    redis_master_at_s: float = 6.0
    postgres_at_s: float = 9.0
    # How long a fault or its recovery is waited for before it counts as not recovered.
    wait_s: float = 90.0


@dataclass
class Fault:
    kind: str
    at_s: float
    recovered_s: float | None = None
    # What went wrong on the way back, if anything did (a restart that failed).
    notes: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        recovered = None if self.recovered_s is None else round(self.recovered_s, 2)
        report = {"kind": self.kind, "at_s": round(self.at_s, 2), "recovered_s": recovered}
        return {**report, "notes": self.notes} if self.notes else report


@dataclass
class Chaos:
    plan: ChaosPlan
    postgres: PostgresServer
    stack: Stack
    workers: int
    faults: list[Fault] = field(default_factory=list)
    # What could not be done (a pause never reached): a fault missing from ``faults``.
    failures: list[str] = field(default_factory=list)
    event_id: str = ""
    _drop_epoch: float = 0.0
    _task: asyncio.Future[list[BaseException | None]] | None = None
    _log_offset: int = 0

    def prepare(self) -> None:
        """The stack's only worker, until it is killed at its first pause point."""
        self._launch_worker(PAUSE_IN_HOLD_BATCH)

    def begin(self, event: dict[str, Any]) -> None:
        """Schedules every fault against the sale just made."""
        self.event_id = str(event["id"])
        self._drop_epoch = datetime.fromisoformat(str(event["drop_at"])).timestamp()
        faults = [
            self._worker_faults(),
            self._web_process(),
            self._clock(),
            self._redis_master(),
            self._postgres(),
        ]
        self._task = asyncio.gather(*faults, return_exceptions=True)

    async def settle(self) -> None:
        """Until every fault is injected and recovered (or waited for in vain)."""
        if self._task is None:
            return
        try:
            ended = await asyncio.wait_for(self._task, self.plan.wait_s * 2)
        except TimeoutError:
            self.failures.append("the faults did not end in time")
            return
        # A fault that could not be injected or undone is reported, not raised.
        self.failures += [f"{type(e).__name__}: {e}" for e in ended if e is not None]

    async def figures(self, fans: list[ChaosFan], stats: dict[str, Any]) -> dict[str, Any]:
        found = await chaos_figures(self.stack.base_url, self.reads(), self.event_id, fans, stats)
        last_order_at = found.pop("last_order_at")
        return {
            "faults": [fault.report() for fault in self.faults],
            "faults_failed": self.failures,
            **found,
            # The last paid fan's wait ends here (its order row's time, since the drop).
            "last_order_s": round(last_order_at - self._drop_epoch, 2) if last_order_at else None,
        }

    def reads(self) -> Settings:
        """Settings to read the sale with: live nodes only (REDIS_URL names the dead master)."""
        cluster = self.stack.cluster
        assert cluster is not None
        nodes = [n.url for n in cluster.nodes if n.alive]
        return self.stack.settings.with_overrides(redis_url=",".join(nodes))

    # --- the faults -------------------------------------------------------------

    async def _worker_faults(self) -> None:
        steps = (
            ("worker_mid_hold_batch", PAUSE_IN_HOLD_BATCH, PAUSE_AFTER_CONFIRM),
            ("worker_after_confirm", PAUSE_AFTER_CONFIRM, ""),
        )
        recoveries: list[asyncio.Task[None]] = []
        for kind, point, then in steps:
            recovery = await self._worker_fault(kind, point, then)
            if recovery is None:
                # The pause never came: the sale still needs its workers.
                await asyncio.to_thread(self._kill_if_running, FAULT_WORKER)
                self._launch_plain_workers()
                break
            recoveries.append(recovery)
        await asyncio.gather(*recoveries)

    async def _worker_fault(self, kind: str, point: str, then: str) -> asyncio.Task[None] | None:
        """Waits for the fault worker's pause at ``point``, kills it and starts the next
        worker (with the fault ``then``, or the plan's plain workers); returns the wait
        for the abandoned job to finish, which may be after the next fault (the next
        fault worker pauses as soon as it confirms a payment, and it is the only one).
        The paused worker is the only worker, so the started registry's jobs are its own."""
        if not await self._until(lambda: self._paused_at(point)):
            self.failures.append(f"{kind}: the worker never reached {point}")
            return None
        with rq_redis(self.stack.settings) as connection:
            queue = Queue(self.stack.settings.rq_queue, connection=connection)
            held = StartedJobRegistry(queue=queue).get_job_ids()
        fault = self._fault(kind)
        await asyncio.to_thread(self.stack.kill, FAULT_WORKER)
        if then:
            self._launch_worker(then)
        else:
            self._launch_plain_workers()
        if not held:
            self.failures.append(f"{kind}: the paused worker had no started job")
        return asyncio.create_task(self._recovered(fault, lambda: self._finished(held)))

    def _finished(self, job_ids: list[str]) -> bool:
        with rq_redis(self.stack.settings) as connection:
            return bool(job_ids) and all(_finished(connection, job_id) for job_id in job_ids)

    def _launch_worker(self, fault: str) -> None:
        log = self.stack.log_path(FAULT_WORKER)
        self._log_offset = log.stat().st_size if log.exists() else 0
        self.stack.launch(FAULT_WORKER, {FAULT_ENV: fault})

    def _launch_plain_workers(self) -> None:
        for i in range(self.workers):
            self.stack.launch(f"worker-{i}")

    def _kill_if_running(self, name: str) -> None:
        process = self.stack.processes.get(name)
        if process is not None and process.poll() is None:
            self.stack.kill(name)

    def _paused_at(self, point: str) -> bool:
        log = self.stack.log_path(FAULT_WORKER)
        with log.open("rb") as text:
            text.seek(self._log_offset)
            return f"fault point {point} reached".encode() in text.read()

    async def _web_process(self) -> None:
        await self._at(self.plan.web_at_s)
        name = sorted(self.stack.web_ports)[-1]
        fault = self._fault("web_process")
        await asyncio.to_thread(self.stack.kill, name)
        await asyncio.sleep(self.plan.web_down_s)
        deadline = time.monotonic() + self.plan.wait_s
        failed: list[str] = []
        while time.monotonic() < deadline:
            try:
                await asyncio.to_thread(self.stack.restart, name)
            except RuntimeError:
                # Exited while starting: a process manager starts it again, as here.
                failed.append(self._why_exited(name))
                await asyncio.sleep(WEB_RESTART_PAUSE_S)
                continue
            fault.recovered_s = self._since_drop()
            break
        if failed:
            fault.notes.append(f"exited while starting {len(failed)} times: {failed[-1]}")

    def _why_exited(self, name: str) -> str:
        """The last error line of the process's log."""
        lines = self.stack.log_path(name).read_text(errors="replace").splitlines()
        errors = [line for line in lines if "Error" in line and not line.startswith("(")]
        return errors[-1][-240:] if errors else "no error in its log"

    async def _clock(self) -> None:
        await self._at(self.plan.clock_at_s)
        fault = self._fault("clock")
        await asyncio.to_thread(self.stack.kill, CLOCK_TO_KILL)
        killed_ms = time.time() * 1000
        await self._recovered(fault, lambda: self._published_at() > killed_ms)

    def _published_at(self) -> float:
        try:
            with sync_redis(self.reads()) as client:
                raw = client.hget(EventKeys(self.event_id).meta, "published_at")
        except redis.RedisError:
            return 0.0  # the sale's master is failing over
        return float(raw or 0)

    async def _redis_master(self) -> None:
        await self._at(self.plan.redis_master_at_s)
        cluster = self.stack.cluster
        assert cluster is not None
        meta = EventKeys(self.event_id).meta
        master = await asyncio.to_thread(cluster.master_of_key, meta)
        fault = self._fault("redis_master")
        await asyncio.to_thread(cluster.kill, master)

        def served_again() -> bool:
            try:
                if cluster.master_of_key(meta).port == master.port:
                    return False
            except redis.RedisError:
                return False
            return self._stats_answered()

        await self._recovered(fault, served_again)

    def _stats_answered(self) -> bool:
        headers = {"Authorization": f"Bearer {self.stack.settings.organiser_token}"}
        url = f"{self.stack.base_url}/api/events/{self.event_id}/stats"
        try:
            return httpx.get(url, headers=headers, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    async def _postgres(self) -> None:
        await self._at(self.plan.postgres_at_s)
        fault = self._fault("postgres")
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.sleep(self.plan.postgres_seconds)
        await asyncio.to_thread(self.postgres.start)
        fault.recovered_s = self._since_drop()

    # --- time -------------------------------------------------------------------

    def _since_drop(self) -> float:
        return time.time() - self._drop_epoch

    def _fault(self, kind: str) -> Fault:
        fault = Fault(kind, self._since_drop())
        self.faults.append(fault)
        return fault

    async def _at(self, at_s: float) -> None:
        await asyncio.sleep(max(0.0, at_s - self._since_drop()))

    async def _until(self, check: Callable[[], bool]) -> bool:
        """Polls ``check`` (in a thread: it may block) until true or the plan's wait passed."""
        deadline = time.monotonic() + self.plan.wait_s
        while not await asyncio.to_thread(check):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_S)
        return True

    async def _recovered(self, fault: Fault, check: Callable[[], bool]) -> None:
        if await self._until(check):
            fault.recovered_s = self._since_drop()


def chaos_survived(summary: dict[str, Any]) -> bool:
    """Every fault injected and recovered, and nothing lost (true of a demo without chaos)."""
    if "faults" not in summary:
        return True
    recovered = {f["kind"] for f in summary["faults"] if f["recovered_s"] is not None}
    lost = ("oversold", "paid_orders_lost", "holds_lost", "fans_lost_place")
    return recovered == set(FAULT_KINDS) and all(summary[figure] == 0 for figure in lost)


def _finished(connection: redis.Redis, job_id: str) -> bool:
    try:
        return Job.fetch(job_id, connection=connection).get_status() == JobStatus.FINISHED
    except NoSuchJobError:
        return False


@contextmanager
def chaos_stack(
    settings: Settings, plan: ChaosPlan, workers: int, web_processes: int
) -> Iterator[tuple[Stack, Chaos]]:
    """A private PostgreSQL and a stack on it with a Redis Cluster of its own (whatever
    REDIS_URL says: its master is killed), two clocks, and no worker but the fault one."""
    with ExitStack() as servers:
        postgres = servers.enter_context(private_postgres())
        settings = settings.with_overrides(
            database_url=postgres.url("postgres"),
            redis_url=None,
            rq_redis_url=None,
            redis_cluster=True,
        )
        stack = servers.enter_context(
            Stack(settings, workers=0, web_processes=web_processes, clocks=2)
        )
        chaos = Chaos(plan, postgres, stack, workers)
        chaos.prepare()
        yield stack, chaos
