"""The ticket page and the door page in a real browser, on a phone-sized screen.

The camera scanner cannot run headless; typing a code takes the same path
(one check-in call) once the code is read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.live_stack import LiveStack
from tests.pages.browser import PHONE, screenshot_path
from tests.web.test_tickets import new_door_token

_QR_DRAWN = (
    "() => { const img = document.getElementById('qr'); return img.complete && img.naturalWidth; }"
)


def _buy_on_the_fan_page(page: Page, stack: LiveStack) -> str:
    """A fan buys two tickets on the queue page of a sale whose window has closed; its id."""
    now = datetime.now(UTC)
    event = stack.create_event(
        name="Door night",
        opens_at=(now - timedelta(seconds=2)).isoformat(),
        drop_at=(now - timedelta(seconds=1)).isoformat(),
    )
    page.goto(f"{stack.base_url}/e/{event['id']}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    page.fill(f'input[name="qty-{event["ticket_types"][0]["id"]}"]', "2")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    page.click("#pay-button")
    expect(page.locator("a.ticket-code")).to_have_count(2, timeout=10_000)
    event_id: str = event["id"]
    return event_id


def _check_in(page: Page, code: str) -> None:
    page.fill("#code", code)
    page.click("#check-button")


def test_a_fan_opens_a_ticket_and_the_door_checks_it_in_once(
    browser: Browser, live_stack: LiveStack
) -> None:
    fan = browser.new_context(viewport=PHONE)
    fan_page = fan.new_page()
    event_id = _buy_on_the_fan_page(fan_page, live_stack)
    first = fan_page.locator("a.ticket-code").first
    code = first.inner_text()

    # The confirmation links to the ticket page: code, QR, not checked in yet.
    first.click()
    fan_page.wait_for_url(f"**/tickets/{code}")
    expect(fan_page.locator("#code")).to_have_text(code, timeout=10_000)
    expect(fan_page.locator("#event-name")).to_have_text("Door night")
    expect(fan_page.locator("#ticket-type")).to_have_text("GA")
    expect(fan_page.locator("#check-in")).to_have_text("Valid · not checked in yet")
    expect(fan_page.locator("#qr")).to_be_visible()
    fan_page.wait_for_function(_QR_DRAWN, timeout=10_000)
    assert fan_page.locator("#qr").get_attribute("src") == f"/api/tickets/{code}/qr.svg"
    fan_page.screenshot(path=screenshot_path("ticket-page"), full_page=True)
    dark = browser.new_context(viewport=PHONE, color_scheme="dark")
    dark_page = dark.new_page()
    dark_page.goto(f"{live_stack.base_url}/tickets/{code}")
    dark_page.wait_for_function(_QR_DRAWN, timeout=10_000)
    dark_page.screenshot(path=screenshot_path("ticket-page-dark"), full_page=True)
    dark.close()

    door = browser.new_context(viewport=PHONE)
    door_page = door.new_page()
    door_page.goto(f"{live_stack.base_url}/door")
    door_page.fill("#door", "main gate")
    # A token the organiser made for this event's north door: the page says so,
    # and the door is the token's.
    door_page.fill("#token", new_door_token(live_stack, event_id, "north")["token"])
    scope = door_page.locator("#token-scope")
    expect(scope).to_have_text("Door night · door “north”", timeout=10_000)
    expect(door_page.locator("#door")).to_have_value("north")
    expect(door_page.locator("#door")).not_to_be_editable()
    # Headless Chromium has no BarcodeDetector here: typing only, no scan button.
    expect(door_page.locator("#scan-button")).to_be_hidden()

    _check_in(door_page, code)
    expect(door_page.locator("#result")).to_have_attribute("data-result", "valid", timeout=10_000)
    expect(door_page.locator("#verdict")).to_have_text("Valid: let them in")
    expect(door_page.locator("#result-detail")).to_have_text("Door night · GA")
    expect(door_page.locator("#code")).to_have_value("")  # ready for the next one
    door_page.screenshot(path=screenshot_path("door-valid"), full_page=True)

    _check_in(door_page, code)
    result = door_page.locator("#result")
    expect(result).to_have_attribute("data-result", "already_used", timeout=10_000)
    expect(door_page.locator("#verdict")).to_have_text("Already used")
    expect(door_page.locator("#result-detail")).to_contain_text("door “north”")
    door_page.screenshot(path=screenshot_path("door-already-used"), full_page=True)

    # A ticket page's address works as well as the bare code.
    _check_in(door_page, f"{live_stack.base_url}/tickets/{code}")
    expect(door_page.locator("#verdict")).to_have_text("Already used", timeout=10_000)

    _check_in(door_page, "A" * 22)
    expect(result).to_have_attribute("data-result", "unknown", timeout=10_000)
    expect(door_page.locator("#verdict")).to_have_text("Unknown ticket")
    door_page.screenshot(path=screenshot_path("door-unknown"), full_page=True)

    # The fan's ticket page, left open, now says it was used, when and where.
    expect(fan_page.locator("#check-in")).to_contain_text("Used · checked in", timeout=15_000)
    expect(fan_page.locator("#check-in")).to_contain_text("(door: north)")
    fan_page.screenshot(path=screenshot_path("ticket-checked-in"), full_page=True)

    # Refunded after it was used: the door says both.
    ticket = httpx.get(f"{live_stack.base_url}/api/tickets/{code}", timeout=10).json()
    cancelled = httpx.post(
        f"{live_stack.base_url}/api/events/{ticket['event_id']}/orders/{ticket['order_id']}/cancel",
        headers=live_stack.organiser_headers,
        timeout=10,
    )
    assert cancelled.status_code == 200, cancelled.text
    _check_in(door_page, code)
    expect(door_page.locator("#result-detail")).to_contain_text(
        "This order is refunded.", timeout=10_000
    )
    expect(door_page.locator("#verdict")).to_have_text("Already used")
    door_page.screenshot(path=screenshot_path("door-used-then-refunded"), full_page=True)

    # Another event's door token: the ticket is not checked in there, and the door says why.
    other = live_stack.create_event(name="Other night")
    door_page.fill("#token", new_door_token(live_stack, other["id"])["token"])
    expect(scope).to_have_text("Other night · any door", timeout=10_000)
    expect(door_page.locator("#door")).to_have_value("main gate")  # typed on this phone
    _check_in(door_page, code)
    expect(result).to_have_attribute("data-result", "another_event", timeout=10_000)
    expect(door_page.locator("#verdict")).to_have_text("Wrong event: not checked in")
    expect(door_page.locator("#result-detail")).to_contain_text("Door night")
    door_page.screenshot(path=screenshot_path("door-another-event"), full_page=True)
    fan.close()
    door.close()


def test_a_wrong_door_token_is_refused_on_the_page(browser: Browser, live_stack: LiveStack) -> None:
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/door")
    page.fill("#token", "not-the-token")
    expect(page.locator("#token-scope")).to_have_text("door token is not valid", timeout=10_000)
    _check_in(page, "A" * 22)
    expect(page.locator("#error")).to_contain_text("door token is not valid", timeout=10_000)
    expect(page.locator("#result")).to_be_hidden()
    page.close()


def test_the_ticket_page_says_when_a_code_is_unknown(
    browser: Browser, live_stack: LiveStack
) -> None:
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/tickets/{'A' * 22}")
    expect(page.locator("#error")).to_have_text(
        "There is no ticket with this code.", timeout=10_000
    )
    expect(page.locator("#ticket")).to_be_hidden()
    page.screenshot(path=screenshot_path("ticket-unknown"), full_page=True)
    page.close()
