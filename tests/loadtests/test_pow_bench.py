"""loadtests/pow_bench.py as a real command, small: headless Chromium solves in the fan
page's worker and the server takes every solution, Python solves the same challenges to
the same numbers, one JSON line per difficulty and the summary last. Speeds are printed,
not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOLVES = 5


def test_pow_bench_measures_the_browser_and_python_and_every_solution_is_accepted(
    chromium_path: str,
) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "loadtests.pow_bench"),
            *("--difficulties", "1000,4000", "--solves", str(SOLVES)),
            *("--chromium", chromium_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]

    assert [line.get("difficulty") for line in lines] == [1000, 4000, None]
    for line in lines[:2]:
        assert line["solves"] == SOLVES
        # Each browser solution joined a new entrant; Python found the same numbers.
        assert line["accepted"] == line["python_agrees"] == SOLVES, line
        for kind in ("browser", "altcha", "tight"):
            assert line[f"{kind}_median_s"] > 0 and line[f"{kind}_us_per_hash"] > 0, line
    summary = lines[-1]
    assert summary["summary"] is True and summary["chromium"]
    assert summary["altcha_speedup"] > 0 and summary["tight_speedup"] > 0
