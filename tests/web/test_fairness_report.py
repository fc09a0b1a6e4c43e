"""The fairness report of real drops (web/fairness_report.py) on a live stack.

Fans by every access route join a sale before, during and after its window,
some are refused for each reason a join can be (a second join, too early, an
address past its share, too many joins, sold out; on other sales a missing,
forged or replayed proof of work, a sale that asks to sign in, a fan not on
the list), two buy the stock out, and the report counts each of them where
it happened, shows the draw ignored arrival time, and says how the sale went.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fairdrop.errors import ErrorCode
from fairdrop.identity import OIDC, Identity, email_identity, member_identity
from fairdrop.tokens import Signer
from launch.fan_client import is_message
from tests.live_stack import LiveStack, live_stack_with
from tests.web.fans import (
    WAIT_S,
    Crowd,
    Fan,
    expect_error,
    ga,
    is_admitted,
    open_sale,
    ticket_type,
)

pytestmark = pytest.mark.e2e

# Small enough to be reached on purpose: three new anonymous fans per address
# at once, and eight joins a minute per fan.
LIMITS = {"limit_entrants_per_address": "3/minute", "limit_join_per_fan": "8/minute"}
WINDOW_S = 6.0
EMAIL_FANS = 150


live_stack = live_stack_with(**LIMITS)


def _cookie(stack: LiveStack, identity: Identity) -> str:
    """A session cookie for a signed-in identity, as its sign-in would set it."""
    signer = Signer(stack.settings.secret_key)
    return signer.sign_session(signer.new_session(identity, 3600))


def _report(stack: LiveStack, event_id: str) -> httpx.Response:
    return httpx.get(f"{stack.base_url}/api/events/{event_id}/fairness", timeout=WAIT_S)


Report = dict[str, Any]


async def _report_when(
    stack: LiveStack, event_id: str, done: Callable[[Report], bool], timeout: float = 20
) -> Report:
    """The report once ``done(report)`` holds (the draw and the figures take a moment)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = _report(stack, event_id)
        if response.status_code == 200 and done(response.json()):
            report: Report = response.json()
            return report
        assert asyncio.get_running_loop().time() < deadline, response.text
        await asyncio.sleep(0.2)


async def _sleep_until(when: datetime) -> None:
    await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))


async def _buy_two(fan: Fan) -> None:
    """Waits on the fan's socket for its turn, then holds and pays for two tickets."""
    socket = await fan.open_socket()
    status = await socket.next(is_admitted, timeout=30)
    items = [{"type": ga(fan.event_id), "quantity": 2}]
    asked = await fan.ask_for(status["admission"]["token"], items)
    assert asked.status_code == 202, asked.text
    answer = await fan.answer_to(asked.json()["request_id"])
    assert answer["ok"], answer
    paid = await fan.pay(answer["hold"]["id"])
    assert paid.status_code == 202, paid.text
    order = await socket.next(is_message("order"))
    assert order["ok"] is True, order


