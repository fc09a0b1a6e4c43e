"""Websocket opens a second on ONE web process, and the memory each open socket holds.

A whole fairdrop runs through ``launch.stack.Stack`` (one web process, the
clock, a private Redis, SQLite, rate limits off) with a sale in its buffer
window. Client processes (loadtests/raw_ws.py) first let ``fans`` fresh fans
join over HTTP, untimed; then, from "go", every fan opens its socket: the
upgrade, the server's join check and the first ``status`` message. The rate
is sockets with their first status over the time until the slowest client
has them all. Memory per socket is the web process's VmRSS with every
socket open (after a settle) minus before any, over the sockets open, as the
live-fans bench counts it (loadtests/ws_fans_bench.py, at larger scale).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fairdrop.protocol import MessageType
from fairdrop.settings import Settings
from launch.stack import Stack
from loadtests.client_processes import shares, start_clients
from loadtests.http_join_bench import HOST, create_open_sale
from loadtests.procfs import tree_cpu_seconds, tree_rss_kb, web_process_ids
from loadtests.raw_ws import ws_client_main
from loadtests.ws_fans_bench import fan_capacity

SETTLE_S = 1.0


@dataclass(frozen=True)
class WsOpenFigure:
    wanted: int
    opened: int  # sockets whose first message was the fan's status
    seconds: float
    first: dict[str, int]  # what each socket heard first (or why it failed)
    rss_before_kb: int
    rss_open_kb: int
    web_cpu_s: float
    client_cpu_s: float

    @property
    def opens_per_s(self) -> float:
        return self.opened / self.seconds if self.seconds else 0.0

    @property
    def bytes_per_socket(self) -> float | None:
        if not self.opened:
            return None
        return (self.rss_open_kb - self.rss_before_kb) * 1024 / self.opened

    @property
    def web_cpu_us(self) -> float:
        return self.web_cpu_s / max(1, self.opened) * 1e6

    @property
    def client_cpu_us(self) -> float:
        return self.client_cpu_s / max(1, self.opened) * 1e6


def first_messages(answers: list[dict[str, Any]]) -> dict[str, int]:
    """What the clients' sockets heard first (or why they failed), summed over clients."""
    first: dict[str, int] = {}
    for answer in answers:
        for kind, n in answer["first"].items():
            first[kind] = first.get(kind, 0) + n
    return first


def measure_ws_opens(fans: int, clients: int = 2, log_dir: Path | None = None) -> WsOpenFigure:
    """``fans`` fresh fans join (untimed), then all open their sockets at once (timed)."""
    count, _ = fan_capacity(fans, 1, clients)
    clients = max(1, min(clients, count))
    with tempfile.TemporaryDirectory(prefix="fairdrop-wsopen-") as tmp:
        settings = Settings(data_dir=Path(tmp), port=0, web_workers=1).without_rate_limits()
        with Stack(settings, workers=0, log_dir=log_dir) as stack:
            web_pids = web_process_ids(stack.processes["web"].pid, 1)
            with httpx.Client(base_url=stack.base_url, timeout=10) as http:
                event_id = create_open_sale(http, stack.settings.organiser_token, "ws open bench")
            group = start_clients(
                ws_client_main,
                [
                    (HOST, stack.settings.port, event_id, share, f"127.0.0.{2 + index}")
                    for index, share in enumerate(shares(count, clients))
                ],
            )
            try:
                group.send_all(("join",))
                group.recv_all(60 + count / 100)
                time.sleep(SETTLE_S)
                rss_before = tree_rss_kb(web_pids)
                cpu_before = tree_cpu_seconds(web_pids)
                group.send_all(("open",))
                answers = group.recv_all(120 + count / 50)
                web_cpu = tree_cpu_seconds(web_pids) - cpu_before
                time.sleep(SETTLE_S)
                rss_open = tree_rss_kb(web_pids)
                group.send_all(("close",))
                group.recv_all(60)
            finally:
                group.stop()
    first = first_messages(answers)
    return WsOpenFigure(
        wanted=fans,
        opened=first.get(MessageType.STATUS.value, 0),
        seconds=max(a["seconds"] for a in answers),
        first=first,
        rss_before_kb=rss_before,
        rss_open_kb=rss_open,
        web_cpu_s=web_cpu,
        client_cpu_s=sum(a["cpu_s"] for a in answers),
    )
