"""``fairdrop demo --bots N`` end to end: scalper scripts mint identities beside
the fans, from two loopback addresses, against the real server and its proof
of work. They must be refused for skipping and for replaying the proof, get
no more places per address than its share allows, and every ticket sold must
be a fan's or a bot's."""

from __future__ import annotations

import pytest

from buffer.arrivals import NO_SHARE, AddressShare
from fairdrop.errors import STATUS_FOR
from fairdrop.settings import Settings
from launch.bot_farm import allowed_entries
from launch.demo import DemoPlan, run_demo

pytestmark = pytest.mark.e2e


def test_bots_are_held_to_their_addresses_share(demo_settings: Settings) -> None:
    # Two places at once, then one every 2 s (the default is one per 6 s): within
    # the bots' few seconds of minting an address can have several places, so
    # the bound is tested past its burst.
    settings = demo_settings.with_overrides(limit_entrants_per_address="2 per 4 seconds")
    plan = DemoPlan(fans=40, tickets=10, bots=4, bot_addresses=2, seed=11, deadline_seconds=40)
    summary = run_demo(settings, plan)

    assert summary["bots"] == 4 and summary["bot_addresses"] == 2, summary
    refusals = summary["bot_refusals"]
    # Each script tried once without a proof and once with a used one.
    assert refusals["proof_of_work_required"] >= 4, summary
    assert refusals["invalid_proof_of_work"] >= 4, summary
    assert summary["bot_proof_bypassed"] == 0, summary
    # Past its share an address is told to wait (a 429 and Retry-After), not placed.
    waits = {code.value for code, status in STATUS_FOR.items() if status == 429}
    assert sum(n for code, n in refusals.items() if code in waits) >= 1, summary
    entries = summary["bot_entries_by_address"]
    allowed = summary["bot_entries_allowed_by_address"]
    assert set(entries) == {"127.0.0.2", "127.0.0.3"}, summary
    assert all(1 <= entries[a] <= allowed[a] for a in entries), summary
    assert summary["bot_entries_within_limit"] is True, summary
    assert summary["bot_sessions"] >= summary["bot_entries"], summary
    assert summary["bot_cpu_s_per_entry"] > 0, summary
    # The fans solved their proofs before they arrived, and all got through.
    assert summary["fan_errors"] == 0 and summary["fans_unfinished"] == 0, summary
    assert summary["bot_errors"] == 0 and summary["bots_unfinished"] == 0, summary
    assert summary["sold"] == 10 and summary["oversold"] == 0, summary
    assert summary["bot_tickets"] + summary["fan_tickets"] == summary["sold"], summary
    assert summary["tickets_accounted"] is True, summary
    assert summary["admitted_in_order"] is True and summary["draw_verified"] is True, summary
    assert summary["places_within_identities"] is True, summary
    assert summary["tickets_in_db"] == summary["sold"], summary


def test_the_bound_is_the_share_over_the_time_an_address_joined() -> None:
    # One at once, then one every 6 s from the window's opening at t=100.
    share = AddressShare(interval_ms=6000, burst=1)
    assert allowed_entries(share, 100.0, []) == 1
    assert allowed_entries(share, 100.0, [100.2]) == 1
    assert allowed_entries(share, 100.0, [100.2, 106.1]) == 2
    # Two places 1 s apart: more than the share allows, which the demo reports.
    assert allowed_entries(share, 100.0, [100.2, 101.2]) == 1
    assert allowed_entries(AddressShare(2000, 2), 100.0, [100.1, 100.1, 102.3]) == 3
    assert allowed_entries(NO_SHARE, 100.0, [100.1, 100.2]) is None
