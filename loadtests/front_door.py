"""The front door's figures for ``fairdrop bench``: fresh-fan HTTP joins and socket opens
on one web process, the generator's own cost beside them, and memory per socket.

Each figure is one JSON line (``figure``: ``http_joins``, ``http_generator``,
``ws_opens``); ``summary`` is what the bench's last line adds.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from loadtests.http_join_bench import BurstFigure, measure_http_joins
from loadtests.ws_open_bench import measure_ws_opens


def _median(values: Iterable[float]) -> float:
    return statistics.median(values)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _burst_line(figure: str, index: int, burst: BurstFigure) -> dict[str, Any]:
    return {
        "figure": figure,
        "round": index,
        "requests": burst.requests,
        "ok": burst.ok,
        "statuses": {str(k): v for k, v in burst.statuses.items()},
        "seconds": round(burst.seconds, 3),
        "per_s": round(burst.per_s),
        "p99_ms": _ms(burst.p99_ms),
        "server_cpu_us_per_request": round(burst.server_cpu_us),
        "client_cpu_us_per_request": round(burst.client_cpu_us),
        "redis_commands_per_request": round(burst.redis_ops_per_request, 2),
        "redis_scripts_per_request": round(burst.redis_scripts_per_request, 2),
    }


def front_door_figures(
    http_joins: int, ws_opens: int, rounds: int, clients: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Measures both on fresh stacks; returns the figure lines and the summary's keys."""
    lines: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    joins = measure_http_joins(http_joins, clients, rounds)
    for index, burst in enumerate(joins.rounds):
        lines.append(_burst_line("http_joins", index + 1, burst))
    lines.append(_burst_line("http_generator", 1, joins.generator))
    server_us = _median(b.server_cpu_us for b in joins.rounds)
    summary.update(
        http_joins_per_s=round(joins.joins_per_s),
        http_join_errors=sum(b.requests - b.ok for b in joins.rounds),
        http_join_web_cpu_us=round(server_us),
        # What one web process would do with a core of its own: the CPU it spent per join.
        http_joins_cpu_bound_per_s=round(1e6 / server_us) if server_us else None,
        # Commands Redis ran per join, join.lua's own calls inside it included ...
        http_join_redis_ops=round(_median(b.redis_ops_per_request for b in joins.rounds), 2),
        # ... and the round trips that made them: the scripts run (EVALSHA).
        http_join_redis_scripts=round(
            _median(b.redis_scripts_per_request for b in joins.rounds), 2
        ),
        http_generator_per_s=round(joins.generator.per_s),
        http_generator_cpu_us=round(joins.generator.client_cpu_us),
    )
    opens = measure_ws_opens(ws_opens, clients)
    per_socket = opens.bytes_per_socket
    lines.append(
        {
            "figure": "ws_opens",
            "wanted": opens.wanted,
            "opened": opens.opened,
            "first_message": opens.first,
            "seconds": round(opens.seconds, 3),
            "opens_per_s": round(opens.opens_per_s),
            "rss_before_kb": opens.rss_before_kb,
            "rss_open_kb": opens.rss_open_kb,
            "bytes_per_socket": None if per_socket is None else round(per_socket),
            "web_cpu_us_per_open": round(opens.web_cpu_us),
            "client_cpu_us_per_open": round(opens.client_cpu_us),
        }
    )
    summary.update(
        ws_opens_per_s=round(opens.opens_per_s),
        ws_open_web_cpu_us=round(opens.web_cpu_us),
        bytes_per_socket=None if per_socket is None else round(per_socket),
    )
    return lines, summary
