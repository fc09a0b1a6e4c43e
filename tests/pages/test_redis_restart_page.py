"""A fan's page left open while Redis restarts empty gets its place back by itself.

Redis is killed and started again empty (launch/redis_server.py). The page's
socket runs to the web process and stays open; the clock puts the sale back
from PostgreSQL, and the web process places the page's fan again
(web/rejoin.py). The page here joined after the draw, so the database never
had its number: without the web process's new join it would wait for a turn
that never comes, and the next newcomer would take its number. With it, it
has its number again, is let in and buys. A page opened while Redis is down
says so and tries again (static/queue_connection.js) instead of giving up.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.live_stack import LiveStack
from tests.pages.browser import PHONE, screenshot_path
from tests.redis_restarts import restorable_stack, wait_for_saved_draw
from tests.servers import PostgresServer
from tests.web.fans import ga

DRAWN_FANS = 3
WINDOW_S = 5
# The clock looks for lost sales every second, the page's next status follows.
BACK_MS = 15_000


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    with restorable_stack(postgres_server, tmp_path_factory.mktemp("restart-page")) as stack:
        yield stack


def test_a_page_left_open_gets_its_place_back_and_buys(
    browser: Browser, live_stack: LiveStack
) -> None:
    server = live_stack.redis_server
    assert server is not None
    # Time enough for the three joins to land in the window on a loaded machine:
    # one that came after the drop would be a late joiner, whom a restart forgets.
    drop_at = datetime.now(UTC) + timedelta(seconds=WINDOW_S)
    event_id = live_stack.create_event(drop_at=drop_at.isoformat(), cap=10)["id"]
    for _ in range(DRAWN_FANS):  # three browsers of their own, in the draw
        joined = httpx.post(f"{live_stack.base_url}/api/events/{event_id}/join", timeout=10)
        assert joined.status_code == 200, joined.text
        assert not joined.json()["number"], "joined after the drop: no drawn fan"
    wait_for_saved_draw(live_stack, event_id)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted", timeout=10_000)
    number = page.locator("#queue-number").inner_text()
    assert number == str(DRAWN_FANS + 1)  # a late joiner, after the drawn fans

    server.crash()
    newcomer = browser.new_context(viewport=PHONE)  # a page opened while Redis is down
    arriving = newcomer.new_page()
    arriving.goto(f"{live_stack.base_url}/e/{event_id}")
    expect(arriving.locator("#connection")).to_contain_text("Server restarting", timeout=5_000)
    arriving.screenshot(path=screenshot_path("fan-redis-restarting"), full_page=True)
    server.start_again()

    # The page opened meanwhile joins once the sale is back. Late joiners are
    # not in the database's record of the draw, so the two pages come back
    # after the drawn fans in the order they reach the restored sale: the
    # open page's fan usually first (its room places it at the sale's first
    # progress), the new page first if its retry lands before that (seen in
    # a full run). Either way no drawn number is taken and nobody shares one.
    expect(arriving.locator("#state")).to_have_attribute("data-state", "admitted", timeout=BACK_MS)
    # The page left open: placed again without a reload, let in by the restored sale, and it buys.
    expect(page.locator("#state")).to_have_attribute("data-state", "admitted")
    late = {number, str(DRAWN_FANS + 2)}
    arrived_as = arriving.locator("#queue-number").inner_text()
    assert arrived_as in late, arrived_as
    (kept,) = late - {arrived_as}
    expect(page.locator("#queue-number")).to_have_text(kept, timeout=BACK_MS)
    expect(page.locator("#connection")).to_have_text("Live")
    page.fill(f'input[name="qty-{ga(event_id)}"]', "2")
    page.click("#buy-button")
    expect(page.locator("#hold")).to_be_visible(timeout=10_000)
    page.click("#pay-button")
    expect(page.locator(".ticket-code")).to_have_count(2, timeout=10_000)
    page.screenshot(path=screenshot_path("fan-bought-after-redis-restart"), full_page=True)
    newcomer.close()
    context.close()
