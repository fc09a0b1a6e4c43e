"""Holds per second end to end: fan socket -> web -> RQ -> hold.lua -> pub/sub -> fan socket.

A whole fairdrop runs through ``launch.stack.Stack`` (web, clock and RQ
workers as real processes, a private Redis, SQLite) in a temporary directory.
Client processes let ``fans`` fans in through the real join and clock, open
their sockets, and then, at one agreed moment, every fan asks for one ticket
over its socket. There is a ticket for every fan: the clock lets in no more
fans at once than tickets left, so a burst of holds all meet stock (the
Lua-only bench, which admits directly, is the one that crosses sold out).

The rate is successful holds over the time from the first request sent to
the last answer received (refusals included in that time), the same way the
Lua-only and PostgreSQL figures are counted. Latency is each fan's time from
sending to its ``hold_result``. Afterwards Redis is checked: available + held
+ sold must equal the stock, and nothing may be held beyond it.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import patch

import httpx
import redis

import launch.stack
from fairdrop.settings import Settings
from launch.processes import wait_until_answered
from launch.stack import Stack
from loadtests.burst import redis_cpu_seconds
from loadtests.client_processes import shares, start_clients
from loadtests.hold_bench import stock_errors
from loadtests.hold_clients import client_main
from loadtests.procfs import percentile, tree_cpu_seconds, web_process_ids

START_DELAY_S = 2.0  # between "go" and the agreed moment: every client is listening by then
REPORT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class EndToEndFigure:
    fans: int
    ready: int
    stock: int
    workers: int
    held: int
    seconds: float
    outcomes: dict[str, int]
    latencies_s: list[float]
    oversold: int
    # CPU seconds over the burst: web (all its processes), workers (RQ and the
    # clock), clients (the load generators) and redis.
    cpu_s: dict[str, float]
    web_processes: int = 1
    # RQ jobs that carried the holds (web/hold_batches.py): RQ costs a worker
    # milliseconds per job, so few and full is what a batch is for.
    hold_jobs: int = 0

    @property
    def holds_per_s(self) -> float:
        return self.held / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_us_per_request(self) -> float:
        """fairdrop's own CPU per hold request: web, workers and Redis, not the clients."""
        server = sum(v for k, v in self.cpu_s.items() if k != "clients")
        return server / max(1, self.ready) * 1e6

    @property
    def web_cpu_us_per_request(self) -> float:
        """The web processes' share: reading the hold, queueing it, and the answers and
        broadcasts that follow (the part issue 14 set out to cut)."""
        return self.cpu_s.get("web", 0.0) / max(1, self.ready) * 1e6

    @property
    def client_cpu_us_per_request(self) -> float:
        return self.cpu_s.get("clients", 0.0) / max(1, self.ready) * 1e6


