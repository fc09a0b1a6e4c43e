"""loadtests/fan_user.py on a sale with a proof of work: every locust fan solves its
challenge in Python (altcha's solver) and joins with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.live_stack import LiveStack
from tests.loadtests.test_locust import _figures, _locust_stats, _run_locust


@pytest.mark.e2e
def test_locust_fans_solve_the_proof_of_work_and_join(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(
        opens_at=now.isoformat(),
        drop_at=(now + timedelta(seconds=3)).isoformat(),
        rate_per_min=60_000,
        pow_difficulty=5_000,
    )

    figures = _figures(_run_locust(live_stack, event["id"], tmp_path))

    assert figures["fans"] == figures["joined"] == 60, figures
    assert figures["oversold"] == 0 and figures["admissions_out_of_order"] == 0, figures
    stats = _locust_stats(tmp_path)
    for step in ("GET challenge", "POW solve", "POST join"):
        assert int(stats[step]["Request Count"]) == 60, stats[step]
        assert stats[step]["Failure Count"] == "0", stats[step]
