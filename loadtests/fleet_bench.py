"""Several web processes behind nginx against the same processes reached directly.

A whole fairdrop runs through ``launch.stack.Stack`` with ``web_processes``
web processes behind nginx (launch/nginx.py, deploy/nginx.conf.template),
the clock, a private Redis, SQLite and every rate limit off. A sale's buffer
window is open. In one run, rounds alternate between two ways in:

- ``nginx``: every client process speaks to nginx's one port;
- ``direct``: client process ``i`` speaks to web process ``i mod N``'s own
  port, the best a balancer could do (no extra hop, an even split).

Each round is a burst of fresh-fan HTTP joins (loadtests/raw_http.py, kept-
alive connections, no cookie) and, on fresh fans who joined untimed, a burst
of websocket opens (loadtests/raw_ws.py: upgrade, first ``status``). The
machine is shared, so the figure to quote is the ratio nginx/direct of
rounds run side by side, not either rate alone.

    python -m loadtests.fleet_bench --web 2 4 --joins 3000 --sockets 1500
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from fairdrop.protocol import MessageType
from fairdrop.settings import Settings
from launch.stack import Stack
from loadtests.client_processes import shares, start_clients
from loadtests.http_join_bench import HOST, create_open_sale
from loadtests.procfs import process_tree, tree_cpu_seconds
from loadtests.raw_http import client_main
from loadtests.raw_ws import ws_client_main
from loadtests.ws_open_bench import first_messages

CONNECTIONS = 32  # per client process, as http_join_bench
CLIENTS = 4  # client processes: a multiple of 2 and 4, so "direct" splits evenly
WAYS = ("nginx", "direct")


def _ports(stack: Stack, way: str, clients: int) -> list[int]:
    """The port each client process speaks to."""
    if way == "nginx":
        return [stack.settings.port] * clients
    webs = list(stack.web_ports.values())
    return [webs[i % len(webs)] for i in range(clients)]


def _web_pids(stack: Stack) -> list[int]:
    return [p.pid for name, p in stack.processes.items() if name.startswith("web")]


def _nginx_pids(stack: Stack) -> list[int]:
    return process_tree(stack.nginx.process.pid) if stack.nginx is not None else []


class _Cpu:
    """CPU seconds the web processes and nginx spent between start and stop."""

    def __init__(self, stack: Stack) -> None:
        self.web, self.nginx = _web_pids(stack), _nginx_pids(stack)
        self.web_s, self.nginx_s = tree_cpu_seconds(self.web), tree_cpu_seconds(self.nginx)

    def stop(self, count: int) -> dict[str, float]:
        """Microseconds of web and of nginx CPU per one of ``count``."""
        web = tree_cpu_seconds(self.web) - self.web_s
        nginx = tree_cpu_seconds(self.nginx) - self.nginx_s
        return {
            "web_cpu_us": web / max(1, count) * 1e6,
            "nginx_cpu_us": nginx / max(1, count) * 1e6,
        }


def _join_burst(stack: Stack, way: str, path: str, joins: int) -> dict[str, Any]:
    ports = _ports(stack, way, CLIENTS)
    group = start_clients(
        client_main,
        [
            (HOST, port, path, share, CONNECTIONS, f"127.0.0.{2 + i}")
            for i, (port, share) in enumerate(zip(ports, shares(joins, CLIENTS), strict=True))
        ],
    )
    try:
        cpu = _Cpu(stack)
        group.send_all(("go",))
        answers = group.recv_all(60 + joins / 100)
        cpu_us = cpu.stop(joins)
        group.send_all(("stop",))
    finally:
        group.stop()
    statuses: dict[int, int] = {}
    for answer in answers:
        for status, n in answer["statuses"].items():
            statuses[int(status)] = statuses.get(int(status), 0) + n
    seconds = max(a["seconds"] for a in answers)
    return {
        "per_s": statuses.get(200, 0) / seconds,
        "statuses": statuses,
        **cpu_us,
    }


def _ws_burst(stack: Stack, way: str, event_id: str, sockets: int) -> dict[str, Any]:
    ports = _ports(stack, way, CLIENTS)
    group = start_clients(
        ws_client_main,
        [
            (HOST, port, event_id, share, f"127.0.0.{20 + i}")
            for i, (port, share) in enumerate(zip(ports, shares(sockets, CLIENTS), strict=True))
        ],
    )
    try:
        group.send_all(("join",))
        group.recv_all(60 + sockets / 100)
        cpu = _Cpu(stack)
        group.send_all(("open",))
        answers = group.recv_all(120 + sockets / 50)
        cpu_us = cpu.stop(sockets)
        group.send_all(("close",))
        group.recv_all(60)
    finally:
        group.stop()
    first = first_messages(answers)
    opened = first.get(MessageType.STATUS.value, 0)
    return {
        "per_s": opened / max(a["seconds"] for a in answers),
        "first": first,
        **cpu_us,
    }


def measure_fleet(web_processes: int, joins: int, sockets: int, rounds: int) -> dict[str, Any]:
    """``rounds`` rounds of nginx then direct, side by side, on one stack of ``web_processes``."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {w: {"joins": [], "ws": []} for w in WAYS}
    with tempfile.TemporaryDirectory(prefix="fairdrop-fleet-") as tmp:
        settings = Settings(data_dir=Path(tmp), port=0).without_rate_limits()
        with Stack(settings, workers=0, web_processes=web_processes) as stack:
            with httpx.Client(base_url=stack.base_url, timeout=10) as http:
                event_id = create_open_sale(http, stack.settings.organiser_token, "fleet bench")
            path = f"/api/events/{event_id}/join"
            _join_burst(stack, "nginx", path, min(joins, 500))  # warm up every process
            for _ in range(rounds):
                for way in WAYS:
                    runs[way]["joins"].append(_join_burst(stack, way, path, joins))
                    time.sleep(0.2)
                    runs[way]["ws"].append(_ws_burst(stack, way, event_id, sockets))
                    time.sleep(0.5)
    summary: dict[str, Any] = {"web_processes": web_processes, "rounds": rounds}
    for kind in ("joins", "ws"):
        for way in WAYS:
            rates = [r["per_s"] for r in runs[way][kind]]
            summary[f"{kind}_{way}_per_s"] = round(statistics.median(rates))
            for cpu in ("web_cpu_us", "nginx_cpu_us"):
                summary[f"{kind}_{way}_{cpu}"] = round(
                    statistics.median(r[cpu] for r in runs[way][kind])
                )
        ratios = [
            n["per_s"] / d["per_s"]
            for n, d in zip(runs["nginx"][kind], runs["direct"][kind], strict=True)
            if d["per_s"]
        ]
        summary[f"{kind}_nginx_over_direct"] = round(statistics.median(ratios), 2)
    summary["join_statuses"] = {
        way: _merged(r["statuses"] for r in runs[way]["joins"]) for way in WAYS
    }
    summary["ws_first"] = {way: _merged(r["first"] for r in runs[way]["ws"]) for way in WAYS}
    return summary


def _merged(counts: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for count in counts:
        for key, n in count.items():
            total[str(key)] = total.get(str(key), 0) + n
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--web", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--joins", type=int, default=3000)
    parser.add_argument("--sockets", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for web in args.web:
        print(json.dumps(measure_fleet(web, args.joins, args.sockets, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
