"""The fan page paying through Stripe.js, in a real Chromium, against localstripe.

The page loads the Stripe.js the server names (localstripe's stand-in here),
mounts the payment form and confirms with ``confirmCardPayment``; the order
then comes on the socket once localstripe's webhook reached the stack. The
stand-in's ``confirmCardPayment`` is only the 3-D Secure step, so the test
plays the card network's part first: it attaches a 3-D Secure test card to
the intent and confirms it through the ``stripe`` library, which leaves the
intent in ``requires_action`` for the page's modal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from tests.live_stack import LiveStack
from tests.pages.browser import PHONE
from tests.web import test_stripe_payments as stripe_stack
from tests.web.fans import ga, open_sale, stats
from tests.web.test_stripe_payments import (
    WEBHOOK_WAIT_S,
    intent_id,
    pay_with_card,
    stripe_client,
)

pytestmark = pytest.mark.browser

# The stack takes payments through localstripe (the web tests' fixture, for this module).
live_stack = stripe_stack.live_stack

THREE_D_SECURE_CARD = "4000002500003155"
WEBHOOK_WAIT_MS = int(WEBHOOK_WAIT_S * 1000)


@dataclass
class FanPage:
    """A fan's page and every message its socket received."""

    page: Page
    messages: list[dict[str, Any]] = field(default_factory=list)

    def listen(self, socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: self.messages.append(json.loads(frame)))

    def payment_intent(self) -> str:
        """The intent of the pending ``payment`` message the server sent."""
        pending = [m for m in self.messages if m.get("t") == "payment" and m.get("pending")]
        assert pending, self.messages
        return intent_id(pending[-1])


@pytest.fixture
def fan(browser: Browser) -> Iterator[FanPage]:
    context = browser.new_context(viewport=PHONE)
    fan = FanPage(context.new_page())
    fan.page.on("websocket", fan.listen)
    yield fan
    context.close()


def show_payment_form(stack: LiveStack, fan: FanPage, email: str = "") -> str:
    """Queues, holds two tickets and asks to pay: the page shows Stripe's form."""
    event_id = open_sale(stack)
    page = fan.page
    page.goto(f"{stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    page.fill(f'input[name="qty-{ga(event_id)}"]', "2")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    if email:
        page.fill("#pay-email", email)
    page.click("#pay-button")
    form = page.get_by_test_id("payment-element")
    expect(form).to_be_visible(timeout=10_000)
    # localstripe's stand-in draws its card fields into the container.
    expect(form.locator("input")).not_to_have_count(0)
    expect(page.get_by_test_id("stripe-confirm")).to_be_enabled()
    expect(page.get_by_test_id("pay-button")).to_be_hidden()
    return event_id


def card_needs_3ds(stack: LiveStack, intent: str) -> None:
    """What Stripe.js and the card network do before the bank asks the fan."""
    card: Any = {"number": THREE_D_SECURE_CARD, "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    method = stripe_client(stack).v1.payment_methods.create(params={"type": "card", "card": card})
    pay_with_card(stack, intent, method.id)
    assert stripe_client(stack).v1.payment_intents.retrieve(intent).status == "requires_action"


def authenticate(page: Page, answer: str, screenshot: Path | None = None) -> None:
    """Pay now, then answer the bank's 3-D Secure question (localstripe's modal)."""
    page.get_by_test_id("stripe-confirm").click()
    button = page.get_by_role("button", name=answer)
    expect(button).to_be_visible()
    expect(page.get_by_test_id("stripe-confirm")).to_be_disabled()  # one confirm at a time
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    button.click()


def test_a_fan_pays_with_stripe_js_and_gets_the_tickets(
    live_stack: LiveStack, fan: FanPage, tmp_path: Path
) -> None:
    page = fan.page
    event_id = show_payment_form(live_stack, fan, email="fan@example.com")
    page.screenshot(path=str(tmp_path / "stripe-payment-form.png"), full_page=True)
    intent = fan.payment_intent()
    card_needs_3ds(live_stack, intent)

    authenticate(page, "Complete authentication", tmp_path / "stripe-3ds.png")

    # The page waits for the webhook's order (about a second); it does not confirm it itself.
    waiting = "Payment received, waiting for your tickets…"
    expect(page.get_by_test_id("status")).to_have_text(waiting)
    expect(page.get_by_test_id("stripe-status")).to_have_text(waiting)
    page.screenshot(path=str(tmp_path / "stripe-waiting.png"), full_page=True)
    expect(page.get_by_test_id("confirmation")).to_be_visible(timeout=WEBHOOK_WAIT_MS)
    expect(page.locator(".ticket-code")).to_have_count(2)
    expect(page.get_by_test_id("order-id")).not_to_be_empty()
    expect(page.get_by_test_id("hold")).to_be_hidden()
    expect(page.get_by_test_id("error")).to_be_hidden()
    expect(page.get_by_test_id("status")).to_have_text("You have your tickets", timeout=10_000)
    page.screenshot(path=str(tmp_path / "stripe-confirmation.png"), full_page=True)
    assert stripe_client(live_stack).v1.payment_intents.retrieve(intent).status == "succeeded"
    figures = stats(live_stack, event_id)
    assert (figures["sold"], figures["held"]) == (2, 0), figures
    # The socket told the page once that a payment began, and gave it the order.
    [order] = [m for m in fan.messages if m.get("t") == "order"]
    assert order["ok"] is True and len(order["tickets"]) == 2, order


def test_failed_authentication_shows_why_and_the_fan_can_try_again(
    live_stack: LiveStack, fan: FanPage, tmp_path: Path
) -> None:
    page = fan.page
    event_id = show_payment_form(live_stack, fan)
    intent = fan.payment_intent()
    card_needs_3ds(live_stack, intent)

    authenticate(page, "Fail authentication")

    # localstripe puts the intent back to requires_payment_method, without a webhook.
    expect(page.get_by_test_id("error")).to_contain_text("failed authentication")
    expect(page.get_by_test_id("stripe-confirm")).to_be_enabled()
    expect(page.get_by_test_id("payment-element")).to_be_visible()
    expect(page.get_by_test_id("hold")).to_be_visible()
    page.screenshot(path=str(tmp_path / "stripe-failed.png"), full_page=True)
    intent_now = stripe_client(live_stack).v1.payment_intents.retrieve(intent)
    assert intent_now.status == "requires_payment_method"
    assert stats(live_stack, event_id)["held"] == 2

    # The same hold and intent, a second go.
    card_needs_3ds(live_stack, intent)
    authenticate(page, "Complete authentication")
    expect(page.get_by_test_id("confirmation")).to_be_visible(timeout=WEBHOOK_WAIT_MS)
    expect(page.locator(".ticket-code")).to_have_count(2)
    expect(page.get_by_test_id("error")).to_be_hidden()


def test_a_cancelled_payment_lets_the_hold_go_and_says_so(
    live_stack: LiveStack, fan: FanPage
) -> None:
    page = fan.page
    event_id = show_payment_form(live_stack, fan)

    stripe_client(live_stack).v1.payment_intents.cancel(fan.payment_intent())

    expect(page.get_by_test_id("error")).to_contain_text("cancelled", timeout=WEBHOOK_WAIT_MS)
    # A status sent after the release may still name the hold: it must not come back.
    page.wait_for_timeout(1_500)
    expect(page.get_by_test_id("hold")).to_be_hidden()
    expect(page.get_by_test_id("stripe-pay")).to_be_hidden()
    expect(page.get_by_test_id("payment-element")).to_be_empty()
    assert stats(live_stack, event_id)["held"] == 0
