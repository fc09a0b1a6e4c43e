"""Live fans: how many websockets the web processes hold, their memory, delay.

Real web processes (``web_processes`` uvicorn workers sharing one port, with
the clock and a worker) are started through ``launch.stack.Stack`` on a
private Redis and SQLite in a temporary directory. Client processes (separate
from the web process and from each other) join a sale in its buffer window
over HTTP and open one socket per fan. Then the organiser pauses and resumes
the sale through the API a few times; each change is timestamped just before
its request, and every fan records when the first ``status`` or shared
``progress`` showing it arrived (``time.time()`` on both sides: the same
machine). A quiet interval follows, in which every fan must hear a heartbeat at
least every ``heartbeat_seconds``.

Memory per fan is the web processes' VmRSS with the sockets open minus before
any socket, over the sockets open. The web processes' CPU time over each
change says how much one broadcast costs them.

Each process may open at most the box's hard RLIMIT_NOFILE files (20,000 here,
and it cannot be raised without privileges), so the fans are spread over
enough client processes, and more web processes are needed past that. Each
client process sends from its own loopback address, so ephemeral ports (about
28,000 per source address) do not cap the count.
"""

from __future__ import annotations

import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from fairdrop.settings import Settings
from launch.stack import Stack
from loadtests.client_processes import shares, start_clients
from loadtests.http_join_bench import create_open_sale
from loadtests.procfs import (
    tree_cpu_seconds,
    tree_rss_kb,
    web_process_ids,
)
from loadtests.ws_clients import MIN_OPENS_PER_S, OPEN_TIMEOUT_S, client_main

HEARTBEAT_S = 2.0  # the target: every fan hears from the server at least this often
SETTLE_S = 1.0
FD_MARGIN = 1_024  # the web process's own files, Redis, SQLite, logs
PORT_MARGIN = 2_000  # ephemeral ports for the joins and anything else on the box
JOIN_TIMEOUT_S = 10.0
CHANGE_TIMEOUT_S = 30.0  # a pause can queue behind a busy web process's broadcast


@dataclass(frozen=True)
class WsFansFigure:
    wanted: int
    opened: int
    open_seconds: float
    open_errors: dict[str, int]
    receiving: int  # open at the end and heard from in the quiet interval
    rss_before_kb: int
    rss_open_kb: int
    changes: int
    delays_s: list[float]
    missed: int  # (fan, change) pairs whose status never arrived
    gaps_s: list[float]  # per fan, the longest silence in the quiet interval
    web_cpu_per_change_s: float  # the change's broadcast, and any heartbeat in its wait
    clients_cpu_per_change_s: float
    web_cpu_per_heartbeat_s: float  # the quiet interval's CPU over its heartbeats
    limit: str  # what capped the fan count below the one asked for, if anything

    @property
    def kb_per_fan(self) -> float | None:
        return (self.rss_open_kb - self.rss_before_kb) / self.opened if self.opened else None

    def heartbeat_covered(self, within_s: float) -> float | None:
        """Share of fans whose longest silence in the quiet interval was at most ``within_s``."""
        if not self.gaps_s:
            return None
        return sum(1 for g in self.gaps_s if g <= within_s) / len(self.gaps_s)


