"""The fan page shows its ticket codes after a reload, from GET .../orders/mine.

The socket's ``order`` message is said once: before this page asked the
server, a reloaded page (or one whose socket was down then) showed "done"
with no ticket codes.
"""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.live_stack import LiveStack
from tests.pages.browser import PHONE
from tests.web.fans import ga, open_sale


def test_a_reloaded_page_shows_the_order_it_did_not_hear(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack)
    type_id = ga(event_id)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    page.fill(f'input[name="qty-{type_id}"]', "2")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    page.click("#pay-button")
    expect(page.locator(".ticket-code")).to_have_count(2, timeout=10_000)
    codes = sorted(page.locator(".ticket-code").all_inner_texts())
    order_id = page.locator("#order-id").inner_text()

    page.reload()
    expect(page.locator("#state")).to_have_attribute("data-state", "done", timeout=10_000)
    expect(page.locator("#confirmation")).to_be_visible(timeout=10_000)
    expect(page.locator(".ticket-code")).to_have_count(2)
    assert sorted(page.locator(".ticket-code").all_inner_texts()) == codes
    assert page.locator("#order-id").inner_text() == order_id
    context.close()
