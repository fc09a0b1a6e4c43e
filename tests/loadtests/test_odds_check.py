"""loadtests/odds_check.py: the page's chance and wait against simulated drops
(loadtests/simulated_drop.py, the real scripts on a real Redis)."""

from __future__ import annotations

import json

import pytest

from loadtests.odds_check import SCENARIOS, bucket_of, main


def test_buckets_are_the_words_the_page_shows() -> None:
    assert [bucket_of(c) for c in (0.95, 0.7, 0.5, 0.2, 0.01)] == [
        "very likely",
        "likely",
        "about even",
        "unlikely",
        "very unlikely",
    ]
    assert {p.name for p in SCENARIOS} == {"demo", "paced", "families", "slow", "locust"}


def test_a_slow_drop_checks_the_chance_and_the_wait(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--scenario", "slow", "--scenario", "demo"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any(line.startswith("chance said vs got tickets") for line in printed)
    figures = json.loads(printed[-1])
    drops = {d["scenario"]: d for d in figures["drops"]}
    for drop in drops.values():
        assert drop["oversold"] == 0 and drop["sold"] == drop["tickets"], drop
        assert drop["admitted_found_empty"] == 0, drop
    buckets = figures["chance"]["buckets"]
    # Fans told "very likely" got tickets; fans told "very unlikely" mostly did not.
    assert buckets["very likely"]["got"] >= 0.9, buckets
    assert buckets["very unlikely"]["got"] <= 0.1, buckets
    wait = figures["wait"]
    # One fan every 10 s: the wait now counts the interval before the next fan's
    # turn, and never says "any moment" to a fan let in 5 s or more later; the
    # estimate before did, and ran short.
    assert wait["new"]["median_abs_s"] <= 1.0, wait
    assert wait["new"]["any_moment_but_late"] == 0, wait
    assert wait["before"]["any_moment_but_late"] > 0, wait
    assert wait["before"]["mean_s"] < wait["new"]["mean_s"], wait