def fan_capacity(wanted: int, web_processes: int = 1, clients: int = 1) -> tuple[int, str]:
    """``wanted``, or fewer when this box's file or port limits cannot hold that many.

    Raises this process's RLIMIT_NOFILE first (the web processes inherit it).
    Each web process holds its share of the sockets, each client process its
    share from its own source address (one ephemeral port per socket).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + FD_MARGIN
    if soft < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, max(hard, needed)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    per_process = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - FD_MARGIN
    # The shared listening socket does not split the fans exactly evenly.
    files = min(web_processes * per_process * 9 // 10, clients * per_process)
    low, high = (int(p) for p in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = clients * (high - low + 1 - PORT_MARGIN)
    capacity = min(wanted, files, ports)
    if capacity == wanted:
        return wanted, ""
    return capacity, "open_files" if files <= ports else "ephemeral_ports"


def measure_ws_fans(
    fans: int,
    clients: int = 4,
    changes: int = 4,
    quiet_s: float = 6.0,
    log_dir: Path | None = None,
    web_processes: int = 1,
    heartbeat_s: float = HEARTBEAT_S,
) -> WsFansFigure:
    """``fans`` sockets on ``web_processes``, ``changes`` pauses/resumes, a quiet interval.

    ``clients`` is raised when fewer client processes could not hold ``fans``
    within the per-process file limit. ``heartbeat_s`` is the clock's heartbeat
    period; below ``HEARTBEAT_S`` it leaves the broadcast room to arrive within
    ``HEARTBEAT_S`` of the one before.
    """
    per_client = resource.getrlimit(resource.RLIMIT_NOFILE)[1] - FD_MARGIN
    clients = max(clients, -(-fans // per_client))
    count, limit = fan_capacity(fans, web_processes, clients)
    changes += changes % 2  # pause, resume, ...: every change flips ``paused``, ending resumed
    clients = max(1, min(clients, count))
    change_wait_s = 1.5 + count / 5_000  # a broadcast to 10k took about 0.2 s of CPU
    with tempfile.TemporaryDirectory(prefix="fairdrop-wsbench-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            port=0,
            heartbeat_seconds=heartbeat_s,
            web_workers=web_processes,
        ).without_rate_limits()
        with Stack(settings, workers=1, log_dir=log_dir) as stack:
            web_pids = web_process_ids(stack.processes["web"].pid, web_processes)
            time.sleep(SETTLE_S)  # the workers finish starting up
            token = stack.settings.organiser_token
            with httpx.Client(base_url=stack.base_url, timeout=JOIN_TIMEOUT_S) as http:
                event_id = create_open_sale(http, token, "live fans bench")
            rss_before = tree_rss_kb(web_pids)
            group = start_clients(
                client_main,
                [
                    # 127.0.0.2, 127.0.0.3, ...: each its own ephemeral ports.
                    (stack.base_url, event_id, share, f"127.0.0.{2 + index}")
                    for index, share in enumerate(shares(count, clients))
                ],
            )
            try:
                group.send_all(("open",))
                opened = group.recv_all(60 + OPEN_TIMEOUT_S + count / MIN_OPENS_PER_S)
                time.sleep(SETTLE_S)
                rss_open = tree_rss_kb(web_pids)
                stamps, web_cpu, client_cpu = _changes(
                    stack.base_url, token, event_id, changes, change_wait_s, web_pids, group.pids
                )
                quiet_cpu = tree_cpu_seconds(web_pids)
                quiet_start = time.time()
                time.sleep(quiet_s)
                quiet = (quiet_start, time.time())
                quiet_cpu = tree_cpu_seconds(web_pids) - quiet_cpu
                group.send_all(("report", stamps, quiet))
                reports = group.recv_all(120)
            finally:
                group.stop()
    errors: dict[str, int] = {}
    for answer in opened:
        for name, n in answer["errors"].items():
            errors[name] = errors.get(name, 0) + n
    return WsFansFigure(
        wanted=fans,
        opened=sum(a["open"] for a in opened),
        open_seconds=max(a["seconds"] for a in opened),
        open_errors=errors,
        receiving=sum(r["receiving"] for r in reports),
        rss_before_kb=rss_before,
        rss_open_kb=rss_open,
        changes=changes,
        delays_s=[d for r in reports for d in r["delays"]],
        missed=sum(r["missed"] for r in reports),
        gaps_s=[g for r in reports for g in r["gaps"]],
        web_cpu_per_change_s=web_cpu / max(1, changes),
        clients_cpu_per_change_s=client_cpu / max(1, changes),
        web_cpu_per_heartbeat_s=quiet_cpu / max(1.0, quiet_s / heartbeat_s),
        limit=limit,
    )


def _changes(
    base_url: str,
    token: str,
    event_id: str,
    changes: int,
    wait_s: float,
    web_pids: list[int],
    client_pids: list[int],
) -> tuple[list[tuple[float, bool]], float, float]:
    """Pauses and resumes ``changes`` times (ending resumed); returns the stamps and CPU used."""
    stamps: list[tuple[float, bool]] = []
    web_cpu = client_cpu = 0.0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, timeout=CHANGE_TIMEOUT_S, headers=headers) as http:
        for index in range(changes):
            paused = index % 2 == 0
            web_before = tree_cpu_seconds(web_pids)
            clients_before = tree_cpu_seconds(client_pids)
            at = time.time()
            action = "pause" if paused else "resume"
            http.post(f"/api/events/{event_id}/{action}").raise_for_status()
            stamps.append((at, paused))
            time.sleep(wait_s)
            web_cpu += tree_cpu_seconds(web_pids) - web_before
            client_cpu += tree_cpu_seconds(client_pids) - clients_before
    return stamps, web_cpu, client_cpu
