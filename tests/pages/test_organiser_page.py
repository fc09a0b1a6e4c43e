"""The organiser dashboard in a real browser: create a sale, watch it, pause it."""

from __future__ import annotations

import httpx
from playwright.sync_api import Browser, expect

from tests.live_stack import LiveStack
from tests.pages.browser import DESKTOP, screenshot_path


def test_organiser_creates_watches_and_pauses_a_sale(
    browser: Browser, live_stack: LiveStack
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_stack.base_url}/organiser")
    page.fill("#token", live_stack.settings.organiser_token)
    page.click("#create-button")
    expect(page.locator("#fan-link")).to_be_visible(timeout=10_000)
    fan_url = page.locator("#fan-link").get_attribute("href") or ""
    event_id = fan_url.rstrip("/").split("/")[-1]
    assert event_id

    # A fan joins: the dashboard counts them live.
    joined = httpx.post(f"{live_stack.base_url}/api/events/{event_id}/join")
    assert joined.status_code == 200
    expect(page.locator('[data-stat="buffered"]')).to_have_text("1", timeout=10_000)
    expect(page.locator('[data-stat="state"]')).to_have_text("buffering", timeout=10_000)
    page.screenshot(path=screenshot_path("organiser-live"), full_page=True)

    page.click("#pause-button")
    stats_url = f"{live_stack.base_url}/api/events/{event_id}/stats"
    expect(page.locator("#resume-button")).to_be_enabled(timeout=10_000)
    assert httpx.get(stats_url, headers=live_stack.organiser_headers).json()["paused"] is True
    page.click("#resume-button")
    page.wait_for_timeout(500)
    assert httpx.get(stats_url, headers=live_stack.organiser_headers).json()["paused"] is False
    page.close()


def test_wrong_token_shows_the_error(browser: Browser, live_stack: LiveStack) -> None:
    page = browser.new_page()
    page.goto(f"{live_stack.base_url}/organiser")
    page.fill("#token", "not-the-token")
    page.click("#create-button")
    expect(page.locator("#error")).to_contain_text("not valid", timeout=10_000)
    page.close()
