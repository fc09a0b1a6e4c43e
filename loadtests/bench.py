"""``fairdrop bench``: the drop's figures, measured in one run on this machine.

Prints one JSON object per measurement and a summary object as the last line.
Everything runs on a private Redis and a private PostgreSQL on 127.0.0.1,
started here and stopped at the end. Repeated figures are quoted as medians.
Nothing is asserted about speed; the exit status is 1 only when a hold was
oversold, admission went out of order, or the holds did not sell exactly the stock.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis

from launch.redis_server import start_redis_server
from loadtests.bench_sale import drop_sale
from loadtests.draw_bench import DrawFigure, admission_out_of_order, measure_draw
from loadtests.e2e_holds import EndToEndFigure, measure_end_to_end_holds
from loadtests.front_door import front_door_figures
from loadtests.hold_bench import HoldFigure, measure_lua_holds, measure_pg_holds
from loadtests.join_bench import JoinFigure, measure_joins
from loadtests.private_postgres import private_postgres
from loadtests.procfs import percentile
from loadtests.ws_fans_bench import HEARTBEAT_S, measure_ws_fans
from queue_engine.scripts import SyncScripts

DRAW_KEYS = {100_000: "draw_100k_s", 1_000_000: "draw_1m_s"}
Figure = TypeVar("Figure")


@dataclass(frozen=True)
class BenchPlan:
    draw_sizes: tuple[int, ...]
    hold_fans: int
    join_fans: int
    rounds: int = 3
    clients: int = 4
    admit_check: int = 5_000
    ws_fans: int = 3_000
    ws_changes: int = 4
    ws_quiet_s: float = 6.0
    # Two web processes use both cores; the clock beats every 1.5 s so that a
    # broadcast running late still reaches every fan within the 2 s target.
    ws_web_processes: int = 2
    ws_heartbeat_s: float = 1.5
    e2e_fans: int = 3_000
    e2e_workers: int = 2
    e2e_web_processes: int = 2
    # Fresh fans' HTTP joins and socket opens on ONE web process (loadtests/front_door.py).
    http_joins: int = 5_000
    ws_opens: int = 2_000

    @property
    def hold_stock(self) -> int:
        # Fewer tickets than fans, so every round crosses the sold-out edge.
        return self.hold_fans * 3 // 4

    @classmethod
    def for_mode(
        cls,
        quick: bool,
        draw_size: int | None = None,
        rounds: int = 3,
        hold_fans: int | None = None,
        ws_fans: int | None = None,
        e2e_fans: int | None = None,
        http_joins: int | None = None,
        ws_opens: int | None = None,
    ) -> BenchPlan:
        if quick:
            plan = cls((100_000,), hold_fans=20_000, join_fans=50_000, rounds=rounds)
        else:
            plan = cls(
                (100_000, 1_000_000),
                hold_fans=50_000,
                join_fans=200_000,
                rounds=rounds,
                # The most this box held with every fan updated (clients share its
                # 2 cores); 40,000 was tried: see loadtests/RESULTS.md.
                ws_fans=20_000,
                e2e_fans=10_000,
                http_joins=20_000,
                ws_opens=10_000,
            )
        return cls(
            plan.draw_sizes if draw_size is None else (draw_size,),
            plan.hold_fans if hold_fans is None else hold_fans,
            plan.join_fans if hold_fans is None else hold_fans,
            rounds,
            ws_fans=plan.ws_fans if ws_fans is None else ws_fans,
            e2e_fans=plan.e2e_fans if e2e_fans is None else e2e_fans,
            http_joins=plan.http_joins if http_joins is None else http_joins,
            ws_opens=plan.ws_opens if ws_opens is None else ws_opens,
        )


@dataclass
class Report:
    summary: dict[str, Any] = field(default_factory=dict)
    not_measured: list[str] = field(default_factory=list)

    def emit(self, figure: str, **values: Any) -> None:
        print(json.dumps({"figure": figure, **values}), flush=True)


def _rounds(count: int, measure: Callable[[], Figure]) -> list[Figure]:
    return [measure() for _ in range(count)]


def _draws(plan: BenchPlan, scripts: SyncScripts, url: str, report: Report) -> int:
    """Every draw size, ``rounds`` times each; returns admission's out-of-order count."""
    out_of_order = 0
    stall_medians: list[float] = []
    worst = 0.0
    for size in plan.draw_sizes:
        figures: list[DrawFigure] = []
        for round_index in range(plan.rounds):
            figure = measure_draw(scripts, url, size, plan.admit_check)
            report.emit(
                "draw",
                round=round_index + 1,
                entrants=size,
                seconds=round(figure.seconds, 3),
                max_stall_ms=round(figure.pings.max_ms, 2),
                p99_ping_ms=round(figure.pings.p99_ms, 2),
                pings=figure.pings.pings,
                redis_slowest_command_ms=figure.redis_slowest_command_ms,
                redis_slowest_command=figure.redis_slowest_command,
            )
            if round_index == 0:
                serving, wrong = admission_out_of_order(scripts, figure.event_id, plan.admit_check)
                report.emit("admission_order", entrants=size, serving=serving, out_of_order=wrong)
                out_of_order += wrong
            drop_sale(scripts.client, figure.event_id)
            figures.append(figure)
        seconds = statistics.median(f.seconds for f in figures)
        key = DRAW_KEYS.get(size, f"draw_{size}_s")
        report.summary[key] = round(seconds, 3)
        stall_medians.append(statistics.median(f.pings.max_ms for f in figures))
        worst = max([worst, *(f.pings.max_ms for f in figures)])
    for key in DRAW_KEYS.values():
        if key not in report.summary:
            report.summary[key] = None
            report.not_measured.append(key)
    report.summary["draw_max_stall_ms"] = round(max(stall_medians), 2)
    report.summary["draw_worst_stall_ms"] = round(worst, 2)
    return out_of_order


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _emit_holds(report: Report, figure_name: str, figures: list[HoldFigure]) -> float:
    for index, figure in enumerate(figures):
        report.emit(
            figure_name,
            round=index + 1,
            attempts=figure.attempts,
            stock=figure.stock,
            held=figure.held,
            seconds=round(figure.seconds, 3),
            holds_per_s=round(figure.holds_per_s),
            oversold=figure.oversold,
            outcomes=figure.outcomes,
            redis_cpu_share=_share(figure.redis_cpu_share),
        )
    return statistics.median(f.holds_per_s for f in figures)


