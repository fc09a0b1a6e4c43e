"""Fresh fans joining through the front door: HTTP joins a second on ONE web process.

A whole fairdrop runs through ``launch.stack.Stack`` (one web process, the
clock, a private Redis, SQLite, every rate limit off: a few loopback addresses
speak for thousands of fans). A sale's buffer window is open; client
processes (loadtests/raw_http.py, apart from the web process and each other)
POST its real join endpoint, each request a new fan with no cookie, on
kept-alive connections. The rate is 200 answers over the time from "go" to
the last answer of the slowest client; the web process's CPU per join is
read from /proc over the same burst.

The generator's own cost is measured apart, in the same run: the same client
processes against a stub server that answers at once (``generator_per_s``,
its ceiling) and their CPU per request in the real burst.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis

from fairdrop.settings import Settings
from launch.stack import Stack
from loadtests.client_processes import ClientProcesses, shares, start_clients
from loadtests.procfs import percentile, tree_cpu_seconds, web_process_ids
from loadtests.raw_http import client_main, stub_server

CONNECTIONS = 32  # per client process: enough in flight to keep one web process busy
WARM_UP = 500  # joins first, so imports, pools and caches are warm before timing
HOST = "127.0.0.1"


@dataclass(frozen=True)
class BurstFigure:
    requests: int
    ok: int
    seconds: float
    statuses: dict[int, int]
    server_cpu_s: float  # the web process (or the stub) over the burst
    client_cpu_s: float  # the generator processes over the burst
    latencies_s: list[float]
    # Redis commands run over the burst (INFO commandstats): all of them, those a
    # script calls inside Redis included, and the scripts run (EVALSHA: round trips).
    redis_commands: int = 0
    redis_scripts: int = 0

    @property
    def redis_ops_per_request(self) -> float:
        return self.redis_commands / max(1, self.requests)

    @property
    def redis_scripts_per_request(self) -> float:
        return self.redis_scripts / max(1, self.requests)

    @property
    def per_s(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def server_cpu_us(self) -> float:
        return self.server_cpu_s / max(1, self.requests) * 1e6

    @property
    def client_cpu_us(self) -> float:
        return self.client_cpu_s / max(1, self.requests) * 1e6

    @property
    def p99_ms(self) -> float | None:
        p99 = percentile(self.latencies_s, 0.99)
        return None if p99 is None else p99 * 1000


@dataclass(frozen=True)
class HttpJoinFigure:
    rounds: list[BurstFigure]
    generator: BurstFigure  # the same clients against the stub server

    @property
    def joins_per_s(self) -> float:
        return statistics.median(r.per_s for r in self.rounds)


def create_open_sale(http: httpx.Client, token: str, name: str) -> str:
    """A sale whose buffer window is open for an hour: every join is answered 'buffered'."""
    now = datetime.now(UTC)
    body = {
        "name": name,
        "opens_at": now.isoformat().replace("+00:00", "Z"),
        "drop_at": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "rate_per_min": 600,
        "cap": 50,
        "hold_seconds": 300,
        # Measures the front door, not the proof of work each browser pays (pow_bench.py).
        "pow_difficulty": 0,
        "ticket_types": [
            {
                "id": "ga",
                "name": "GA",
                "price_cents": 100,
                "currency": "EUR",
                "stock": 100,
                "per_person_limit": 1,
            }
        ],
    }
    response = http.post("/api/events", json=body, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return str(response.json()["id"])


def redis_commands(client: redis.Redis | None) -> tuple[int, int]:
    """Commands the server has run so far (less the INFO calls), and of them EVALSHAs."""
    if client is None:
        return 0, 0
    stats = client.info("commandstats")
    total = sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")
    return total, int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def _burst(
    group: ClientProcesses,
    server_pids: list[int],
    requests: int,
    redis_client: redis.Redis | None = None,
) -> BurstFigure:
    commands_before = redis_commands(redis_client)
    server_before = tree_cpu_seconds(server_pids)
    group.send_all(("go",))
    answers = group.recv_all(60 + requests / 10)
    server_cpu = tree_cpu_seconds(server_pids) - server_before
    # The clock's ticks and heartbeats run meanwhile too: a few commands a second.
    commands_after = redis_commands(redis_client)
    statuses: dict[int, int] = {}
    for answer in answers:
        for status, n in answer["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return BurstFigure(
        requests=requests,
        ok=statuses.get(200, 0),
        seconds=max(a["seconds"] for a in answers),
        statuses=statuses,
        server_cpu_s=server_cpu,
        client_cpu_s=sum(a["cpu_s"] for a in answers),
        latencies_s=[t for a in answers for t in a["latencies"]],
        redis_commands=commands_after[0] - commands_before[0],
        redis_scripts=commands_after[1] - commands_before[1],
    )


def _clients(port: int, path: str, joins: int, clients: int) -> ClientProcesses:
    return start_clients(
        client_main,
        [
            (HOST, port, path, share, CONNECTIONS, f"127.0.0.{2 + index}")
            for index, share in enumerate(shares(joins, clients))
        ],
    )


def measure_generator(joins: int, clients: int) -> BurstFigure:
    """The generator alone: ``joins`` requests against a stub that answers at once."""
    stub = start_clients(stub_server, [(HOST,)])
    try:
        (port,) = [stub.conns[0].recv()]
        group = _clients(port, "/join", joins, clients)
        try:
            figure = _burst(group, stub.pids, joins)
            group.send_all(("stop",))
        finally:
            group.stop()
    finally:
        stub.send_all("stop")
        stub.stop()
    return figure


def measure_http_joins(
    joins: int, clients: int = 2, rounds: int = 3, log_dir: Path | None = None
) -> HttpJoinFigure:
    """``rounds`` bursts of ``joins`` fresh fans on one web process, then the generator alone."""
    clients = max(1, min(clients, joins))
    figures: list[BurstFigure] = []
    with tempfile.TemporaryDirectory(prefix="fairdrop-joinbench-") as tmp:
        settings = Settings(data_dir=Path(tmp), port=0, web_workers=1).without_rate_limits()
        with Stack(settings, workers=0, log_dir=log_dir) as stack:
            web_pids = web_process_ids(stack.processes["web"].pid, 1)
            with httpx.Client(base_url=stack.base_url, timeout=10) as http:
                event_id = create_open_sale(http, stack.settings.organiser_token, "join bench")
            path = f"/api/events/{event_id}/join"
            port = stack.settings.port
            warm = _clients(port, path, min(WARM_UP, joins), 1)
            try:
                _burst(warm, web_pids, min(WARM_UP, joins))
                warm.send_all(("stop",))
            finally:
                warm.stop()
            group = _clients(port, path, joins, clients)
            counter = redis.Redis.from_url(stack.settings.redis_url or "")
            try:
                for _ in range(rounds):
                    figures.append(_burst(group, web_pids, joins, counter))
                    time.sleep(0.2)
                group.send_all(("stop",))
            finally:
                counter.close()
                group.stop()
    return HttpJoinFigure(figures, measure_generator(joins, clients))
