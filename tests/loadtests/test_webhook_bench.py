"""The webhook benchmark runs end to end at a small size and its figures add up."""

from __future__ import annotations

import pytest

from loadtests.webhook_bench import run


@pytest.mark.e2e
def test_the_webhook_bench_takes_each_delivery_once() -> None:
    figures = run(events=20, clients=4)

    assert figures["accepted"] == 20
    # Every repeat is answered "duplicate", and nothing is left queued.
    assert figures["duplicates_refused_work"] == 20
    assert figures["jobs_left_after_drain"] == 0
    assert 0 < figures["answer_ms_p50"] <= figures["answer_ms_p99"]
    assert figures["deliveries_per_s"] > 0
