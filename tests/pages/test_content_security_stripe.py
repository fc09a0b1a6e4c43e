"""The fan page paying through Stripe.js under its Content-Security-Policy, in Chromium.

The stack pays through localstripe, whose Stripe.js stand-in is served from
another origin (``FAIRDROP_STRIPE_JS_URL``): the page policy names that origin
for scripts, calls and frames (web/edge.py), and the whole payment, 3-D
Secure step included, goes through with no violation.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.live_stack import LiveStack
from tests.pages import test_stripe_pay_page as stripe_page
from tests.pages.test_content_security import CspWatch
from tests.pages.test_stripe_pay_page import (
    WEBHOOK_WAIT_MS,
    FanPage,
    authenticate,
    card_needs_3ds,
    show_payment_form,
)
from tests.web import test_stripe_payments as stripe_stack
from web.edge import origin_of

pytestmark = pytest.mark.browser

# The Stripe page tests' stack (localstripe) and fan page.
live_stack = stripe_stack.live_stack
fan = stripe_page.fan


def test_stripe_js_from_its_own_origin_pays_with_no_policy_violation(
    live_stack: LiveStack, fan: FanPage
) -> None:
    watch = CspWatch(fan.page.context)
    stripe_origin = origin_of(live_stack.settings.stripe_js_url)
    assert stripe_origin != live_stack.base_url

    show_payment_form(live_stack, fan)
    assert fan.page.evaluate("() => typeof window.Stripe") == "function"
    card_needs_3ds(live_stack, fan.payment_intent())
    authenticate(fan.page, "Complete authentication")
    expect(fan.page.get_by_test_id("confirmation")).to_be_visible(timeout=WEBHOOK_WAIT_MS)
    expect(fan.page.locator(".ticket-code")).to_have_count(2)

    assert watch.violations == []
    # Stripe.js called its own origin from the page (connect-src), as the page itself.
    assert any(post.url.startswith(stripe_origin) for post in watch.posts)
    assert watch.post_origins() == {live_stack.base_url}
