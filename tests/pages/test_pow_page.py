"""The fan page's proof of work in Chromium: solved in a Web Worker as the page
opens, under a Content-Security-Policy with no inline script and no eval, then
joined with; a reload with a place joins without solving."""

from __future__ import annotations

import json
from base64 import b64decode
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, Route, expect

from fairdrop.settings import POW_DEFAULT
from fairdrop.tokens import FAN_COOKIE
from loadtests.chromium import CHROMIUM_ARGS
from tests.live_stack import LiveStack
from tests.pages.browser import PHONE, screenshot_path

CHECKING = "Checking your browser… (a few seconds at most)"
# Records what the page's "checking" line said, and any policy violation,
# from before the page's own script runs (a DevTools init script: the page's
# policy does not apply to it).
WATCH_PAGE = """
window.checkingSeen = [];
window.violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.violations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
new MutationObserver(() => {
  const line = document.getElementById("checking");
  if (line && line.textContent && !line.hidden) window.checkingSeen.push(line.textContent);
}).observe(document, { subtree: true, childList: true, characterData: true });
"""


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    """Chromium as tests/pages/browser.py starts it, without its local-network checks.

    The fan page here is a routed response (to give it this test's own policy),
    which Chromium counts as coming from the internet: its checks would then
    refuse the page's websocket to 127.0.0.1.
    """
    args = [*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]
    browser = playwright.chromium.launch(executable_path=chromium_path, args=args)
    yield browser
    browser.close()


def _strict_policy(route: Route) -> None:
    """Serves the fan page with a strict policy of this test's own, whatever the app sends."""
    response = route.fetch()
    host = route.request.url.split("/")[2]
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws://{host}; base-uri 'none'; frame-ancestors 'none'"
    )
    headers = {**response.headers, "content-security-policy": policy}
    route.fulfill(response=response, headers=headers)


def _joins(page: Page) -> list[Request]:
    joins: list[Request] = []
    page.on("request", lambda r: joins.append(r) if r.url.endswith("/join") else None)
    return joins


def test_the_page_solves_in_a_worker_joins_once_and_a_reload_does_not_solve(
    browser: Browser, live_stack: LiveStack
) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(
        drop_at=(now + timedelta(minutes=5)).isoformat(), pow_difficulty=POW_DEFAULT
    )
    assert event["pow_difficulty"] == POW_DEFAULT
    fan_url = f"{live_stack.base_url}/e/{event['id']}"
    context = browser.new_context(viewport=PHONE)
    context.add_init_script(WATCH_PAGE)
    page = context.new_page()
    page.route(fan_url, _strict_policy)
    workers: list[str] = []
    page.on("worker", lambda worker: workers.append(worker.url))
    joins = _joins(page)
    # The join waits here until the test has seen the page checking.
    held: list[Route] = []
    page.route("**/join", lambda route: held.append(route))

    page.goto(fan_url)

    expect(page.locator("#checking")).to_have_text(CHECKING, timeout=10_000)
    expect(page.locator("#checking")).to_be_visible()
    expect(page.locator("#checking")).to_have_attribute("role", "status")
    page.screenshot(path=screenshot_path("fan-checking-browser"), full_page=True)
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while not held and datetime.now(UTC) < deadline:
        page.wait_for_timeout(50)
    assert held, "the page never sent its join"
    page.unroute("**/join")
    held[0].continue_()

    expect(page.locator("#state")).to_have_attribute("data-state", "waiting_room", timeout=10_000)
    expect(page.locator("#checking")).to_be_hidden()
    assert workers == [f"{live_stack.base_url}/static/pow_worker.js"]
    assert [j.method for j in joins] == ["POST"]
    solution = json.loads(joins[0].post_data or "{}")["altcha"]
    payload = json.loads(b64decode(solution))
    assert set(payload) == {"algorithm", "challenge", "number", "salt", "signature"}
    assert 0 <= payload["number"] <= POW_DEFAULT
    assert CHECKING in page.evaluate("window.checkingSeen")
    assert page.evaluate("window.violations") == []
    assert [c["name"] for c in context.cookies()] == [FAN_COOKIE]
    page.screenshot(path=screenshot_path("fan-joined-after-proof"), full_page=True)

    # A reload has the place: the server needs no proof, and the page solves none.
    page.reload()
    expect(page.locator("#state")).to_have_attribute("data-state", "waiting_room", timeout=10_000)
    assert len(joins) == 2 and joins[1].post_data is None
    assert len(workers) == 1
    assert page.evaluate("window.checkingSeen") == []
    assert page.evaluate("window.violations") == []
    stats = httpx.get(
        f"{live_stack.base_url}/api/events/{event['id']}/stats",
        headers=live_stack.organiser_headers,
        timeout=10,
    ).json()
    assert stats["buffered"] == 1
    context.close()
