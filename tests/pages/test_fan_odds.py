"""The queued fan's odds on the page, in a real browser: a progress bar from the
serving counter to the fan's number, the room against the tickets left and the
chance in words, updated live; and static/queue_odds.js working out what
queue_engine/odds.py does."""

from __future__ import annotations

import random
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from queue_engine.odds import admission_wait_s, chance_words, ticket_chance
from tests.live_stack import LiveStack
from tests.pages.browser import PHONE, screenshot_path
from tests.web.fans import ga, open_sale, ticket_type

_UNLIKELY = re.compile(r"^(very )?unlikely")

_ODDS_IN_THE_PAGE = """async (cases) => {
    const odds = await import("/static/queue_odds.js");
    return cases.map(([number, figures, wait]) => [
        odds.ticketChance(number, figures),
        odds.chanceWords(odds.ticketChance(number, figures)),
        odds.admissionWaitS(...wait),
    ]);
}"""


def _cases(count: int) -> list[tuple[int, dict[str, Any], list[Any]]]:
    rng = random.Random(13)
    cases = []
    for _ in range(count):
        buyers = rng.choice([0, rng.randint(1, 300)])
        serving = rng.randint(buyers, buyers + 200)
        choosing = rng.randint(0, 60)
        figures = {
            "serving": serving,
            "remaining_total": rng.randint(0, 400),
            "held": rng.randint(0, 80),
            "choosing": choosing,
            "choosing_long": rng.randint(0, choosing),
            "buyers": buyers,
            "per_buyer": round(rng.uniform(1, 4), 3) if buyers else 0,
            "per_buyer_sd": round(rng.uniform(0, 1.5), 3) if buyers else 0,
            "most_per_fan": rng.randint(1, 6),
            "hold_return_share": round(rng.random(), 3),
        }
        next_admit = rng.choice([None, 1_800_000_000_000 + rng.randint(-5_000, 60_000)])
        wait = [rng.randint(0, 500), next_admit, rng.choice([1, 5, 60, 6_000]), 1_800_000_000_000]
        cases.append((serving + rng.randint(1, 400), figures, wait))
    return cases


def test_the_page_works_out_the_odds_as_the_server_does(
    browser: Browser, live_stack: LiveStack
) -> None:
    page = browser.new_page()
    page.goto(f"{live_stack.base_url}/e/{open_sale(live_stack)}")
    cases = _cases(400)
    shown = page.evaluate(_ODDS_IN_THE_PAGE, cases)
    for (number, figures, wait), (chance, words, wait_s) in zip(cases, shown, strict=True):
        # Python's erfc against the page's own (good to 1.2e-7).
        assert chance == pytest.approx(ticket_chance(number, figures), abs=1e-6), figures
        assert words == chance_words(chance)
        assert wait_s == admission_wait_s(*wait), wait
    page.close()


def _odds(page: Page) -> dict[str, str]:
    values: dict[str, str] = page.evaluate(
        """() => ({
            bar: `${document.getElementById("queue-progress").value}/` +
                `${document.getElementById("queue-progress").max}`,
            room: document.getElementById("room-line").textContent,
            chance: document.getElementById("chance-words").textContent,
            basis: document.getElementById("odds-basis").textContent,
        })"""
    )
    return values


def test_a_queued_page_shows_its_progress_the_room_and_its_chance_live(
    browser: Browser, live_stack: LiveStack
) -> None:
    # One fan a minute: the first is let in at once, the page's fan waits fourth.
    event_id = open_sale(live_stack, rate_per_min=1, hold_seconds=600)
    for _ in range(3):
        joined = httpx.post(f"{live_stack.base_url}/api/events/{event_id}/join")
        assert joined.status_code == 200, joined.text
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "queued", timeout=10_000)
    expect(page.get_by_test_id("odds")).to_be_visible()
    # Numbers up to 1 let in of this fan's 4; 3 waiting and 1 shopping for 10 tickets.
    page.wait_for_function(
        "() => document.getElementById('queue-progress').value === 1", timeout=10_000
    )
    expect(page.get_by_test_id("room-line")).to_have_text("4 fans in the room for 10 tickets left")
    assert _odds(page)["bar"] == "1/4"
    expect(page.get_by_test_id("chance")).to_have_text("very likely")
    assert "nobody has bought yet (up to 2 each)" in _odds(page)["basis"]
    # Its turn is 2 admissions (a minute each) after the next one: counted in minutes.
    expect(page.get_by_test_id("wait")).to_contain_text("min")
    page.screenshot(path=screenshot_path("fan-odds-likely"), full_page=True)

    # Presale fans hold 8 of the 10 beside the queue (their joins queue them
    # behind this fan, and their holds count as shopping): two tickets left for
    # the three before this fan, one choosing and two waiting.
    _presale_holds(live_stack, event_id, 4)
    expect(page.get_by_test_id("room-line")).to_have_text(
        "12 fans in the room for 2 tickets left", timeout=5_000
    )
    words = page.get_by_test_id("chance")
    expect(words).to_have_text(_UNLIKELY, timeout=5_000)
    assert "8 in other fans' baskets" in _odds(page)["basis"]
    page.screenshot(path=screenshot_path("fan-odds-unlikely"), full_page=True)
    page.close()


def test_a_fan_whose_turn_it_is_hears_baskets_then_sold_out(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=2)])
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=10_000)
    # Both tickets go into a presale fan's basket: not sold out, nothing to buy now.
    [(hold_id, cookies)] = _presale_holds(live_stack, event_id, 1)
    expect(page.get_by_test_id("status")).to_have_text(
        "Everything left is in other fans' baskets", timeout=5_000
    )
    expect(page.locator("#state-note")).to_contain_text("keep this page open")
    page.screenshot(path=screenshot_path("fan-in-baskets"), full_page=True)
    # Paid: sold out, and this page is told so at once, though its turn has a
    # minute to run.
    with httpx.Client(base_url=live_stack.base_url, cookies=cookies) as buyer:
        paid = buyer.post(f"/api/events/{event_id}/holds/{hold_id}/pay")
    assert paid.status_code == 202, paid.text
    expect(page.locator("#state")).to_have_attribute("data-state", "sold_out", timeout=10_000)
    expect(page.get_by_test_id("buy-form")).to_be_hidden()
    page.close()


def _presale_holds(stack: LiveStack, event_id: str, fans: int) -> list[tuple[str, dict[str, str]]]:
    """``fans`` fans each hold two tickets (the limit) through one presale link:
    each hold's id and its fan's cookies."""
    made = httpx.post(
        f"{stack.base_url}/api/events/{event_id}/presale-links",
        json={"allowance": 2 * fans, "expires_at": "2099-01-01T00:00:00Z"},
        headers=stack.organiser_headers,
    )
    assert made.status_code == 201, made.text
    holds = []
    for _ in range(fans):
        with httpx.Client(base_url=stack.base_url) as fan:
            assert fan.post(f"/api/events/{event_id}/join").status_code == 200
            held = fan.post(
                f"/api/events/{event_id}/presale/{made.json()['id']}/holds",
                json={"items": [{"type": ga(event_id), "quantity": 2}]},
            )
            assert held.status_code == 200, held.text
            holds.append((str(held.json()["hold"]["id"]), dict(fan.cookies)))
    return holds
