"""loadtests/locustfile.py: a drop under locust against the real processes, and its figures.

locust runs in a subprocess: importing it here would monkey-patch this
process for gevent (and break redis and httpx in the other tests).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loadtests.drop_figures import (
    DropRun,
    FanRecord,
    admissions_out_of_order,
    drop_figures,
    oversold,
)
from tests.live_stack import LiveStack

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "loadtests" / "locustfile.py"
FIGURES_PREFIX = "FAIRDROP_FIGURES "
LOCUST_TIMEOUT_S = 60


def _admitted(number: int, deadline_ms: int) -> FanRecord:
    return FanRecord(number=number, admitted_deadline_ms=deadline_ms, finished=True)


def test_out_of_order_counts_fans_let_in_before_a_lower_number() -> None:
    in_order = [_admitted(1, 100), _admitted(2, 100), _admitted(3, 200), FanRecord(number=4)]
    assert admissions_out_of_order(in_order, serving=3) == 0
    # Number 3 let in before number 2.
    jumped = [_admitted(1, 100), _admitted(2, 200), _admitted(3, 100)]
    assert admissions_out_of_order(jumped, serving=3) == 1
    # Number 2 never let in (beyond serving) while 3 was.
    skipped = [_admitted(1, 100), FanRecord(number=2), _admitted(3, 100)]
    assert admissions_out_of_order(skipped, serving=1) == 1
    # Without the serving counter a fan that saw nothing may just have missed it.
    assert admissions_out_of_order(skipped, serving=None) == 0


def test_found_empty_counts_fans_let_in_who_found_no_stock() -> None:
    run = DropRun()
    outcomes = ["confirmed", "refused:sold_out", "refused:not_enough_stock", "sold_out"]
    run.fans = [FanRecord(number=n, outcome=o) for n, o in enumerate(outcomes, start=1)]
    run.fans.append(FanRecord(number=5, outcome="sold_out"))  # never let in: the queue's
    figures = drop_figures(run, {"serving": 4})
    assert (figures["admitted_found_empty"], figures["admitted_found_empty_share"]) == (3, 0.75)
    # Without the serving counter, only fans who saw their admission count as let in.
    run.fans[1].admitted_at = 1.0
    assert drop_figures(run, None)["admitted_found_empty"] == 1


def test_oversold_counts_sold_and_held_beyond_stock() -> None:
    stats = {
        "stock_by_type": {"a": 10, "b": 5},
        "sold_by_type": {"a": 8, "b": 5},
        "held_by_type": {"a": 3},
    }
    assert oversold(stats) == 1
    assert DropRun().all_fans_finished()


def _run_locust(live_stack: LiveStack, event_id: str, workdir: Path) -> str:
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        live_stack.base_url,
        "--event-id",
        event_id,
        # One argument with "=": a token may start with "-" (an option to argparse).
        f"--organiser-token={live_stack.settings.organiser_token}",
        "--drop-fans",
        "60",
        "--drop-burst-seconds",
        "2",
        "--drop-trickle-seconds",
        "2",
        "--drop-drain-seconds",
        "15",
        "--fan-timeout",
        "30",
        "--figures-file",
        str(workdir / "figures.json"),
        "--series-file",
        str(workdir / "series.json"),
        "--csv",
        str(workdir / "locust"),
        "--only-summary",
    ]
    finished = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=LOCUST_TIMEOUT_S, check=False
    )
    # 1 is locust's "some request failed": the figures and stats below say which.
    assert finished.returncode in (0, 1), finished.stderr[-3000:]
    return finished.stdout


def _figures(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith(FIGURES_PREFIX)]
    assert len(lines) == 1, stdout[-3000:]
    figures: dict[str, Any] = json.loads(lines[0].removeprefix(FIGURES_PREFIX))
    return figures


def _locust_stats(workdir: Path) -> dict[str, dict[str, str]]:
    with (workdir / "locust_stats.csv").open(newline="") as stats:
        return {f"{row['Type']} {row['Name']}": row for row in csv.DictReader(stats)}


@pytest.mark.e2e
def test_a_drop_under_locust_is_fair_and_never_oversells(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(
        opens_at=now.isoformat(),
        drop_at=(now + timedelta(seconds=3)).isoformat(),
        rate_per_min=60_000,
        cap=100,
        hold_seconds=30,
        ticket_types=[
            {
                "id": "ga",
                "name": "GA",
                "price_cents": 4_000,
                "currency": "EUR",
                "stock": 30,
                "per_person_limit": 1,
            }
        ],
    )

    figures = _figures(_run_locust(live_stack, event["id"], tmp_path))

    assert "locust" not in sys.modules  # gevent stayed out of this process
    assert figures["event_id"] == event["id"]
    assert figures["fans"] == figures["joined"] == 60, figures
    assert figures["admissions_out_of_order"] == 0, figures
    assert figures["oversold"] == 0, figures
    # One ticket each: the clock lets in no more fans choosing than tickets left.
    assert figures["admitted_found_empty"] == 0, figures
    assert figures["admitted"] > 0 and figures["confirmed"] > 0, figures
    assert figures["confirmed"] <= figures["sold"] <= 30, figures
    assert figures["time_in_queue_p50_s"] <= figures["time_in_queue_p95_s"], figures
    assert json.loads((tmp_path / "figures.json").read_text()) == figures
    _check_series_and_plots(tmp_path, figures)
    stats = _locust_stats(tmp_path)
    assert stats["POST join"]["Failure Count"] == "0", stats["POST join"]
    assert int(stats["POST join"]["Request Count"]) == 60
    assert int(stats["WS admission wait"]["Request Count"]) == figures["admitted"]
    assert int(stats["WS confirm"]["Request Count"]) == figures["confirmed"]
    assert int(stats["GET stats"]["Request Count"]) > 0


def _check_series_and_plots(workdir: Path, figures: dict[str, Any]) -> None:
    """The series file holds every fan and the organiser's polls; the plots draw from it."""
    series = json.loads((workdir / "series.json").read_text())
    assert series["event_id"] == figures["event_id"]
    assert len(series["joined_s"]) == figures["joined"]
    assert series["joined_s"] == sorted(series["joined_s"]) and series["joined_s"][0] >= 0
    assert len(series["time_in_queue_s"]) == figures["admitted"]
    timeline = series["timeline"]
    assert len(timeline) >= 4, timeline  # two polls a second over a run of several seconds
    assert [p["t"] for p in timeline] == sorted(p["t"] for p in timeline)
    assert timeline[-1]["sold"] <= figures["sold"]  # the final stats come after the last poll
    done = subprocess.run(
        [sys.executable, "-m", "loadtests.plots", str(workdir / "series.json"), str(workdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for name in ("time_in_queue.png", "fans_over_time.png"):
        png = (workdir / name).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, name
        assert str(workdir / name) in done.stdout