def _create_sale(http: httpx.Client, token: str, fans: int, stock: int) -> str:
    """A sale whose window has closed: every fan who joins now is queued and soon let in."""
    now = datetime.now(UTC)
    body = {
        "name": "end-to-end holds bench",
        "opens_at": (now - timedelta(seconds=2)).isoformat(),
        "drop_at": (now - timedelta(seconds=1)).isoformat(),
        "rate_per_min": 1_000_000,
        "cap": fans,
        "hold_seconds": 600,
        # Measures holds, not the proof of work each browser pays (loadtests/pow_bench.py).
        "pow_difficulty": 0,
        "ticket_types": [
            {
                "id": "ga",
                "name": "GA",
                "price_cents": 100,
                "currency": "EUR",
                "stock": stock,
                "per_person_limit": 1,
            }
        ],
    }
    response = http.post("/api/events", json=body, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return str(response.json()["id"])


STARTUP_S = 120.0


def _patient(url: str, processes: dict[str, subprocess.Popen[bytes]]) -> None:
    wait_until_answered(url, processes, timeout=STARTUP_S)


@contextmanager
def _started(make: Callable[[], Stack], tries: int = 3) -> Iterator[Stack]:
    """A stack, started, then stopped; started afresh when its web processes were too
    slow to answer. A box busy with other work (1-minute load average 10-16) has taken
    longer than the stack's 30 s to import the app in two web processes: the bench
    waits up to STARTUP_S for each."""
    for attempt in range(tries):
        try:
            with patch.object(launch.stack, "wait_until_answered", _patient):
                stack = make().start()
        except RuntimeError as slow:
            if attempt == tries - 1 or "did not answer" not in str(slow):
                raise
            print(json.dumps({"stage": "retry", "why": str(slow)}), file=sys.stderr)
            continue
        try:
            yield stack
        finally:
            stack.stop()
        return


def measure_end_to_end_holds(
    fans: int,
    clients: int = 4,
    workers: int = 2,
    web_processes: int = 1,
    log_dir: Path | None = None,
) -> EndToEndFigure:
    """``fans`` admitted fans each ask for one of ``fans`` tickets at one moment."""
    count = fans
    # A ticket for every fan: admission lets in no more fans than tickets left.
    stock = count
    clients = max(1, min(clients, count))
    with tempfile.TemporaryDirectory(prefix="fairdrop-e2e-") as tmp:
        settings = Settings(
            data_dir=Path(tmp), port=0, web_workers=web_processes
        ).without_rate_limits()
        with _started(lambda: Stack(settings, workers=workers, log_dir=log_dir)) as stack:
            with httpx.Client(base_url=stack.base_url, timeout=30) as http:
                event_id = _create_sale(http, stack.settings.organiser_token, count, stock)
            type_id = f"{event_id}.ga"
            group = start_clients(
                client_main,
                [(stack.base_url, event_id, type_id, n) for n in shares(count, clients)],
            )
            try:
                ready = sum(a["ready"] for a in group.recv_all(120 + count / 50))
                web = web_process_ids(stack.processes["web"].pid, web_processes)
                roles = {
                    "web": web,
                    "workers": [p.pid for n, p in stack.processes.items() if n != "web"],
                    "clients": group.pids,
                }
                redis_client = redis.Redis.from_url(stack.settings.redis_url or "")
                cpu_before = {role: tree_cpu_seconds(pids) for role, pids in roles.items()}
                cpu_before["redis"] = redis_cpu_seconds(redis_client)
                moment = time.time() + START_DELAY_S
                # For whoever profiles the burst (py-spy record -p PID): which, and when.
                print(json.dumps({"stage": "go", "at": moment, "pids": roles}), file=sys.stderr)
                group.send_all(("go", moment))
                reports = group.recv_all(REPORT_TIMEOUT_S)
                cpu = {r: tree_cpu_seconds(pids) - cpu_before[r] for r, pids in roles.items()}
                cpu["redis"] = redis_cpu_seconds(redis_client) - cpu_before["redis"]
                oversold = stock_errors(redis_client, event_id, type_id, stock)
                hold_jobs = sum(1 for _ in redis_client.scan_iter("rq:job:holds-*", count=1000))
                redis_client.close()
            finally:
                group.stop()
    sent = [t for r in reports for t in r["sent"] if t]
    answered = [(s, a) for r in reports for s, a in r["answered"]]
    outcomes: Counter[str] = Counter()
    for report in reports:
        outcomes.update(report["outcomes"])
    seconds = max((a for _, a in answered), default=0.0) - min(sent, default=0.0)
    return EndToEndFigure(
        fans=count,
        ready=ready,
        stock=stock,
        workers=workers,
        held=outcomes["held"],
        seconds=max(seconds, 0.0),
        outcomes=dict(outcomes),
        latencies_s=[a - s for s, a in answered],
        oversold=oversold,
        cpu_s={k: round(v, 3) for k, v in cpu.items()},
        web_processes=web_processes,
        hold_jobs=hold_jobs,
    )


def main() -> None:
    """``python -m loadtests.e2e_holds [FANS] [WORKERS] [WEB_PROCESSES]``: one run, as JSON."""
    fans = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    web_processes = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    figure = measure_end_to_end_holds(fans, workers=workers, web_processes=web_processes)
    latencies = figure.latencies_s
    print(
        json.dumps(
            {
                "fans": figure.fans,
                "ready": figure.ready,
                "workers": figure.workers,
                "web_processes": figure.web_processes,
                "held": figure.held,
                "stock": figure.stock,
                "seconds": round(figure.seconds, 3),
                "holds_per_s": round(figure.holds_per_s),
                "p50_ms": round((percentile(latencies, 0.5) or 0) * 1000, 1),
                "p99_ms": round((percentile(latencies, 0.99) or 0) * 1000, 1),
                "median_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
                "oversold": figure.oversold,
                "hold_jobs": figure.hold_jobs,
                "outcomes": figure.outcomes,
                "cpu_s": figure.cpu_s,
                "server_cpu_us_per_request": round(figure.server_cpu_us_per_request),
                "web_cpu_us_per_request": round(figure.web_cpu_us_per_request),
                "client_cpu_us_per_request": round(figure.client_cpu_us_per_request),
            }
        )
    )


if __name__ == "__main__":
    main()
