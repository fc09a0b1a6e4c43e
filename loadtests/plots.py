"""PNG plots of a locust drop run, from the file its ``--series-file`` wrote.

    python -m loadtests.plots SERIES.json OUT_DIR

Writes ``time_in_queue.png`` (how long fans waited from joining to being let
in, as a distribution) and ``fans_over_time.png`` (fans arrived, in the window, waiting,
shopping and tickets sold across the run, from the organiser's live stats).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

# Files only (no screen here, and none needed); chosen before pyplot loads.
matplotlib.use("Agg")

import matplotlib.pyplot as plt

from loadtests.drop_figures import percentile

DPI = 110
SIZE_IN = (8.0, 4.5)


def time_in_queue(series: dict[str, Any], out: Path) -> Path:
    waits: list[float] = series["time_in_queue_s"]
    fig, ax = plt.subplots(figsize=SIZE_IN)
    if waits:
        share = [(i + 1) / len(waits) for i in range(len(waits))]
        ax.step(waits, share, where="post", color="#1f6feb")
        for q, style in ((0.5, "--"), (0.95, ":")):
            value = percentile(waits, q) or 0.0  # as the run's figures compute it
            ax.axvline(value, color="#555", linestyle=style, label=f"p{int(q * 100)} {value:.1f} s")
        ax.legend(loc="lower right")
    ax.set_xlabel("seconds from joining to being let in")
    ax.set_ylabel("share of admitted fans")
    ax.set_title(f"Time in queue ({len(waits)} admitted fans)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    return _save(fig, out / "time_in_queue.png")


def fans_over_time(series: dict[str, Any], out: Path) -> Path:
    joined: list[float] = series["joined_s"]
    timeline: list[dict[str, Any]] = series["timeline"]
    fig, ax = plt.subplots(figsize=SIZE_IN)
    if joined:
        ax.step(joined, range(1, len(joined) + 1), where="post", label="fans arrived", color="#444")
    times = [p["t"] for p in timeline]
    for name, label in (
        ("buffered", "joined in the window (frozen at the drop)"),
        ("queued", "waiting in the queue"),
        ("shopping", "let in, shopping"),
        ("sold", "tickets sold"),
    ):
        ax.plot(times, [p[name] for p in timeline], label=label)
    ax.set_xlabel("seconds from the first arrival")
    ax.set_ylabel("fans / tickets")
    ax.set_title("Fans over time")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    return _save(fig, out / "fans_over_time.png")


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m loadtests.plots SERIES.json OUT_DIR")
    series = json.loads(Path(args[0]).read_text())
    out = Path(args[1])
    out.mkdir(parents=True, exist_ok=True)
    for path in (time_in_queue(series, out), fans_over_time(series, out)):
        print(path)


if __name__ == "__main__":
    main()
