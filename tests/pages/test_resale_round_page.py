"""A resale round on the fan page and the organiser's dashboard, on a 390 px phone.

A sale of one ticket: the first fan in line lets it go, the next buys it, and
it is sold out; a fan who comes then sees "Sold out". The buyer puts the
ticket back (the API, with their session): nobody is left in line, so the
clock opens a resale round (buffer/rounds.py), a window of ROUND_SECONDS
here. The sold-out page and the page of the fan whose turn ended both offer
to enter the draw, and both fans do; a new fan's page says what the round
is, counts down to its close and counts who entered. After the draw all
three have places after the two numbers before, and the first is let in;
the organiser's dashboard said the round was open. A ticket back while a fan
still waits in line opens no round: it is theirs, and a sold-out page offers
the back of the line.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Response, expect

from tests.live_stack import LiveStack, live_stack_with
from tests.pages.browser import DESKTOP, PHONE, screenshot_path
from tests.pages.test_accessibility import _serious
from tests.web.fans import Fan, ga, open_sale, stats, ticket_type

# Short, so the test waits little; long enough for a page to load and join in it.
ROUND_SECONDS = 3.0
WAIT_MS = 15_000

T = TypeVar("T")


live_stack = live_stack_with(resale_round_seconds=ROUND_SECONDS)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """An async fan call, in a thread of its own (Playwright's sync API holds this one's loop)."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result(60)


class Pages:
    """The test's browser pages, each with the errors its console reported."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    def open(self, url: str, viewport: Any = PHONE) -> Page:
        context = self.browser.new_context(viewport=viewport)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: self._console(url, m))
        page.on("pageerror", lambda e: self.errors.append(f"{url}: {e}"))
        page.on("response", self._response)
        page.goto(url)
        return page

    def _console(self, url: str, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{url}: {message.text}")

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.errors.append(f"{response.status} {response.url}")

    def errors_but_axes(self) -> list[str]:
        """The errors, but for axe-core's: the styles it injects are what the pages' CSP refuses."""
        return [e for e in self.errors if "Applying inline style violates" not in e]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def _fits_the_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"


def _keep_texts(page: Page, element_id: str) -> None:
    """Keeps every text the element shows while visible (window.seen[id]): a
    round's states pass sooner than a test could look at each."""
    page.evaluate(
        """(id) => {
          window.seen = window.seen || {};
          const seen = (window.seen[id] = []);
          const node = document.getElementById(id);
          const keep = () => {
            if (!node.hidden && seen[seen.length - 1] !== node.textContent) {
              seen.push(node.textContent);
            }
          };
          keep();
          const what = { attributes: true, childList: true, characterData: true, subtree: true };
          new MutationObserver(keep).observe(node, what);
        }""",
        element_id,
    )


def _seen(page: Page, element_id: str) -> list[str]:
    texts: list[str] = page.evaluate("(id) => window.seen[id]", element_id)
    return texts


def _queue_number(page: Page) -> int:
    expect(page.locator("#queue-number")).to_have_text(re.compile(r"^\d+$"), timeout=WAIT_MS)
    return int(page.locator("#queue-number").inner_text())


async def _bought(fan: Fan) -> str:
    """The fan buys one ticket (over the API, its socket closed after); its code."""
    try:
        code: str = (await fan.buy(1))["tickets"][0]["code"]
    finally:
        await fan.close()
    return code


def _put_back(fan: Fan, event_id: str, code: str) -> None:
    """The buyer puts the ticket back for resale, with their session (web/resale.py)."""
    path = f"/api/events/{event_id}/resale"
    answer = _run(fan.request("POST", path, json={"code": code}))
    assert answer.status_code == 201, answer.text


def _let_go(page: Page, event_id: str) -> None:
    """On the fan page: wait for the turn, hold one ticket and let it go."""
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=WAIT_MS)
    page.fill(f'input[name="qty-{ga(event_id)}"]', "1")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=WAIT_MS)
    page.click("#release-button")
    expect(page.locator("#state")).to_have_attribute("data-state", "turn_over", timeout=WAIT_MS)


