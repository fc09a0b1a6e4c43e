"""The fan's live queue page in a real browser, on a phone-sized screen."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.live_stack import DEFAULT_TICKET_TYPE, LiveStack
from tests.pages.browser import PHONE, screenshot_path
from tests.redis_restarts import wait_for_saved_draw
from tests.web.fans import ga, open_sale


def _state(page: Page) -> str:
    return page.locator("#state").get_attribute("data-state") or ""


def _pay_on_page(page: Page) -> str:
    """Pays for the page's hold; the order id its confirmation shows (two tickets)."""
    page.click("#pay-button")
    expect(page.locator("#confirmation")).to_be_visible(timeout=10_000)
    expect(page.locator(".ticket-code")).to_have_count(2)
    expect(page.locator("#order-id")).not_to_be_empty()
    return page.locator("#order-id").inner_text()


def test_fan_waits_is_admitted_buys_and_keeps_the_place(
    browser: Browser, live_stack: LiveStack
) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(
        drop_at=(now + timedelta(seconds=4)).isoformat(), cap=5, rate_per_min=600
    )
    type_id = event["ticket_types"][0]["id"]
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_stack.base_url}/e/{event['id']}")

    expect(page.locator("#state")).to_have_attribute("data-state", "waiting_room", timeout=10_000)
    page.screenshot(path=screenshot_path("fan-waiting-room"), full_page=True)

    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    number = page.locator("#queue-number").inner_text()
    expect(page.locator("#remaining-total")).to_have_text("10")
    page.screenshot(path=screenshot_path("fan-admitted"), full_page=True)

    page.fill(f'input[name="qty-{type_id}"]', "2")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    expect(page.locator("#hold-countdown")).not_to_be_empty()
    page.screenshot(path=screenshot_path("fan-holding"), full_page=True)

    _pay_on_page(page)
    page.screenshot(path=screenshot_path("fan-confirmation"), full_page=True)

    stats = httpx.get(
        f"{live_stack.base_url}/api/events/{event['id']}/stats",
        headers=live_stack.organiser_headers,
    ).json()
    assert stats["sold"] == 2

    # A reload is the same fan in the same place.
    page.reload()
    expect(page.locator("#state")).to_have_attribute("data-state", "done", timeout=10_000)
    assert page.locator("#queue-number").inner_text() == number

    # Another fan's page sees the stock go down live.
    other = browser.new_context(viewport=PHONE)
    other_page = other.new_page()
    other_page.goto(f"{live_stack.base_url}/e/{event['id']}")
    expect(other_page.locator("#remaining-total")).to_have_text("8", timeout=10_000)
    other.close()
    context.close()


def test_paused_sale_shows_the_maintenance_banner(browser: Browser, live_stack: LiveStack) -> None:
    event = live_stack.create_event()
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/e/{event['id']}")
    expect(page.locator("#state")).not_to_have_attribute("data-state", "", timeout=10_000)
    expect(page.locator("#paused-banner")).to_be_hidden()
    response = httpx.post(
        f"{live_stack.base_url}/api/events/{event['id']}/pause",
        headers=live_stack.organiser_headers,
    )
    assert response.status_code == 200
    expect(page.locator("#paused-banner")).to_be_visible(timeout=10_000)
    page.screenshot(path=screenshot_path("fan-paused"), full_page=True)
    page.close()


def test_unknown_event_page_says_so(browser: Browser, live_stack: LiveStack) -> None:
    page = browser.new_page(viewport=PHONE)
    for path in ("/e/no-such-event", "/e/no-such-event/fairness"):
        answer = page.goto(f"{live_stack.base_url}{path}")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "There is no sale at this address"
        )
    page.screenshot(path=screenshot_path("fan-no-such-sale"), full_page=True)
    page.close()


_PLACE_SCRIPT = """() => [
    document.getElementById("state").dataset.state,
    ...["queue-number", "serving", "ahead", "wait"].map(
        (id) => document.getElementById(id).textContent),
]"""


def test_queued_page_counts_the_fans_ahead_then_is_let_in(
    browser: Browser, live_stack: LiveStack
) -> None:
    now = datetime.now(UTC)
    # The window has closed and one fan a second is let in: the counter moves
    # past five fans who joined first while this page waits behind them.
    # One ticket each: the ten tickets serve the five (who never buy) and this page.
    event = live_stack.create_event(
        opens_at=(now - timedelta(seconds=2)).isoformat(),
        drop_at=(now - timedelta(seconds=1)).isoformat(),
        rate_per_min=60,
        ticket_types=[{**DEFAULT_TICKET_TYPE, "per_person_limit": 1}],
    )
    for _ in range(5):
        joined = httpx.post(f"{live_stack.base_url}/api/events/{event['id']}/join")
        assert joined.status_code == 200, joined.text
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/e/{event['id']}")
    expect(page.locator("#state")).to_have_attribute("data-state", "queued", timeout=10_000)
    seen: set[int] = set()
    for _ in range(100):  # 20 s at most
        state, number, serving, ahead, wait = page.evaluate(_PLACE_SCRIPT)
        if state != "queued":
            break
        if int(serving) not in seen:
            # The page's own arithmetic on the shared progress (60 fans a minute):
            # its turn comes ahead + 1 admissions (seconds) after the last one,
            # counted down between messages.
            expected = int(number) - int(serving) - 1
            waits = {f"about {expected + 1} s", f"about {expected} s" if expected else "any moment"}
            assert int(ahead) == expected and wait in waits, (number, serving, wait)
            seen.add(int(serving))
        page.wait_for_timeout(200)
    assert len(seen) >= 2, seen  # the counter moved while the page watched
    # And the page hears its own admission, with its token.
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=10_000)
    expect(page.locator("#buy-form")).to_be_visible()
    page.close()