def _joins(plan: BenchPlan, scripts: SyncScripts, url: str, report: Report) -> None:
    figures: list[JoinFigure] = _rounds(
        plan.rounds, lambda: measure_joins(scripts, url, plan.join_fans, plan.clients)
    )
    for index, figure in enumerate(figures):
        report.emit(
            "joins_lua",
            round=index + 1,
            joins=figure.joins,
            seconds=round(figure.seconds, 3),
            joins_per_s=round(figure.joins_per_s),
            buffered=figure.buffered,
            errors=figure.errors,
            outcomes=figure.outcomes,
            redis_cpu_share=_share(figure.redis_cpu_share),
        )
    report.summary["joins_per_s"] = round(statistics.median(f.joins_per_s for f in figures))
    report.summary["join_errors"] = sum(f.errors for f in figures)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _ws_fans(plan: BenchPlan, report: Report) -> None:
    """Live fans on the web processes: count, memory per fan, delivery delay, heartbeats."""
    figure = measure_ws_fans(
        plan.ws_fans,
        plan.clients,
        plan.ws_changes,
        plan.ws_quiet_s,
        web_processes=plan.ws_web_processes,
        heartbeat_s=plan.ws_heartbeat_s,
    )
    delays = figure.delays_s
    covered = figure.heartbeat_covered(HEARTBEAT_S)
    kb = figure.kb_per_fan
    report.emit(
        "ws_fans",
        web_processes=plan.ws_web_processes,
        wanted=figure.wanted,
        opened=figure.opened,
        receiving=figure.receiving,
        limited_by=figure.limit or None,
        open_seconds=round(figure.open_seconds, 2),
        opens_per_s=round(figure.opened / figure.open_seconds) if figure.open_seconds else None,
        open_errors=figure.open_errors,
        rss_before_kb=figure.rss_before_kb,
        rss_open_kb=figure.rss_open_kb,
        kb_per_fan=None if kb is None else round(kb, 1),
    )
    report.emit(
        "ws_update",
        fans=figure.opened,
        changes=figure.changes,
        deliveries=len(delays),
        missed=figure.missed,
        p50_ms=_ms(percentile(delays, 0.5)),
        p99_ms=_ms(percentile(delays, 0.99)),
        max_ms=_ms(max(delays, default=None)),
        web_cpu_s_per_change=round(figure.web_cpu_per_change_s, 3),
        clients_cpu_s_per_change=round(figure.clients_cpu_per_change_s, 3),
    )
    report.emit(
        "ws_heartbeat",
        fans=len(figure.gaps_s),
        quiet_s=plan.ws_quiet_s,
        target_s=HEARTBEAT_S,
        clock_heartbeat_s=plan.ws_heartbeat_s,
        covered=None if covered is None else round(covered, 4),
        covered_within_2_5s=_share(figure.heartbeat_covered(2.5)),
        gap_p50_s=_share(percentile(figure.gaps_s, 0.5)),
        gap_max_s=_share(max(figure.gaps_s, default=None)),
        web_cpu_s_per_heartbeat=round(figure.web_cpu_per_heartbeat_s, 3),
    )
    report.summary.update(
        ws_fans=figure.receiving,
        ws_kb_per_fan=None if kb is None else round(kb, 1),
        ws_update_p50_ms=_ms(percentile(delays, 0.5)),
        ws_update_p99_ms=_ms(percentile(delays, 0.99)),
        ws_heartbeat_covered=None if covered is None else round(covered, 4),
    )


