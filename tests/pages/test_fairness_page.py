"""The fairness report page in a real browser: a drawn sale's chart and figures,
linked from the fan page and the organiser's; before the draw it says so."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.live_stack import LiveStack
from tests.pages.browser import DESKTOP, PHONE, screenshot_path
from tests.web.fans import Fan

pytestmark = pytest.mark.browser

FANS = 40


async def _join_over(stack: LiveStack, event_id: str, seconds: float) -> int:
    """FANS new fans join, a few at a time, spread over ``seconds``; how many got in the window."""
    fans = [Fan(stack, event_id) for _ in range(FANS)]
    statuses = []
    for start in range(0, FANS, 4):
        statuses += [
            e["status"] for e in await asyncio.gather(*(f.join() for f in fans[start : start + 4]))
        ]
        await asyncio.sleep(seconds / (FANS / 4))
    return statuses.count("buffered")


def _drawn_sale(stack: LiveStack) -> str:
    now = datetime.now(UTC)
    drop = now + timedelta(seconds=5)
    event_id: str = stack.create_event(
        opens_at=(now - timedelta(seconds=0.5)).isoformat(), drop_at=drop.isoformat()
    )["id"]
    # Playwright's sync API runs an event loop in this thread: the fans' own runs beside it.
    with ThreadPoolExecutor(1) as fans_thread:
        joined = fans_thread.submit(asyncio.run, _join_over(stack, event_id, 2.0)).result(60)
    assert joined == FANS, f"only {joined} of {FANS} fans joined inside the window"
    url = f"{stack.base_url}/api/events/{event_id}/fairness"
    deadline = time.monotonic() + 20
    while httpx.get(url, timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the sale was not drawn"
        time.sleep(0.2)
    return event_id


def test_the_report_page_draws_the_chart_and_the_figures(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = _drawn_sale(live_stack)

    # From the fan page's link; under the pages' Content-Security-Policy (no
    # inline style or script: the chart's look is all css/fairness.css).
    context = browser.new_context(viewport=DESKTOP)
    console: list[str] = []
    context.on("console", lambda message: console.append(message.text))
    page = context.new_page()
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    link = page.locator("#fairness-link")
    expect(link).to_have_attribute("href", f"/e/{event_id}/fairness", timeout=10_000)
    link.click()
    expect(page.locator("#report")).to_be_visible(timeout=10_000)

    chart = page.locator("#arrival-chart")
    expect(chart.locator("g.decile")).to_have_count(10)
    expect(chart.locator("rect.box")).to_have_count(10)
    expect(chart.locator("line.fair-middle")).to_have_count(1)
    box = chart.locator("rect.box").first.bounding_box()
    assert box is not None and box["width"] > 5 and box["height"] >= 1
    expect(page.locator("#drawn")).to_have_text(str(FANS))
    expect(page.locator("#spearman")).to_contain_text("p ")
    expect(page.locator("#ks")).to_contain_text("D = ")
    expect(page.locator("#verdict")).not_to_be_empty()
    expect(page.locator("#deciles tr")).to_have_count(10)
    expect(page.locator('#routes tr[data-route="anon"] td').nth(1)).to_have_text(str(FANS))
    expect(page.locator('#refusals tr[data-reason="duplicate"]')).to_have_count(1)
    expect(page.locator("#digest-check")).to_contain_text("hashes to this digest")
    expect(page.locator("#sold")).to_have_text("0 of 10")
    expect(page.locator("#sell-out")).to_have_text("not sold out")
    page.screenshot(path=screenshot_path("fairness-report"), full_page=True)
    assert [m for m in console if "Content Security Policy" in m] == []
    context.close()

    phone = browser.new_page(viewport=PHONE)
    phone.goto(f"{live_stack.base_url}/e/{event_id}/fairness")
    expect(phone.locator("#arrival-chart g.decile")).to_have_count(10, timeout=10_000)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the report scrolls sideways on a phone"
    phone.screenshot(path=screenshot_path("fairness-report-phone"), full_page=True)
    phone.close()

    # From the organiser's dashboard, once the draw is out.
    organiser = browser.new_page(viewport=DESKTOP)
    organiser.goto(f"{live_stack.base_url}/organiser")
    organiser.fill("#token", live_stack.settings.organiser_token)
    organiser.evaluate("(id) => { location.hash = id; }", event_id)
    expect(organiser.locator("#fairness-link")).to_be_visible(timeout=10_000)
    expect(organiser.locator("#fairness-link")).to_have_attribute("href", f"/e/{event_id}/fairness")
    organiser.close()


def test_before_the_draw_the_page_says_so_and_an_unknown_sale_is_an_error(
    browser: Browser, live_stack: LiveStack
) -> None:
    event = live_stack.create_event(drop_at=(datetime.now(UTC) + timedelta(minutes=5)).isoformat())
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/e/{event['id']}/fairness")
    expect(page.locator("#not-drawn")).to_contain_text("has not happened yet", timeout=10_000)
    expect(page.locator("#report")).to_be_hidden()
    answer = page.goto(f"{live_stack.base_url}/e/no-such-sale/fairness")
    assert answer is not None and answer.status == 404
    expect(page.get_by_test_id("not-found")).to_contain_text("There is no sale at this address")
    page.close()
