"""The organiser dashboard in a real browser: create a sale, watch it, pause it, refund an order."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from playwright.sync_api import Browser, Route, expect

from tests.live_stack import LiveStack
from tests.pages.browser import DESKTOP, PHONE, screenshot_path
from tests.web.fans import Fan, open_sale, ticket_type


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
    expect(page.locator('[data-stat="state"]')).to_have_text("Waiting room open", timeout=10_000)
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


def test_organiser_cancels_an_order_and_its_tickets_go_back_on_sale(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=2)])
    # Playwright's sync API runs an event loop in this thread: the fan's own runs beside it.
    with ThreadPoolExecutor(1) as fan_thread:
        order = fan_thread.submit(asyncio.run, _buy_two(live_stack, event_id)).result(timeout=60)
    stats_url = f"{live_stack.base_url}/api/events/{event_id}/stats"
    assert httpx.get(stats_url, headers=live_stack.organiser_headers).json()["sold"] == 2

    page = browser.new_page(viewport=DESKTOP)
    # The orders list answers later than the token's debounced reload (400 ms
    # after typing), which restarts the stats polling: the list must render all
    # the same, before and after the cancel.
    page.route("**/api/events/*/orders?*", _answer_late)
    page.goto(f"{live_stack.base_url}/organiser")
    page.fill("#token", live_stack.settings.organiser_token)
    page.evaluate("(id) => { location.hash = id; }", event_id)
    page.click("#orders-button")
    row = page.locator(f'tr[data-order="{order["order_id"]}"]')
    expect(row).to_contain_text("paid", timeout=10_000)
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Cancel").click()
    expect(row).to_contain_text("refunded", timeout=10_000)
    expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
    page.screenshot(path=screenshot_path("organiser-order-refunded"), full_page=True)
    after = httpx.get(stats_url, headers=live_stack.organiser_headers).json()
    assert (after["sold"], after["remaining_total"]) == (0, 2)
    page.close()


def _answer_late(route: Route) -> None:
    time.sleep(0.6)
    route.continue_()


async def _buy_two(live_stack: LiveStack, event_id: str) -> dict[str, Any]:
    fan = Fan(live_stack, event_id)
    try:
        return await fan.buy(2)
    finally:
        await fan.close()


def test_organiser_finds_orders_pages_through_them_and_counts_each_door(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=10)])
    with ThreadPoolExecutor(1) as fan_thread:
        bought = [
            fan_thread.submit(asyncio.run, _buy_two(live_stack, event_id)).result(timeout=60)
            for _ in range(3)
        ]
    codes = [t["code"] for order in bought for t in order["tickets"]]
    for code, door in ((codes[0], "North gate"), (codes[1], "North gate"), (codes[2], "South")):
        checked = httpx.post(
            f"{live_stack.base_url}/api/door/check-in",
            json={"code": code, "door": door},
            headers=live_stack.organiser_headers,
        )
        assert checked.json()["result"] == "valid", checked.text

    # An organiser on a phone: full ids and codes wrap instead of widening the page.
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/organiser")
    page.fill("#token", live_stack.settings.organiser_token)
    page.evaluate("(id) => { location.hash = id; }", event_id)
    expect(page.get_by_test_id("check-ins")).to_have_text(
        "3 of 6 paid tickets let in", timeout=10_000
    )
    expect(page.locator('#check-ins-doors li[data-door="North gate"]')).to_have_text(
        "North gate: 2"
    )
    expect(page.locator('#check-ins-doors li[data-door="South"]')).to_have_text("South: 1")

    # Two orders a page: newest first, then the oldest on the next page.
    page.evaluate("() => { document.getElementById('orders').dataset.pageSize = '2'; }")
    page.click("#orders-button")
    rows = page.locator("#orders tr[data-order]")
    expect(rows).to_have_count(2, timeout=10_000)
    expect(page.get_by_test_id("orders-summary")).to_have_text("1\u20132 of 3 orders")
    newest = bought[-1]["order_id"]
    expect(rows.first).to_have_attribute("data-order", newest)
    expect(rows.first.locator("code").first).to_have_text(newest)  # the whole id
    page.get_by_test_id("orders-next").click()
    expect(rows).to_have_count(1, timeout=10_000)
    expect(rows.first).to_have_attribute("data-order", bought[0]["order_id"])
    expect(rows.first).to_contain_text("in at North gate")
    expect(page.get_by_test_id("orders-next")).to_be_hidden()
    page.get_by_test_id("orders-previous").click()
    expect(rows).to_have_count(2, timeout=10_000)

    # Found by a ticket code read off a phone at the door.
    page.fill("#orders-q", codes[2])
    page.press("#orders-q", "Enter")
    expect(rows).to_have_count(1, timeout=10_000)
    expect(rows.first).to_have_attribute("data-order", bought[1]["order_id"])
    expect(rows.first).to_contain_text("in at South")
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the page is {wide} px wide on a {PHONE['width']} px phone"
    page.screenshot(path=screenshot_path("organiser-orders-phone"), full_page=True)

    page.fill("#orders-q", "nobody@nowhere")
    page.click("#orders-button")
    expect(page.locator("#orders")).to_contain_text("No order matches", timeout=10_000)
    page.close()
