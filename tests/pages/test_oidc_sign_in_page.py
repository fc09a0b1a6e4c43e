"""Signing in with an OpenID Connect provider in a real Chromium, then joining a "login" sale.

The fan opens the sale's page, takes its "Sign in with ..." button, fills in the provider's own page
(oidc-provider-mock on loopback) and comes back to the fan page signed in:
the page joins and shows a queue place, and a join from the same browser
context is the entrant fairdrop derives from the provider's issuer and subject.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Route, expect

from fairdrop.identity import OIDC, Identity
from fairdrop.tokens import Signer
from launch.oidc_provider import OidcProvider
from tests.live_stack import LiveStack
from tests.pages.browser import PHONE, screenshot_path
from tests.web import test_oidc_sign_in as oidc_stack
from tests.web.fans import open_sale
from web.oidc_sign_in import SIGN_IN_PATH

pytestmark = pytest.mark.browser

# The stack signs fans in at the module's provider (the web tests' fixtures).
provider = oidc_stack.provider
live_stack = oidc_stack.live_stack

# The provider's page asks a CDN for its stylesheet; the network is closed.
NOT_LOOPBACK = re.compile(r"^https?://(?!127\.0\.0\.1[:/])")


def _refuse(route: Route) -> None:
    route.abort()


def test_a_fan_signs_in_at_the_provider_and_lands_on_the_sale_signed_in(
    browser: Browser, live_stack: LiveStack, provider: OidcProvider
) -> None:
    event_id = open_sale(live_stack, access="login")
    context = browser.new_context(viewport=PHONE)
    context.route(NOT_LOOPBACK, _refuse)
    page = context.new_page()
    # The fan opens the sale's page, is asked to sign in, and takes the button.
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#sign-in")).to_be_visible(timeout=10_000)
    login = page.locator("#login-link")
    expect(login).to_contain_text("Sign in with")
    assert login.get_attribute("href") == f"{SIGN_IN_PATH}?next={quote(f'/e/{event_id}', safe='')}"
    login.click()

    expect(page).to_have_url(re.compile(re.escape(f"{provider.issuer}/oauth2/authorize?")))
    page.fill('input[name="sub"]', "alice")
    page.screenshot(path=screenshot_path("oidc-provider-page"), full_page=True)
    page.get_by_role("button", name="Authorize").click()

    page.wait_for_url(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute(
        "data-state", re.compile(r"queued|admitted"), timeout=20_000
    )
    expect(page.locator("#queue-number")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("#sign-in")).to_be_hidden()
    page.screenshot(path=screenshot_path("oidc-signed-in-fan"), full_page=True)

    joined = context.request.post(f"{live_stack.base_url}/api/events/{event_id}/join")
    assert joined.ok, joined.text()
    alice = Identity(OIDC, "alice", provider.issuer)
    signer = Signer(live_stack.settings.secret_key)
    assert joined.json()["entrant_id"] == signer.entrant_id(event_id, alice)
    assert page.locator("#queue-number").inner_text() == str(joined.json()["number"])
    context.close()
