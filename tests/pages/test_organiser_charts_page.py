"""The organiser dashboard's live charts and countdown in a real browser
(static/organiser_charts.js, organiser_countdown.js, organiser_live.js): drawn
with real points from the pushed samples, the countdown ticking, and no
per-second HTTP polling, on a laptop and on a 390 px phone."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Browser, Page, ViewportSize, expect

from tests.live_stack import LiveStack
from tests.pages.browser import DESKTOP, PHONE, screenshot_path
from tests.web.fans import Fan, open_sale, ticket_type

CHARTS = ("arrivals", "fans", "tickets", "refusals", "rate")
# The first two lines' colours (static/organiser_charts.js COLOURS): a line
# at zero may lie under the next one.
LINE_RGBS = [(0x2F, 0x7F, 0xD8), (0xE8, 0x59, 0x0C)]
WATCH_S = 5.0


def _line_pixels(page: Page, chart: str) -> int:
    """How many pixels of the chart's canvas are the first or second line's colour."""
    count: int = page.evaluate(
        """([chart, rgbs]) => {
          const canvas = document.querySelector(`[data-chart="${chart}"] canvas`);
          const context = canvas.getContext("2d");
          const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
          let found = 0;
          for (let i = 0; i < pixels.length; i += 4) {
            const near = (rgb) => Math.abs(pixels[i] - rgb[0]) + Math.abs(pixels[i + 1] - rgb[1])
              + Math.abs(pixels[i + 2] - rgb[2]) < 40;
            if (pixels[i + 3] > 200 && rgbs.some(near)) found += 1;
          }
          return found;
        }""",
        [chart, [list(rgb) for rgb in LINE_RGBS]],
    )
    return count


def _watch(
    browser: Browser, stack: LiveStack, event_id: str, viewport: ViewportSize, dark: bool = False
) -> Page:
    page = browser.new_page(viewport=viewport, color_scheme="dark" if dark else "light")
    page.goto(f"{stack.base_url}/organiser")
    page.fill("#token", stack.settings.organiser_token)
    page.evaluate("(id) => { location.hash = id; }", event_id)
    return page


def test_the_dashboard_draws_pushed_samples_and_counts_down_without_polling(
    browser: Browser, live_stack: LiveStack
) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(
        name="Charts night",
        opens_at=(now + timedelta(seconds=6)).isoformat(),
        drop_at=(now + timedelta(seconds=60)).isoformat(),
    )
    event_id = event["id"]
    requests: list[str] = []
    sockets: list[str] = []
    page = browser.new_page(viewport=DESKTOP)
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(f"{live_stack.base_url}/organiser")
    page.fill("#token", live_stack.settings.organiser_token)
    page.evaluate("(id) => { location.hash = id; }", event_id)

    # Before the window: the countdown ticks in the page.
    window = page.get_by_test_id("countdown-window")
    expect(window).to_contain_text("opens in", timeout=10_000)
    drop = page.get_by_test_id("countdown-drop")
    before = drop.inner_text()
    expect(drop).not_to_have_text(before, timeout=3_000)
    assert drop.inner_text().startswith("in "), drop.inner_text()

    # The window opens and two fans join: the pushed samples carry them.
    expect(window).to_contain_text("opened at", timeout=15_000)
    for _ in range(2):
        joined = httpx.post(f"{live_stack.base_url}/api/events/{event_id}/join")
        assert joined.status_code == 200, joined.text
    expect(page.get_by_test_id("chart-now-fans")).to_contain_text("waiting: 2", timeout=10_000)
    expect(page.locator('[data-stat="buffered"]')).to_have_text("2")
    page.screenshot(path=screenshot_path("organiser-charts"), full_page=True)
    for chart in CHARTS:
        points = page.get_by_test_id(f"chart-{chart}")
        expect(points).not_to_have_attribute("data-points", "0")
        assert int(points.get_attribute("data-points") or 0) >= 3
        assert _line_pixels(page, chart) > 20, f"no line drawn in the {chart} chart"
    expect(page.get_by_test_id("sell-out")).to_have_text("Selling starts after the draw")

    # Once live, nothing is asked over HTTP each second: one socket brings it all.
    requests.clear()
    shown = int(page.get_by_test_id("chart-fans").get_attribute("data-points") or 0)
    time.sleep(WATCH_S)
    api_calls = [url for url in requests if "/api/" in url]
    assert not [url for url in api_calls if url.endswith("/stats")], api_calls
    # The list of sales is read every 10 s; nothing else.
    assert len(api_calls) <= 1, api_calls
    assert len(sockets) == 1 and sockets[0].endswith(f"/ws/organiser/{event_id}"), sockets
    assert "token" not in sockets[0]
    later = int(page.get_by_test_id("chart-fans").get_attribute("data-points") or 0)
    assert later >= shown + 3, (shown, later)
    page.close()


def test_on_a_dark_phone_the_charts_fit_and_a_late_dashboard_gets_the_history(
    browser: Browser, live_stack: LiveStack
) -> None:
    now = datetime.now(UTC)
    event_id = live_stack.create_event(
        opens_at=(now - timedelta(seconds=1)).isoformat(),
        drop_at=(now + timedelta(seconds=30)).isoformat(),
    )["id"]
    time.sleep(4)  # the clock samples the sale meanwhile
    page = _watch(browser, live_stack, event_id, PHONE, dark=True)
    fans = page.get_by_test_id("chart-fans")
    expect(fans).not_to_have_attribute("data-points", "0", timeout=10_000)
    # Opened late: the seconds before it came as history, in one message.
    assert int(fans.get_attribute("data-points") or 0) >= 3
    expect(page.get_by_test_id("countdown-drop")).to_contain_text("in ")
    widths = page.evaluate(
        """() => ({
          page: document.documentElement.scrollWidth,
          charts: [...document.querySelectorAll("[data-chart] canvas")].map(
            (c) => c.getBoundingClientRect().right),
        })"""
    )
    assert widths["page"] <= PHONE["width"], widths
    assert widths["charts"] and max(widths["charts"]) <= PHONE["width"], widths
    expect(page.locator("#stats-title")).to_have_text("test drop")
    page.get_by_test_id("charts").scroll_into_view_if_needed()
    page.screenshot(path=screenshot_path("organiser-charts-phone"), full_page=True)
    page.close()


async def _buy_all(stack: LiveStack, event_id: str) -> None:
    fan = Fan(stack, event_id)
    try:
        await fan.buy(2)
    finally:
        await fan.close()


def test_a_sale_that_sells_out_shows_how_long_it_took(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=2, per_person_limit=2)])
    page = _watch(browser, live_stack, event_id, DESKTOP)
    expect(page.get_by_test_id("sell-out")).to_contain_text("2 left", timeout=10_000)
    with ThreadPoolExecutor(1) as fan_thread:
        fan_thread.submit(asyncio.run, _buy_all(live_stack, event_id)).result(timeout=60)
    sold_out = page.get_by_test_id("sell-out")
    expect(sold_out).to_contain_text("Sold out", timeout=10_000)
    expect(sold_out).to_contain_text("after the drop")
    expect(page.get_by_test_id("chart-now-tickets")).to_contain_text("GA sold: 2")
    expect(page.get_by_test_id("chart-now-fans")).to_contain_text("admitted so far: 1")
    page.screenshot(path=screenshot_path("organiser-charts-sold-out"), full_page=True)
    page.close()
