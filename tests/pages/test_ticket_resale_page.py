"""The ticket page's "Can't go?" card on a 390 px phone (static/ticket_resale.js).

A fan buys the last ticket on the fan page, opens it and puts it back in two
taps; a stranger with the same link sees no card; a fan who comes in the
resale round the seat opens (buffer/rounds.py: nobody is left in line) buys
it; the seller's page then says the ticket was resold and is void.
"""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.live_stack import LiveStack, live_stack_with
from tests.pages.browser import PHONE, screenshot_path
from tests.web.fans import ga, open_sale, ticket_type

# A short resale round: the seat put back is drawn among whoever comes in it.
live_stack = live_stack_with(resale_round_seconds=2.0)


def _fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"


def buy_one(page: Page, stack: LiveStack, event_id: str) -> str:
    """On the fan page: wait to be let in, buy one ticket; its code."""
    page.goto(f"{stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    page.fill(f'input[name="qty-{ga(event_id)}"]', "1")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    page.click("#pay-button")
    expect(page.locator(".ticket-code")).to_have_count(1, timeout=10_000)
    return page.locator(".ticket-code").inner_text()


def test_a_fan_puts_a_ticket_back_and_sees_it_resold(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=1)])
    seller = browser.new_context(viewport=PHONE)
    page = seller.new_page()
    code = buy_one(page, live_stack, event_id)

    page.goto(f"{live_stack.base_url}/tickets/{code}")
    expect(page.locator("#resale")).to_be_visible(timeout=10_000)
    expect(page.locator("#check-in")).to_have_text("Valid · not checked in yet")
    # One tap asks; only the second puts it back.
    page.get_by_role("button", name="Put back for resale").click()
    expect(page.locator("#put-back-confirm")).to_be_visible()
    page.get_by_role("button", name="Keep it").click()
    expect(page.locator("#put-back-confirm")).to_be_hidden()
    page.get_by_role("button", name="Put back for resale").click()
    page.get_by_role("button", name="Yes, put it back").click()
    expect(page.locator("#resale-status")).to_have_attribute("data-status", "listed")
    expect(page.locator("#resale-status")).to_contain_text("you get €40.00 back")
    expect(page.locator("#check-in")).to_have_text("Put back for resale: not valid at the door.")
    _fits_the_phone(page)
    page.screenshot(path=screenshot_path("ticket-put-back-phone"), full_page=True)

    # Whoever else has the link sees the ticket, not the card.
    stranger = browser.new_context(viewport=PHONE)
    other = stranger.new_page()
    other.goto(f"{live_stack.base_url}/tickets/{code}")
    expect(other.locator("#ticket")).to_be_visible(timeout=10_000)
    expect(other.locator("#resale")).to_be_hidden()
    stranger.close()

    # Nobody is left in line: a fan who comes in the resale round gets the seat and pays.
    buyer = browser.new_context(viewport=PHONE)
    assert buy_one(buyer.new_page(), live_stack, event_id) != code
    buyer.close()

    page.reload()
    expect(page.locator("#check-in")).to_have_text(
        "Not valid: resold to another fan, who has a new code.", timeout=10_000
    )
    expect(page.locator("#resale-status")).to_have_attribute("data-status", "resold")
    expect(page.locator("#resale-status")).to_contain_text("€40.00 is on its way back to you")
    _fits_the_phone(page)
    page.screenshot(path=screenshot_path("ticket-resold-phone"), full_page=True)
    seller.close()