def _end_to_end_holds(plan: BenchPlan, report: Report) -> int:
    """Holds asked over fans' sockets through web, RQ and Lua; returns what was oversold."""
    figures: list[EndToEndFigure] = _rounds(
        plan.rounds,
        lambda: measure_end_to_end_holds(
            plan.e2e_fans, plan.clients, plan.e2e_workers, plan.e2e_web_processes
        ),
    )
    for index, figure in enumerate(figures):
        report.emit(
            "holds_end_to_end",
            round=index + 1,
            fans=figure.fans,
            ready=figure.ready,
            stock=figure.stock,
            workers=figure.workers,
            web_processes=figure.web_processes,
            held=figure.held,
            seconds=round(figure.seconds, 3),
            holds_per_s=round(figure.holds_per_s),
            p50_ms=_ms(percentile(figure.latencies_s, 0.5)),
            p99_ms=_ms(percentile(figure.latencies_s, 0.99)),
            oversold=figure.oversold,
            outcomes=figure.outcomes,
            cpu_s=figure.cpu_s,
            server_cpu_us_per_request=round(figure.server_cpu_us_per_request),
            web_cpu_us_per_request=round(figure.web_cpu_us_per_request),
            client_cpu_us_per_request=round(figure.client_cpu_us_per_request),
        )
    report.summary["holds_per_s_end_to_end"] = round(
        statistics.median(f.holds_per_s for f in figures)
    )
    report.summary["holds_end_to_end_exactly_stock"] = all(f.held == f.stock for f in figures)
    # What the rate would be with both cores for fairdrop alone (the clients
    # share this box): the limit the measurement points at.
    server_us = statistics.median(f.server_cpu_us_per_request for f in figures)
    report.summary["holds_end_to_end_server_cpu_us"] = round(server_us)
    report.summary["holds_end_to_end_web_cpu_us"] = round(
        statistics.median(f.web_cpu_us_per_request for f in figures)
    )
    report.summary["holds_end_to_end_cpu_bound_per_s"] = (
        round(2e6 / server_us) if server_us else None
    )
    return sum(f.oversold for f in figures)


def run_bench(plan: BenchPlan) -> int:
    """Measures every figure of ``plan``, prints them, and returns the exit status."""
    started = time.monotonic()
    # Other work on the box skews every figure: the load average says how much.
    load_at_start = round(os.getloadavg()[0], 2)
    report = Report()
    with start_redis_server() as server:
        client = redis.Redis.from_url(server.url)
        scripts = SyncScripts(client)
        out_of_order = _draws(plan, scripts, server.url, report)
        lua = _rounds(
            plan.rounds,
            lambda: measure_lua_holds(
                scripts, server.url, plan.hold_fans, plan.hold_stock, plan.clients
            ),
        )
        lua_rate = _emit_holds(report, "holds_lua", lua)
        _joins(plan, scripts, server.url, report)
        client.close()
    with private_postgres() as conninfo:
        pg = _rounds(
            plan.rounds,
            lambda: measure_pg_holds(conninfo, plan.hold_fans, plan.hold_stock, plan.clients),
        )
    pg_rate = _emit_holds(report, "holds_pg_row_lock", pg)
    _ws_fans(plan, report)
    # Two client processes: the generator's own cost is measured apart (http_generator).
    lines, front = front_door_figures(plan.http_joins, plan.ws_opens, plan.rounds, 2)
    for line in lines:
        report.emit(line.pop("figure"), **line)
    report.summary.update(front)
    oversold = sum(f.oversold for f in lua) + _end_to_end_holds(plan, report)
    exact = all(f.held == f.stock for f in lua) and report.summary["holds_end_to_end_exactly_stock"]
    report.summary.update(
        holds_per_s_lua=round(lua_rate),
        holds_exactly_stock=exact,
        holds_per_s_pg_baseline=round(pg_rate),
        ratio_vs_pg=round(lua_rate / pg_rate, 1),
        oversold=oversold,
        out_of_order=out_of_order,
    )
    summary = {
        "summary": True,
        **report.summary,
        "not_measured": report.not_measured,
        "rounds": plan.rounds,
        "clients": plan.clients,
        "cpus": os.cpu_count(),
        "load_avg_1m": [load_at_start, round(os.getloadavg()[0], 2)],
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary), flush=True)
    return 0 if oversold == 0 and out_of_order == 0 and exact else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m loadtests.bench`` (and ``fairdrop bench``, which runs it)."""
    parser = argparse.ArgumentParser(
        prog="fairdrop bench", description="the drop's figures on private local servers"
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, within two minutes")
    parser.add_argument("--draw-size", type=int, help="draw this many entrants instead")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of each figure (medians)")
    parser.add_argument("--fans", type=int, help="fans in the hold and join bursts instead")
    parser.add_argument("--ws-fans", type=int, help="live websocket fans on one web process")
    parser.add_argument("--e2e-fans", type=int, help="fans holding over sockets end to end")
    parser.add_argument("--http-joins", type=int, help="fresh fans joining one web process")
    parser.add_argument("--ws-opens", type=int, help="fresh fans opening sockets on one process")
    args = parser.parse_args(argv)
    plan = BenchPlan.for_mode(
        args.quick,
        args.draw_size,
        args.rounds,
        args.fans,
        args.ws_fans,
        args.e2e_fans,
        args.http_joins,
        args.ws_opens,
    )
    return run_bench(plan)


if __name__ == "__main__":
    sys.exit(main())
