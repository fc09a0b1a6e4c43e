"""The pages under their Content-Security-Policy (web/edge.py), in a real Chromium.

The organiser makes a sale, pauses it, makes a door token and downloads a
list; a fan queues, buys and pays; the ticket page draws its QR code; the door
checks the ticket in. Every Content-Security-Policy violation any of those
pages reports (the ``securitypolicyviolation`` event, or Chromium's console
message) is collected, and there must be none; every POST the pages sent
carried their own Origin, which the edge lets through. Last, the policy is
seen refusing an inline script, an inline style and another site's image, so
the watch itself is shown to work.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request, expect

from tests.live_stack import LiveStack
from tests.pages.browser import DESKTOP, PHONE, screenshot_path
from tests.web.fans import ga, open_sale

pytestmark = pytest.mark.browser

# Runs in every page and frame before the page's own scripts.
_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolation(
    `${e.effectiveDirective} refused ${e.blockedURI || "inline"} on ${e.documentURI}` +
    ` (${e.sourceFile}:${e.lineNumber})`);
}, true);
"""
_QR_DRAWN = (
    "() => { const img = document.getElementById('qr'); return img.complete && img.naturalWidth; }"
)


class CspWatch:
    """Every CSP violation and every POST of a browser context's pages."""

    def __init__(self, context: BrowserContext) -> None:
        self.violations: list[str] = []
        self.posts: list[Request] = []
        context.expose_function("__cspViolation", self._violation)
        context.add_init_script(_WATCH)
        context.on("console", self._console)
        context.on("request", self._request)

    def _violation(self, report: str) -> None:
        self.violations.append(report)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(f"console: {message.text}")

    def _request(self, request: Request) -> None:
        if request.method == "POST":
            self.posts.append(request)

    def post_origins(self) -> set[str | None]:
        """The Origin header each POST went out with."""
        return {request.all_headers().get("origin") for request in self.posts}


def _organiser_makes_a_sale_and_a_door_token(page: Page, stack: LiveStack) -> None:
    page.goto(f"{stack.base_url}/organiser")
    page.fill("#token", stack.settings.organiser_token)
    page.click("#create-button")
    expect(page.locator("#fan-link")).to_be_visible(timeout=10_000)
    page.click("#pause-button")
    expect(page.locator("#resume-button")).to_be_enabled(timeout=10_000)
    page.click("#resume-button")
    expect(page.locator("#pause-button")).to_be_enabled(timeout=10_000)
    expect(page.locator("#doors-card")).to_be_visible(timeout=10_000)
    page.fill("#door-name", "North gate")
    page.click("#door-make")
    expect(page.locator("#door-token-made")).to_be_visible(timeout=10_000)


def _organiser_downloads_a_list(page: Page, stack: LiveStack, tmp_path: Path) -> None:
    """The list download is a blob the page makes and clicks."""
    later = stack.create_event(
        opens_at="2099-01-01T00:00:00Z", drop_at="2099-01-01T00:10:00Z", access="list"
    )["id"]
    imported = httpx.post(
        f"{stack.base_url}/api/events/{later}/access-list",
        content="id,allowance\nSEAT-1,1\n",
        headers={**stack.organiser_headers, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    page.goto(f"{stack.base_url}/organiser#{later}")
    page.fill("#token", stack.settings.organiser_token)
    expect(page.locator("#list-tools")).to_be_visible(timeout=10_000)
    with page.expect_download() as download:
        page.click("#list-download")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [row["id"] for row in rows] == ["SEAT-1"]


def _fan_buys(page: Page, stack: LiveStack) -> str:
    """A fan queues, holds two tickets and pays on the fan page; a ticket code."""
    event_id = open_sale(stack)
    answer = page.goto(f"{stack.base_url}/e/{event_id}")
    assert answer is not None
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=20_000)
    page.fill(f'input[name="qty-{ga(event_id)}"]', "2")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    page.click("#pay-button")
    expect(page.locator("a.ticket-code")).to_have_count(2, timeout=10_000)
    page.screenshot(path=screenshot_path("csp-fan-confirmation"), full_page=True)
    return page.locator("a.ticket-code").first.inner_text()


def _door_checks_in(page: Page, stack: LiveStack, code: str) -> None:
    page.goto(f"{stack.base_url}/door")
    page.fill("#door", "Main")
    page.fill("#token", stack.settings.organiser_token)
    page.fill("#code", code)
    page.click("#check-button")
    expect(page.locator("#result")).to_have_attribute("data-result", "valid", timeout=10_000)


def _directives(violations: list[str]) -> set[str]:
    return {v.split()[0] for v in violations if not v.startswith("console:")}


def _assert_clean(watch: CspWatch, stack: LiveStack) -> None:
    assert watch.violations == []
    # fetch() keeps the page's Origin under Referrer-Policy: no-referrer.
    assert watch.posts
    assert watch.post_origins() == {stack.base_url}


def test_the_pages_work_with_no_policy_violation(
    browser: Browser, live_stack: LiveStack, tmp_path: Path
) -> None:
    organiser = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    organiser_watch = CspWatch(organiser)
    page = organiser.new_page()
    _organiser_makes_a_sale_and_a_door_token(page, live_stack)
    _organiser_downloads_a_list(organiser.new_page(), live_stack, tmp_path)
    _assert_clean(organiser_watch, live_stack)
    organiser.close()

    phone = browser.new_context(viewport=PHONE)
    fan_watch = CspWatch(phone)
    page = phone.new_page()
    code = _fan_buys(page, live_stack)
    page.click("a.ticket-code >> nth=0")
    page.wait_for_url(f"**/tickets/{code}")
    page.wait_for_function(_QR_DRAWN, timeout=10_000)
    _door_checks_in(page, live_stack, code)

    _assert_clean(fan_watch, live_stack)

    # The watch sees what the policy refuses: an inline script, an inline
    # style and another site's image, none of which take effect.
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.body.append(script);
        document.body.insertAdjacentHTML("beforeend",
          '<b id="styled" style="color: rgb(255, 0, 0)">x</b>' +
          '<img src="https://evil.example/pixel.png">');
    }"""
    )
    expected = {"script-src-elem", "style-src-attr", "img-src"}
    for _ in range(50):  # the reports arrive a moment later
        if expected <= _directives(fan_watch.violations):
            break
        page.wait_for_timeout(100)
    assert expected <= _directives(fan_watch.violations), fan_watch.violations
    assert page.evaluate("() => window.inlineRan") is None
    color = page.evaluate("() => getComputedStyle(document.getElementById('styled')).color")
    assert color != "rgb(255, 0, 0)"
    phone.close()
