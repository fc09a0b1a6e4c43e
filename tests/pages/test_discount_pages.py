"""Discount codes in a real browser: the organiser's card makes one and counts its
uses; a fan types it on the buy form and sees the server's discounted price."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.live_stack import LiveStack
from tests.pages.browser import DESKTOP, PHONE, screenshot_path
from tests.web.fans import ga, open_sale, stats, ticket_type


def test_an_organiser_makes_a_code_and_a_fan_buys_with_it(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack, ticket_types=[ticket_type(price_cents=2_000, currency="EUR")])

    organiser = browser.new_page(viewport=DESKTOP)
    organiser.goto(f"{live_stack.base_url}/organiser")
    organiser.fill("#token", live_stack.settings.organiser_token)
    organiser.evaluate("(id) => { location.hash = id; }", event_id)
    card = organiser.locator("#discount-card")
    expect(card).to_be_visible(timeout=15_000)
    organiser.fill("#discount-code-new", "Summer15")
    organiser.select_option("#discount-kind", "percent")
    organiser.fill("#discount-amount", "15")
    organiser.fill("#discount-uses", "3")
    organiser.click("#discount-create")
    row = organiser.locator('tr[data-code="summer15"]')
    expect(row).to_contain_text("15%", timeout=10_000)

    fan = browser.new_context(viewport=PHONE)
    page = fan.new_page()
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    # A code that does not exist: refused at once, nothing held.
    page.fill(f'input[name="qty-{ga(event_id)}"]', "2")
    page.fill("#discount-code", "WINTER")
    page.click("#buy-button")
    expect(page.locator("#error")).to_contain_text("winter is not a discount code", timeout=10_000)
    expect(page.locator("#hold")).to_be_hidden()
    assert stats(live_stack, event_id)["held"] == 0

    page.fill("#discount-code", "SUMMER15")  # any case
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    # 2 x 20.00 = 40.00; 15% off is 6.00: the page shows the server's figures.
    expect(page.locator("#hold-discount")).to_contain_text("6.00")
    expect(page.locator("#hold-total")).to_contain_text("34.00")
    page.screenshot(path=screenshot_path("fan-discount-hold"), full_page=True)
    page.click("#pay-button")
    expect(page.locator("#confirmation")).to_be_visible(timeout=15_000)
    expect(page.locator("#order-total")).to_contain_text("34.00")

    # The organiser's card counts the paid use (it reads the uses every few seconds).
    expect(row.locator("td").nth(4)).to_have_text("1", timeout=15_000)
    organiser.screenshot(path=screenshot_path("organiser-discounts"), full_page=True)
    fan.close()
    organiser.close()
