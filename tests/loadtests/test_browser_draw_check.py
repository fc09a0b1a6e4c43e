"""loadtests/browser_draw_check.py as a real command, small: headless Chromium checks a
draw of 2,000 entrants three times in the fan page's worker, finds no problem and the
right number each time, and prints its figures (speeds printed, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENTRANTS = 2_000


def test_the_browser_draw_check_bench_checks_a_draw_and_prints_its_figures(
    chromium_path: str,
) -> None:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "loadtests.browser_draw_check"),
            *("--entrants", str(ENTRANTS), "--runs", "3", "--chromium", chromium_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [line] = [json.loads(text) for text in done.stdout.splitlines()]
    # The bench itself fails when a run finds a problem or another number.
    assert line["entrants"] == ENTRANTS and line["runs"] == 3 and len(line["runs_s"]) == 3
    assert line["median_s"] > 0 and 0 < line["worker_median_s"] <= max(line["runs_s"])
    assert line["progress_updates"] == 1  # 2,000 keys: one batch of WebCrypto calls
    assert line["list_bytes"] > ENTRANTS * 20 and line["chromium"]
