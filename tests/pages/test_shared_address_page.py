"""Fans behind one network address (a campus, an office, a mobile carrier) in
Chromium: the sale places that address's new fans a few seconds apart
(``limit_entrants_per_address``), and a fan page past the share says so calmly,
counts down and takes its own place by itself, without a second proof of work
and without the error banner. Both ways a page meets the share: its own join
answered 429 (the page waits Retry-After and joins again), and the socket of a
page opened before the window (the server places it, or says ``address_busy``
with the wait, when the window opens)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, Route, expect

from tests.live_stack import LiveStack, live_stack_with
from tests.pages.browser import PHONE, screenshot_path

pytestmark = pytest.mark.browser

# One new anonymous fan of an address at once, then one every 4 s: every
# page here comes from 127.0.0.1.
SHARE = "1 per 4 seconds"
# A small proof of work: enough to be solved in a worker, quick to solve.
POW = 2_000
BUSY_TEXT = "Many fans are joining from your network"
# Records, from before the page's own script runs, every state the place card
# showed, what its countdown said while the address was busy, and anything the
# red error banner showed (a DevTools init script: the page's CSP does not
# apply to it).
WATCH_PAGE = """
window.seen = { states: [], countdowns: [], errors: [] };
const pushNew = (list, value) => {
  if (value && list[list.length - 1] !== value) list.push(value);
};
new MutationObserver(() => {
  const state = document.getElementById("state");
  if (state) pushNew(window.seen.states, state.dataset.state);
  const panel = document.getElementById("panel-address-busy");
  if (panel && !panel.hidden) {
    pushNew(window.seen.countdowns, document.getElementById("address-countdown").textContent);
  }
  const error = document.getElementById("error");
  if (error && !error.hidden && error.textContent) pushNew(window.seen.errors, error.textContent);
}).observe(document, {
  subtree: true, childList: true, characterData: true, attributes: true,
});
"""


live_stack = live_stack_with(limit_entrants_per_address=SHARE)


class FanPage:
    """One fan's page in a browser context of its own (its own cookies)."""

    def __init__(self, browser: Browser) -> None:
        self.context: BrowserContext = browser.new_context(viewport=PHONE)
        self.context.add_init_script(WATCH_PAGE)
        self.page: Page = self.context.new_page()
        self.joins: list[tuple[int, str | None, str | None]] = []  # status, body, Retry-After
        self.workers: list[str] = []
        self.page.on("response", self._response)
        self.page.on("worker", lambda worker: self.workers.append(worker.url))

    def _response(self, response: Response) -> None:
        if response.url.endswith("/join") and response.request.method == "POST":
            body = response.request.post_data
            self.joins.append((response.status, body, response.headers.get("retry-after")))

    def open(self, url: str) -> None:
        self.page.goto(url)

    def seen(self) -> dict[str, list[str]]:
        seen: dict[str, list[str]] = self.page.evaluate("window.seen")
        return seen

    def expect_state(self, state: str, timeout: float) -> None:
        expect(self.page.locator("#state")).to_have_attribute("data-state", state, timeout=timeout)

    def close(self) -> None:
        self.context.close()


