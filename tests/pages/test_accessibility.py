"""Every page checked with axe-core in Chromium: no serious or critical violation.

axe-core (Deque's engine, bundled by axe-playwright-python) runs in the page
as a browser extension would; each page is checked in the states a fan, an
organiser or door staff see it in, on a phone and a laptop. Minor and moderate
findings are printed for a person to read, not failed on.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from tests.live_stack import LiveStack
from tests.pages.browser import DESKTOP, PHONE
from tests.web.fans import Fan, ga, open_sale

FAILING = frozenset({"serious", "critical"})
_AXE = Axe()


def _serious(page: Page, where: str) -> list[str]:
    """The page's serious and critical violations, one line each (others printed)."""
    results = _AXE.run(page)
    found = []
    for violation in results.response["violations"]:
        nodes = [node["target"] for node in violation["nodes"]][:3]
        line = f"{where}: {violation['impact']} {violation['id']}: {violation['help']} {nodes}"
        if violation["impact"] in FAILING:
            found.append(line)
        else:
            print(line)
    return found


async def _buy_one(stack: LiveStack, event_id: str) -> dict[str, Any]:
    fan = Fan(stack, event_id)
    try:
        return await fan.buy(1)
    finally:
        await fan.close()


@pytest.fixture(scope="module")
def bought(live_stack: LiveStack) -> tuple[str, str]:
    """A sale with one paid order: its id and a ticket code."""
    event_id = open_sale(live_stack)
    with ThreadPoolExecutor(1) as fan_thread:
        order = fan_thread.submit(asyncio.run, _buy_one(live_stack, event_id)).result(60)
    return event_id, str(order["tickets"][0]["code"])


def test_the_fan_pages_have_no_serious_violations(
    browser: Browser, live_stack: LiveStack, bought: tuple[str, str]
) -> None:
    event_id, code = bought
    found: list[str] = []
    page = browser.new_page(viewport=PHONE)
    waiting = live_stack.create_event()["id"]
    page.goto(f"{live_stack.base_url}/e/{waiting}")
    expect(page.locator("#state")).to_have_attribute("data-state", "waiting_room", timeout=10_000)
    found += _serious(page, "fan page, waiting room")

    sale = open_sale(live_stack)
    page.goto(f"{live_stack.base_url}/e/{sale}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    found += _serious(page, "fan page, admitted")
    page.fill(f'input[name="qty-{ga(sale)}"]', "1")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    found += _serious(page, "fan page, holding")
    page.click("#pay-button")
    expect(page.locator("#confirmation")).to_be_visible(timeout=10_000)
    found += _serious(page, "fan page, bought")

    for path, where, ready in (
        (f"/tickets/{code}", "ticket page", "#ticket"),
        (f"/e/{event_id}/fairness", "fairness page", "main"),
        ("/e/no-such-sale", "not-found page", "main"),
    ):
        page.goto(f"{live_stack.base_url}{path}")
        expect(page.locator(ready)).to_be_visible(timeout=10_000)
        found += _serious(page, where)
    page.close()
    assert found == [], "\n".join(found)


def test_the_organiser_and_door_pages_have_no_serious_violations(
    browser: Browser, live_stack: LiveStack, bought: tuple[str, str]
) -> None:
    event_id, _ = bought
    found: list[str] = []
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_stack.base_url}/organiser")
    found += _serious(page, "organiser page, signed out")
    page.fill("#token", live_stack.settings.organiser_token)
    page.evaluate("(id) => { location.hash = id; }", event_id)
    expect(page.get_by_test_id("steer-card")).to_be_visible(timeout=10_000)
    # The live charts drawn (uPlot's canvases and legends are checked too).
    charted = page.get_by_test_id("chart-fans")
    expect(charted).not_to_have_attribute("data-points", "0", timeout=10_000)
    page.click("#orders-button")
    expect(page.locator("#orders tr[data-order]")).to_have_count(1, timeout=10_000)
    found += _serious(page, "organiser page, a sale watched")

    page.goto(f"{live_stack.base_url}/door")
    found += _serious(page, "door page")
    page.close()
    assert found == [], "\n".join(found)