def test_a_ticket_back_after_the_sell_out_is_drawn_in_a_round_the_pages_explain(
    browser: Browser, live_stack: LiveStack
) -> None:
    base = live_stack.base_url
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=1, per_person_limit=1)])
    pages = Pages(browser)
    try:
        # The first fan in line lets the ticket go; the next buys it: sold out.
        chooser = pages.open(f"{base}/e/{event_id}")
        _let_go(chooser, event_id)
        seller = Fan(live_stack, event_id)
        code = _run(_bought(seller))
        expect(chooser.locator("#state")).to_have_attribute(
            "data-state", "sold_out", timeout=WAIT_MS
        )
        expect(chooser.locator("#queue-again-line")).to_be_hidden()
        # A fan who came once it had sold out.
        turned_away = pages.open(f"{base}/e/{event_id}")
        expect(turned_away.locator("#state")).to_have_attribute(
            "data-state", "sold_out", timeout=WAIT_MS
        )
        expect(turned_away.locator("#queue-again-line")).to_be_hidden()
        # The organiser watching the sale.
        organiser = pages.open(f"{base}/organiser", viewport=DESKTOP)
        organiser.fill("#token", live_stack.settings.organiser_token)
        organiser.evaluate("(id) => { location.hash = id; }", event_id)
        expect(organiser.get_by_test_id("stats-updated")).to_contain_text("live", timeout=WAIT_MS)
        expect(organiser.get_by_test_id("round-line")).to_be_hidden()
        _keep_texts(organiser, "round-line")

        _put_back(seller, event_id, code)

        # The round opens: both pages offer its draw, and both fans enter it.
        for page in (turned_away, chooser):
            enter = page.get_by_role("button", name="Enter the draw")
            expect(enter).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("#status")).to_contain_text("Tickets came back")
            expect(page.get_by_test_id("round-lead")).to_contain_text(
                "Everyone who enters the draw before"
            )
            if page is chooser:
                page.screenshot(
                    path=screenshot_path("fan-resale-round-offer-phone"), full_page=True
                )
            enter.click()

        # A new fan arrives while the window is open.
        newcomer = pages.open(f"{base}/e/{event_id}")
        round_panel = newcomer.get_by_test_id("round")
        expect(round_panel).to_have_attribute("data-round-state", "buffering", timeout=WAIT_MS)
        _keep_texts(newcomer, "status")
        expect(newcomer.locator("#state")).to_have_attribute("data-state", "waiting_room")
        expect(newcomer.locator("#status")).to_have_text("You're in the draw for returned tickets")
        lead = newcomer.get_by_test_id("round-lead")
        expect(lead).to_contain_text("Tickets came back after the sale sold out.")
        expect(lead).to_contain_text(re.compile(r"arrives before \d{1,2}:\d\d:\d\d"))
        expect(lead).to_contain_text("arriving early gives no edge")
        expect(newcomer.get_by_test_id("round-countdown")).to_have_text(re.compile(r"^0:0[0-3]$"))
        expect(newcomer.get_by_test_id("round-entered")).to_have_text("3 fans have entered so far.")
        expect(newcomer.locator("#panel-waiting-room")).to_be_hidden()
        _fits_the_phone(newcomer)
        found = _serious(newcomer, "fan page, in a resale round's draw")
        newcomer.screenshot(path=screenshot_path("fan-resale-round-phone"), full_page=True)
        for page in (turned_away, chooser):
            expect(page.locator("#state")).to_have_attribute("data-state", "waiting_room")
            expect(page.get_by_test_id("round")).to_be_visible()

        # Drawn: three places after the two numbers before, the first let in.
        numbers = {_queue_number(page): page for page in (newcomer, turned_away, chooser)}
        assert sorted(numbers) == [3, 4, 5], numbers
        first, last = numbers[3], numbers[5]
        expect(first.locator("#state")).to_have_attribute("data-state", "admitted", timeout=WAIT_MS)
        expect(first.get_by_test_id("buy-form")).to_be_visible()
        expect(last.locator("#state")).to_have_attribute("data-state", "queued")
        expect(last.locator("#state-note")).to_contain_text(
            "places were drawn in random order among everyone who entered a short window"
        )
        for page in numbers.values():
            expect(page.get_by_test_id("round")).to_be_hidden()
            _fits_the_phone(page)
        # The round's entrant is not in the sale's own draw, and its browser knows it.
        expect(newcomer.get_by_test_id("entry-card")).to_have_attribute("data-check", "checked")
        assert "Drawing the order…" in _seen(newcomer, "status"), _seen(newcomer, "status")
        last.screenshot(path=screenshot_path("fan-resale-round-drawn-phone"), full_page=True)
        found += _serious(last, "fan page, queued by a resale round")

        # The organiser saw the round open, with its close and entrants, then drawing.
        expect(organiser.get_by_test_id("round-line")).to_be_hidden(timeout=WAIT_MS)
        shown = _seen(organiser, "round-line")
        opened = re.compile(r"^Resale round 1 open until .+: tickets came back after the sale")
        assert any(opened.match(text) for text in shown), shown
        assert any("3 fans entered so far." in text for text in shown), shown
        assert found == [], "\n".join(found)
        assert pages.errors_but_axes() == []
    finally:
        pages.close()


async def _sold_out_with_one_in_line(stack: LiveStack, event_id: str) -> tuple[Fan, str]:
    """The first of two fans buys the one ticket; the second is still in line.
    The buyer and the ticket's code."""
    buyer, waiting = Fan(stack, event_id), Fan(stack, event_id)
    await buyer.join()
    await waiting.join()
    return buyer, await _bought(buyer)


def test_a_ticket_back_with_a_fan_in_line_opens_no_round_and_a_sold_out_page_may_queue(
    browser: Browser, live_stack: LiveStack
) -> None:
    base = live_stack.base_url
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=1, per_person_limit=1)])
    buyer, code = _run(_sold_out_with_one_in_line(live_stack, event_id))
    pages = Pages(browser)
    try:
        turned_away = pages.open(f"{base}/e/{event_id}")
        expect(turned_away.locator("#state")).to_have_attribute(
            "data-state", "sold_out", timeout=WAIT_MS
        )
        _put_back(buyer, event_id, code)

        # The seat goes to the fan in line; the page says so and offers the back of the line.
        expect(turned_away.locator("#status")).to_have_text(
            "Some tickets came back", timeout=WAIT_MS
        )
        expect(turned_away.locator("#state-note")).to_contain_text(
            "Fans already in line get them first"
        )
        expect(turned_away.get_by_test_id("round")).to_be_hidden()
        turned_away.get_by_role("button", name="Queue at the back").click()
        expect(turned_away.locator("#state")).to_have_attribute(
            "data-state", "queued", timeout=WAIT_MS
        )
        assert _queue_number(turned_away) == 3
        _fits_the_phone(turned_away)
        assert stats(live_stack, event_id)["round"] == 0
        assert pages.errors == []
    finally:
        pages.close()