async def test_a_drop_reports_routes_refusals_a_fair_draw_and_the_sale(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    stack = live_stack
    opens = datetime.now(UTC) + timedelta(seconds=2.5)
    drop = opens + timedelta(seconds=WINDOW_S)
    event_id = stack.create_event(
        opens_at=opens.isoformat(),
        drop_at=drop.isoformat(),
        cap=1_000,
        pow_difficulty=0,
        ticket_types=[ticket_type(stock=4, per_person_limit=2)],
    )["id"]

    def signed_in(identity: Identity) -> Fan:
        return crowd.fan(event_id, _cookie(stack, identity))

    emails = [signed_in(email_identity(f"fan{i}@example.com")) for i in range(EMAIL_FANS + 3)]
    email_fans, late_fans = emails[:EMAIL_FANS], emails[EMAIL_FANS:]
    logins = [signed_in(Identity(OIDC, f"sub-{i}", "https://login.example.com")) for i in range(5)]
    members = [signed_in(member_identity(event_id, f"M-{i}")) for i in range(4)]
    anon = [crowd.fan(event_id) for _ in range(4)]

    # Too early: refused, not placed (not_open).
    early = await email_fans[0].post_join_proving()
    assert early.status_code == 200 and early.json()["status"] == "not_open", early.text
    await _sleep_until(opens + timedelta(seconds=0.1))

    # In the window: three new anonymous fans from this address, and a fourth
    # past its share; then every signed-in fan, in small groups spread over it.
    entries: dict[str, Fan] = {}
    for fan in anon[:3]:
        entries[(await fan.join())["entrant_id"]] = fan
    expect_error(await anon[3].post_join_proving(), ErrorCode.ADDRESS_BUSY)
    everyone = email_fans + logins + members
    groups = [everyone[i : i + 16] for i in range(0, len(everyone), 16)]
    for k, group in enumerate(groups):
        await _sleep_until(opens + timedelta(seconds=(WINDOW_S - 2) * k / len(groups)))
        for fan, entry in zip(group, await asyncio.gather(*(f.join() for f in group)), strict=True):
            assert entry["status"] == "buffered", entry
            entries[entry["entrant_id"]] = fan
    # Joins again: three fans once more (3 duplicates), one fan until its limit
    # (8 joins a minute: 7 more pass as duplicates, 2 are refused).
    for fan in email_fans[1:4]:
        await fan.join()
    eager = email_fans[4]
    answers = [await eager.post_join_proving() for _ in range(9)]
    assert [a.status_code for a in answers] == [200] * 7 + [429] * 2
    expect_error(answers[-1], ErrorCode.TOO_MANY_REQUESTS)

    # After the drop: two fans join late; the two at the front buy the stock out.
    await _sleep_until(drop)
    await _report_when(stack, event_id, lambda r: True)
    for fan in late_fans[:2]:
        assert (await fan.join())["status"] == "queued"
    listed = httpx.get(f"{stack.base_url}/api/events/{event_id}/draw/entrants", timeout=WAIT_S)
    front = [entries[line.split()[1]] for line in listed.text.splitlines()[:2]]
    await asyncio.gather(*(_buy_two(fan) for fan in front))
    await _report_when(stack, event_id, lambda r: bool(r["sale"]["sold_out"]))
    sold_out = await late_fans[2].post_join_proving()
    assert sold_out.json()["status"] == "sold_out", sold_out.text
    await asyncio.sleep(2.1)  # past the report's reuse (REPORT_SECONDS)
    report = _report(stack, event_id).json()

    drawn = EMAIL_FANS + 5 + 4 + 3
    assert report["entrants"]["drawn"] == drawn and report["entrants"]["late"] == 2
    assert report["entrants"]["by_route"] == {
        "anon": {"drawn": 3, "late": 0},
        "email": {"drawn": EMAIL_FANS, "late": 2},
        "oidc": {"drawn": 5, "late": 0},
        "member": {"drawn": 4, "late": 0},
    }
    refused = {r["reason"]: r["count"] for r in report["refusals"]}
    assert refused == {
        "duplicate": 3 + 7,
        "not_open": 1,
        "sign_in_required": 0,
        "not_on_list": 0,
        "address_busy": 1,
        "rate_limited": 2,
        "pow_missing": 0,
        "pow_invalid": 0,
        "pow_replayed": 0,
        "sold_out": 1,
    }

    # Arrival time made no difference: Spearman near 0 (4 standard deviations).
    arrivals = report["arrivals"]
    assert arrivals["recorded"] == drawn
    assert abs(arrivals["spearman"]["coefficient"]) < 4 / math.sqrt(drawn - 1)
    assert 0 <= arrivals["ks"]["p_value"] <= 1
    assert arrivals["ks"]["early"] == arrivals["ks"]["late"] == drawn // 2
    deciles = arrivals["deciles"]
    assert len(deciles) == 10 and sum(box["count"] for box in deciles) == drawn
    window_ms = (opens.timestamp() * 1000, drop.timestamp() * 1000)
    assert all(window_ms[0] - 1_000 <= b["arrived_from_ms"] <= window_ms[1] for b in deciles)
    assert deciles[0]["arrived_from_ms"] < deciles[-1]["arrived_from_ms"]
    assert all(1 <= b["low"] <= b["median"] <= b["high"] <= drawn for b in deciles)

    draw = report["draw"]
    assert draw["list_matches_digest"] is True and draw["seed"]
    event = httpx.get(f"{stack.base_url}/api/events/{event_id}", timeout=WAIT_S).json()
    assert draw["seed_hash"] == event["seed_hash"]

    sale = report["sale"]
    assert (sale["stock"], sale["sold"], sale["fans_with_tickets"], sale["paid_orders"]) == (
        4,
        4,
        2,
        2,
    )
    assert sale["sold_out"] is True and sale["admitted"] >= 2
    assert 0 < sale["seconds_to_sell_out"] < 60


async def test_refusals_by_the_proof_of_work_and_the_access_policy_are_counted(
    live_stack: LiveStack,
) -> None:
    stack = live_stack
    proving = open_sale(stack, pow_difficulty=1_000)
    first, second = Fan(stack, proving), Fan(stack, proving)
    expect_error(await first.post_join(), ErrorCode.PROOF_OF_WORK_REQUIRED)
    expect_error(await first.post_join("bm90IGEgc29sdXRpb24="), ErrorCode.INVALID_PROOF_OF_WORK)
    solution = await first.solution()
    assert solution is not None
    assert (await first.post_join(solution)).status_code == 200
    expect_error(await second.post_join(solution), ErrorCode.INVALID_PROOF_OF_WORK)

    listed = open_sale(stack, access="list")
    expect_error(await Fan(stack, listed).post_join(), ErrorCode.SIGN_IN_REQUIRED)
    stranger = Fan(stack, listed, _cookie(stack, email_identity("stranger@example.com")))
    expect_error(await stranger.post_join(), ErrorCode.NOT_ON_LIST)

    proved = await _report_when(stack, proving, lambda r: True)
    counts = {r["reason"]: r["count"] for r in proved["refusals"]}
    assert (counts["pow_missing"], counts["pow_invalid"], counts["pow_replayed"]) == (1, 1, 1)
    assert sum(counts.values()) == 3
    # Joined after the window: late, and no arrival to chart.
    assert proved["entrants"]["by_route"]["anon"] == {"drawn": 0, "late": 1}
    assert proved["arrivals"]["recorded"] == 0 and proved["arrivals"]["ks"] is None

    refused = await _report_when(stack, listed, lambda r: True)
    counts = {r["reason"]: r["count"] for r in refused["refusals"]}
    assert (counts["sign_in_required"], counts["not_on_list"], sum(counts.values())) == (1, 1, 2)


def test_before_the_draw_there_is_no_report_and_an_unknown_sale_has_none(
    live_stack: LiveStack,
) -> None:
    event = live_stack.create_event(drop_at=(datetime.now(UTC) + timedelta(minutes=5)).isoformat())
    error = expect_error(_report(live_stack, event["id"]), ErrorCode.DRAW_NOT_DONE)
    assert "has not happened yet" in error["message"]
    expect_error(_report(live_stack, "no-such-sale"), ErrorCode.UNKNOWN_EVENT)
    page = httpx.get(f"{live_stack.base_url}/e/{event['id']}/fairness", timeout=WAIT_S)
    assert page.status_code == 200 and "Fairness report" in page.text
