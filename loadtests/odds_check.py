"""How close the fan page's chance and wait come, in simulated drops.

    python -m loadtests.odds_check            # every scenario, three seeds each
    python -m loadtests.odds_check --quick    # one seed each

Runs loadtests/simulated_drop.py's drops through the real scripts on a private
Redis. Every second of each drop, every fan still waiting notes the chance and
the wait its page would show (queue_engine/odds.py, from the figures the
server sends); afterwards each note is held against what came of it:

- the chance, bucketed by the words the page shows ("very likely" ... "very
  unlikely"): the mean chance said against the share of those fans who got
  tickets, and the Brier score;
- the wait: when the page said the fan would be let in, against when it was,
  for the fans let in; beside the estimate before issue 13 (``ahead``
  admission intervals instead of ``ahead + 1``) and how often each said "any
  moment" to a fan let in 5 s or more later.

The figures print as a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from typing import Any

import redis

from launch.redis_server import start_redis_server
from loadtests.simulated_drop import DropOutcome, DropPlan, simulate
from queue_engine.odds import ONE_IN_N_FLOOR, WORDS
from queue_engine.scripts import SyncScripts

SCENARIOS = (
    # The demo's drop: 1 or 2 tickets each, everyone buys at once, a fast rate.
    DropPlan(name="demo", fans=300, stock=60),
    # Fans who take their time, some never buy, some holds run out unpaid.
    DropPlan(
        name="paced",
        fans=600,
        stock=150,
        idle_share=0.1,
        unpaid_share=0.1,
        choose_s=(5, 40),
        pay_s=(5, 30),
        rate_per_min=300,
        cap=100,
        hold_s=60,
    ),
    # Up to 4 each, most take many.
    DropPlan(
        name="families",
        fans=800,
        stock=300,
        per_person_limit=4,
        take_weights=(1, 2, 3, 4),
        idle_share=0.05,
        unpaid_share=0.05,
        choose_s=(2, 20),
        pay_s=(2, 20),
        rate_per_min=600,
        cap=150,
        hold_s=60,
    ),
    # A slow rate (one fan every 10 s): where the wait ran an interval short.
    DropPlan(
        name="slow",
        fans=80,
        stock=30,
        take_weights=(1, 2),
        idle_share=0.1,
        choose_s=(1, 10),
        pay_s=(1, 10),
        rate_per_min=6,
        cap=20,
        hold_s=60,
    ),
    # The locust drop's shape: 2,000 fans for 400 tickets at 200 a second.
    DropPlan(name="locust", fans=2_000, stock=400, rate_per_min=12_000, cap=200, hold_s=30),
)
LATE_S = 5  # "any moment" to a fan let in this much later is the complaint


def bucket_of(chance: float) -> str:
    for least, words in WORDS:
        if chance >= least:
            return words
    return "unlikely" if chance >= ONE_IN_N_FLOOR else "very unlikely"


BUCKETS = (*(words for _, words in WORDS), "unlikely", "very unlikely")


def chance_figures(outcomes: list[DropOutcome]) -> dict[str, Any]:
    """Per word bucket: notes, the mean chance said, the share who got tickets."""
    said: dict[str, list[tuple[float, bool]]] = {b: [] for b in BUCKETS}
    for outcome in outcomes:
        # The chance is a buyer's: of holding tickets once let in. Fans who
        # would never buy are left out; a hold let run out unpaid counts as got.
        for fan in (f for f in outcome.fans if not f.idle):
            for note in fan.predictions:
                said[bucket_of(note.chance)].append((note.chance, fan.held))
    notes = [pair for pairs in said.values() for pair in pairs]
    buckets = {}
    for bucket, pairs in said.items():
        if pairs:
            buckets[bucket] = {
                "notes": len(pairs),
                "said": round(statistics.fmean(c for c, _ in pairs), 3),
                "got": round(sum(1 for _, got in pairs if got) / len(pairs), 3),
            }
    brier = statistics.fmean((c - got) ** 2 for c, got in notes) if notes else None
    return {"buckets": buckets, "notes": len(notes), "brier": _round(brier)}


def wait_figures(outcomes: list[DropOutcome]) -> dict[str, Any]:
    """Said against actual admission times, in seconds, for the fans let in.

    The page gives a wait in seconds while the rate holds the queue back; while
    the cap or the tickets left do, it says what the fan waits for instead:
    those notes are counted apart, with how long the fans then waited."""
    new: list[float] = []
    old: list[float] = []
    held_back: dict[str, list[float]] = {}
    late_new = late_old = moments_new = moments_old = 0
    for outcome in outcomes:
        for fan in outcome.fans:
            if not fan.admitted_at_ms:
                continue
            for note in fan.predictions:
                if note.admit_limit != "rate":
                    waited = (fan.admitted_at_ms - note.at_ms) / 1000
                    held_back.setdefault(note.admit_limit or "none", []).append(waited)
                    continue
                new.append((note.admit_at_ms - fan.admitted_at_ms) / 1000)
                old.append((note.old_admit_at_ms - fan.admitted_at_ms) / 1000)
                late = fan.admitted_at_ms - note.at_ms >= LATE_S * 1000
                if note.admit_at_ms <= note.at_ms:
                    moments_new += 1
                    late_new += late
                if note.old_admit_at_ms <= note.at_ms:
                    moments_old += 1
                    late_old += late
    return {
        "notes": len(new),
        "new": _errors(new) | {"any_moment": moments_new, "any_moment_but_late": late_new},
        "before": _errors(old) | {"any_moment": moments_old, "any_moment_but_late": late_old},
        "held_back": {
            limit: {"notes": len(w), "waited_median_s": _round(statistics.median(w))}
            for limit, w in sorted(held_back.items())
        },
    }


def _errors(errors: list[float]) -> dict[str, Any]:
    """Mean signed error (said minus actual: below 0 is too soon), median and p90 size."""
    if not errors:
        return {"mean_s": None, "median_abs_s": None, "p90_abs_s": None}
    sizes = sorted(abs(e) for e in errors)
    return {
        "mean_s": _round(statistics.fmean(errors)),
        "median_abs_s": _round(statistics.median(sizes)),
        "p90_abs_s": _round(sizes[int(0.9 * (len(sizes) - 1))]),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def drop_figures(outcome: DropOutcome) -> dict[str, Any]:
    admitted = len(outcome.admitted)
    return {
        "scenario": outcome.plan.name,
        "seed": outcome.plan.seed,
        "fans": outcome.plan.fans,
        "tickets": outcome.plan.stock,
        "sold": outcome.sold,
        "oversold": outcome.oversold,
        "admitted": admitted,
        "admitted_found_empty": outcome.admitted_found_empty,
        "admitted_found_empty_share": round(outcome.admitted_found_empty / max(1, admitted), 4),
        "seconds_simulated": outcome.seconds_simulated,
    }


def check(scripts: SyncScripts, plans: list[DropPlan]) -> dict[str, Any]:
    """Runs the drops; their figures, and the chances and waits held against them."""
    outcomes = [simulate(scripts, plan) for plan in plans]
    return {
        "drops": [drop_figures(o) for o in outcomes],
        "chance": chance_figures(outcomes),
        "wait": wait_figures(outcomes),
    }


def print_report(figures: dict[str, Any]) -> None:
    for drop in figures["drops"]:
        print(
            f"{drop['scenario']:>9} seed {drop['seed']}: {drop['fans']} fans, {drop['sold']}/"
            f"{drop['tickets']} sold, {drop['oversold']} oversold, {drop['admitted']} let in, "
            f"{drop['admitted_found_empty']} of them found nothing"
        )
    print(f"\nchance said vs got tickets ({figures['chance']['notes']} notes)")
    for bucket, row in figures["chance"]["buckets"].items():
        print(f"  {bucket:>14}: said {row['said']:.3f}  got {row['got']:.3f}  ({row['notes']})")
    print(f"  Brier score {figures['chance']['brier']}")
    wait = figures["wait"]
    print(f"\nwait said minus actual, fans let in ({wait['notes']} notes)")
    for name in ("new", "before"):
        row = wait[name]
        print(
            f"  {name:>6}: mean {row['mean_s']} s, median |error| {row['median_abs_s']} s, "
            f"p90 |error| {row['p90_abs_s']} s; 'any moment' {row['any_moment']} times, "
            f"{row['any_moment_but_late']} of them let in {LATE_S} s or more later"
        )
    for limit, row in wait["held_back"].items():
        print(
            f"  held back by {limit}: {row['notes']} notes said what the fan waits for; "
            f"they waited {row['waited_median_s']} s (median)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtests.odds_check")
    parser.add_argument("--quick", action="store_true", help="one seed per scenario")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--scenario", action="append", help="only these (by name)")
    args = parser.parse_args(argv)
    seeds = 1 if args.quick else args.seeds
    chosen = [p for p in SCENARIOS if not args.scenario or p.name in args.scenario]
    plans = [replace(p, seed=s) for p in chosen for s in range(seeds)]
    with start_redis_server() as server:
        client = redis.Redis.from_url(server.url)
        try:
            figures = check(SyncScripts(client), plans)
        finally:
            client.close()
    print_report(figures)
    print(json.dumps(figures), file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