def test_the_fan_page_says_when_the_organiser_refunds_the_order(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    page.fill(f'input[name="qty-{ga(event_id)}"]', "2")
    page.click("#buy-button")
    order_id = _pay_on_page(page)
    expect(page.locator("#order-refunded")).to_be_hidden()

    cancelled = httpx.post(
        f"{live_stack.base_url}/api/events/{event_id}/orders/{order_id}/cancel",
        headers=live_stack.organiser_headers,
        timeout=10,
    )

    assert cancelled.status_code == 200, cancelled.text
    notice = page.locator("#order-refunded")
    expect(notice).to_be_visible(timeout=10_000)
    expect(notice).to_contain_text(cancelled.json()["refund_ref"])
    expect(page.locator("#status")).to_have_text("Your order was refunded")
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the page is {wide} px wide on a {PHONE['width']} px phone"
    page.screenshot(path=screenshot_path("fan-order-refunded"), full_page=True)
    context.close()


def test_a_frozen_server_is_shown_as_a_lost_connection_until_it_answers_again(
    browser: Browser, live_stack: LiveStack
) -> None:
    """The header used to say "Live" while the web process under the socket was frozen."""
    event = live_stack.create_event()
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/e/{event['id']}")
    expect(page.get_by_test_id("connection")).to_have_text("Live", timeout=10_000)
    expect(page.get_by_test_id("connection-lost")).to_be_hidden()
    web = live_stack.stack.processes["web"]
    os.kill(web.pid, signal.SIGSTOP)
    try:
        # Silent for 5 s: pinged; for 9 s: given up on, said, and tried again.
        expect(page.get_by_test_id("connection-lost")).to_be_visible(timeout=15_000)
        expect(page.get_by_test_id("connection")).not_to_have_text("Live")
        page.screenshot(path=screenshot_path("fan-connection-lost"), full_page=True)
    finally:
        os.kill(web.pid, signal.SIGCONT)
    expect(page.get_by_test_id("connection-lost")).to_be_hidden(timeout=20_000)
    expect(page.get_by_test_id("connection")).to_have_text("Live")
    page.close()


def test_a_fan_who_lets_the_tickets_go_is_told_so_not_that_time_ran_out(
    browser: Browser, live_stack: LiveStack
) -> None:
    event_id = open_sale(live_stack)
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    page.fill(f'input[name="qty-{ga(event_id)}"]', "1")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    page.click("#release-button")
    expect(page.locator("#state")).to_have_attribute("data-state", "turn_over", timeout=10_000)
    expect(page.locator("#state-note")).to_have_text(
        "You let your tickets go: they went back on sale for the fans after you."
    )
    page.screenshot(path=screenshot_path("fan-let-go"), full_page=True)
    # Tickets are left: the fan may queue again, at the back, and is let in again.
    before = page.locator("#queue-number").inner_text()
    page.get_by_test_id("queue-again").click()
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    assert int(page.locator("#queue-number").inner_text()) > int(before)
    expect(page.get_by_test_id("connection-lost")).to_be_hidden()
    expect(page.get_by_test_id("queue-again")).to_be_hidden()
    page.close()


def test_a_fan_who_comes_after_the_draw_is_told_so(browser: Browser, live_stack: LiveStack) -> None:
    drop_at = datetime.now(UTC) + timedelta(seconds=2)
    # Paused: nobody is let in, so the late fan stays queued behind the drawn one.
    event_id = live_stack.create_event(drop_at=drop_at.isoformat())["id"]
    joined = httpx.post(f"{live_stack.base_url}/api/events/{event_id}/join", timeout=10)
    assert joined.status_code == 200, joined.text
    paused = httpx.post(
        f"{live_stack.base_url}/api/events/{event_id}/pause", headers=live_stack.organiser_headers
    )
    assert paused.status_code == 200, paused.text
    wait_for_saved_draw(live_stack, event_id)
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "queued", timeout=10_000)
    expect(page.locator("#queue-number")).to_have_text("2")
    expect(page.locator("#state-note")).to_contain_text(
        "You came after the draw: 1 fan arrived while the waiting room was open and was drawn",
        timeout=10_000,
    )
    page.screenshot(path=screenshot_path("fan-after-the-draw"), full_page=True)
    page.close()
