"""Steering a running sale from the organiser dashboard, in a real browser, and what a
waiting fan's page then says (static/organiser_steer.js, web/sale_steering.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Browser, expect

from tests.live_stack import LiveStack
from tests.pages.browser import DESKTOP, PHONE, screenshot_path
from tests.web.fans import ga, open_sale, stats, ticket_type


def test_organiser_steers_a_sale_and_the_log_and_the_fan_page_show_it(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack, rate_per_min=60, cap=10, ticket_types=[ticket_type(stock=5)])
    fan = browser.new_page(viewport=PHONE)
    fan.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(fan.locator("#state")).not_to_have_attribute("data-state", "", timeout=10_000)

    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_stack.base_url}/organiser")
    page.fill("#token", live_stack.settings.organiser_token)
    page.evaluate("(id) => { location.hash = id; }", event_id)
    expect(page.get_by_test_id("steer-rate")).to_have_value("60", timeout=10_000)
    page.fill("#steer-by", "Mia at the desk")
    page.fill("#steer-rate", "300")
    page.fill("#steer-cap", "20")
    page.fill("#steer-pause-message", "Back in five minutes: new card reader.")
    page.fill(f'#steer-stock [data-type="{ga(event_id)}"]', "7")
    page.click("#steer-apply")

    done = page.get_by_test_id("steer-done")
    expect(done).to_contain_text("fans let in a minute from 60 to 300", timeout=10_000)
    expect(done).to_contain_text(f"stock of {ga(event_id)} from 5 to 12")
    log = page.locator("#steer-log tr")
    expect(log).to_have_count(4)
    expect(log.first).to_contain_text("Mia at the desk")
    # The form shows the sale as it now is, the stock field empty again.
    expect(page.get_by_test_id("steer-cap")).to_have_value("20")
    expect(page.locator(f'#steer-stock [data-type="{ga(event_id)}"]')).to_have_value("")
    figures = stats(live_stack, event_id)
    assert figures["stock_by_type"] == {ga(event_id): 12}, figures
    page.screenshot(path=screenshot_path("organiser-steered"), full_page=True)

    paused = httpx.post(
        f"{live_stack.base_url}/api/events/{event_id}/pause", headers=live_stack.organiser_headers
    )
    assert paused.status_code == 200, paused.text
    expect(fan.locator("#paused-banner")).to_be_visible(timeout=10_000)
    expect(fan.get_by_test_id("pause-message")).to_have_text(
        "Back in five minutes: new card reader."
    )
    fan.screenshot(path=screenshot_path("fan-paused-with-message"), full_page=True)

    # Nothing changed: the page says so and asks the server nothing.
    page.click("#steer-apply")
    expect(page.locator("#error")).to_contain_text("Nothing to change", timeout=10_000)
    expect(log).to_have_count(4)
    page.close()
    fan.close()


def test_before_the_window_the_organiser_renames_moves_and_deletes_a_sale(
    browser: Browser, live_stack: LiveStack
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    event = live_stack.create_event(
        name="Night one",
        opens_at=later.isoformat(),
        drop_at=(later + timedelta(minutes=10)).isoformat(),
    )
    event_id = event["id"]
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_stack.base_url}/organiser")
    page.fill("#token", live_stack.settings.organiser_token)
    page.evaluate("(id) => { location.hash = id; }", event_id)
    expect(page.get_by_test_id("steer-name")).to_have_value("Night one", timeout=10_000)
    page.fill("#steer-name", "Night one (moved)")
    # A day later, in the browser's own time zone (the input has none).
    page.evaluate(
        """() => {
          for (const id of ["steer-opens", "steer-drop"]) {
            const input = document.getElementById(id);
            const moved = new Date(new Date(input.value).getTime() + 86400000);
            input.value = new Date(moved - moved.getTimezoneOffset() * 60000)
              .toISOString().slice(0, 19);
          }
        }"""
    )
    page.click("#steer-apply")
    expect(page.get_by_test_id("steer-done")).to_contain_text("“Night one (moved)”", timeout=10_000)
    expect(page.get_by_test_id("steer-done")).to_contain_text("drop from")
    stored = httpx.get(f"{live_stack.base_url}/api/events", headers=live_stack.organiser_headers)
    [moved] = [e for e in stored.json()["events"] if e["id"] == event_id]
    opens = datetime.fromisoformat(moved["opens_at"].replace("Z", "+00:00"))
    assert abs((opens - later).total_seconds() - 86400) < 2, moved

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#steer-delete")
    expect(page.locator(f'[data-event-id="{event_id}"]')).to_have_count(0, timeout=10_000)
    expect(page.get_by_test_id("steer-card")).to_be_hidden()
    fan_page = httpx.get(f"{live_stack.base_url}/api/events/{event_id}")
    assert fan_page.status_code == 404, fan_page.text
    page.close()