def _stats(live_stack: LiveStack, event_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{live_stack.base_url}/api/events/{event_id}/stats",
        headers=live_stack.organiser_headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()
    return stats


def _expect_busy_message(fan: FanPage) -> None:
    """The calm message: in the place card and its live region, not in the error banner."""
    page = fan.page
    expect(page.locator("#status")).to_have_text(BUSY_TEXT)
    expect(page.locator("#status")).to_have_attribute("aria-live", "polite")
    panel = page.locator("#panel-address-busy")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("A campus, an office or a mobile network")
    expect(panel).to_contain_text("Keep this page open")
    expect(page.locator("#address-countdown")).to_have_text(re.compile(r"^\d+ s$"))
    expect(page.locator("#address-countdown")).to_have_attribute("role", "timer")
    expect(page.locator("#error")).to_be_hidden()


def test_a_second_fan_of_one_address_waits_and_joins_by_itself(
    browser: Browser, live_stack: LiveStack
) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(
        drop_at=(now + timedelta(minutes=2)).isoformat(), pow_difficulty=POW
    )
    url = f"{live_stack.base_url}/e/{event['id']}"
    first, second = FanPage(browser), FanPage(browser)
    try:
        first.open(url)
        first.expect_state("waiting_room", timeout=15_000)

        second.open(url)
        second.expect_state("address_busy", timeout=15_000)
        _expect_busy_message(second)
        # The window is still open: waiting costs this fan nothing in the draw.
        expect(second.page.locator("#address-same-chance")).to_be_visible()
        second.page.screenshot(path=screenshot_path("fan-address-busy"), full_page=True)

        # Within the share's 4 s (and the page's jitter) it joins by itself.
        second.expect_state("waiting_room", timeout=10_000)
        expect(second.page.locator("#panel-address-busy")).to_be_hidden()
        expect(second.page.locator("#panel-waiting-room")).to_be_visible()
        expect(second.page.locator("#connection")).to_have_text("Live", timeout=5_000)

        seen = second.seen()
        assert seen["errors"] == [] and first.seen()["errors"] == []
        assert seen["states"] == ["address_busy", "waiting_room"], seen
        # The countdown ran on the page: more than one value, all "N s" or due.
        assert len(seen["countdowns"]) >= 2, seen
        # Its first join was refused for its address with a Retry-After; the
        # retry brought the same solution (unused: the server refused before
        # checking it), and the page solved one proof of work only.
        statuses = [status for status, _, _ in second.joins]
        assert statuses[0] == 429 and statuses[-1] == 200, second.joins
        assert second.joins[0][2] is not None and int(second.joins[0][2]) >= 1
        solutions = {json.loads(body or "{}").get("altcha") for _, body, _ in second.joins}
        assert len(solutions) == 1 and None not in solutions, second.joins
        assert len(second.workers) == 1, second.workers

        assert _stats(live_stack, event["id"])["buffered"] == 2
    finally:
        first.close()
        second.close()


def test_pages_opened_before_the_window_are_placed_by_the_server_a_share_at_a_time(
    browser: Browser, live_stack: LiveStack
) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(
        opens_at=(now + timedelta(seconds=4)).isoformat(),
        drop_at=(now + timedelta(minutes=2)).isoformat(),
    )
    url = f"{live_stack.base_url}/e/{event['id']}"
    fans = [FanPage(browser), FanPage(browser)]
    try:
        for fan in fans:
            fan.open(url)
        for fan in fans:
            fan.expect_state("not_open", timeout=10_000)

        # The window opens: the server places one page of the address and
        # tells the other, on its socket, how long its address's share lasts.
        states: list[str] = []
        deadline = datetime.now(UTC) + timedelta(seconds=15)
        while datetime.now(UTC) < deadline:
            states = [fan.page.locator("#state").get_attribute("data-state") or "" for fan in fans]
            if "address_busy" in states and "waiting_room" in states:
                break
            fans[0].page.wait_for_timeout(100)
        assert sorted(states) == ["address_busy", "waiting_room"], states
        waiting = fans[states.index("address_busy")]
        _expect_busy_message(waiting)
        waiting.page.screenshot(path=screenshot_path("fan-address-busy-socket"), full_page=True)

        # Then the server places it by itself; the page did nothing but show it.
        waiting.expect_state("waiting_room", timeout=10_000)
        for fan in fans:
            assert fan.seen()["errors"] == []
            # One join each, before the window; the server did the rest.
            assert [status for status, _, _ in fan.joins] == [200]
        assert waiting.seen()["states"] == ["not_open", "address_busy", "waiting_room"]
        assert len(waiting.seen()["countdowns"]) >= 2

        assert _stats(live_stack, event["id"])["buffered"] == 2
    finally:
        for fan in fans:
            fan.close()


def test_a_refusal_after_the_proof_was_spent_rejoins_without_solving_again(
    browser: Browser, live_stack: LiveStack
) -> None:
    """The other 429 of a new browser: the address's share ran out between the
    early check and join.lua, after the proof was taken; that answer sets the
    session the proof paid for (web/fans.py), so the page's retry of its kept
    solution is refused as another session's, and a plain join takes the place."""
    event = live_stack.create_event(
        drop_at=(datetime.now(UTC) + timedelta(minutes=2)).isoformat(), pow_difficulty=POW
    )
    url = f"{live_stack.base_url}/e/{event['id']}"
    fan = FanPage(browser)
    answered: list[int] = []

    def refused_after_the_proof(route: Route) -> None:
        if answered:  # the page's own retries go to the server as they are
            route.continue_()
            return
        # The real join (it takes the proof and makes the session), answered
        # as join.lua's address_busy is: 429, Retry-After, and the cookie.
        real = route.fetch()
        answered.append(real.status)
        assert real.status == 200, real.text()
        cookies = [h["value"] for h in real.headers_array if h["name"].lower() == "set-cookie"]
        assert cookies
        body = {"error": {"code": "address_busy", "message": "too many new fans"}}
        route.fulfill(
            status=429,
            headers={"Retry-After": "1", "Set-Cookie": cookies[0]},
            content_type="application/json",
            body=json.dumps(body),
        )

    try:
        fan.page.route("**/join", refused_after_the_proof)
        fan.open(url)
        fan.expect_state("waiting_room", timeout=15_000)
        assert fan.seen()["errors"] == []
        assert "address_busy" in fan.seen()["states"]
        bodies = [json.loads(body or "{}").get("altcha") for _, body, _ in fan.joins]
        statuses = [status for status, _, _ in fan.joins]
        # The kept solution, refused (this session did not ask for it); then
        # a plain join, which needs no proof: the session proved already.
        assert statuses == [429, 403, 200], fan.joins
        assert bodies[0] is not None and bodies[1] == bodies[0] and bodies[2] is None
        assert len(fan.workers) == 1, fan.workers
        assert _stats(live_stack, event["id"])["buffered"] == 1
    finally:
        fan.close()
