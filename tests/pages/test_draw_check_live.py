"""The fan page checks a real drawn sale in Chromium: fairdrop's own server, its
draw (fairdrop-draw-v2 on the tests' local beacon), its receipts."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from playwright.sync_api import Browser, expect

from tests.live_stack import LiveStack
from tests.pages.browser import PHONE, screenshot_path

OTHER_FANS = 5
CHECKED = "Checked by your browser: number {} is what the published seed gives."


def _canonical(inner: dict[str, object]) -> bytes:
    return json.dumps(inner, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def test_the_page_checks_a_real_draw_and_keeps_a_receipt_the_server_signed(
    browser: Browser, live_stack: LiveStack
) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(drop_at=(now + timedelta(seconds=4)).isoformat())
    api = f"{live_stack.base_url}/api/events/{event['id']}"
    for _ in range(OTHER_FANS):
        assert httpx.post(f"{api}/join", timeout=10).status_code == 200
    context = browser.new_context(viewport=PHONE, accept_downloads=True)
    page = context.new_page()
    page.goto(f"{live_stack.base_url}/e/{event['id']}")
    expect(page.locator("#entry-card")).to_be_visible(timeout=10_000)
    entry_id = page.locator("#entry-id").inner_text()
    assert entry_id

    # The fan waits through the drop and the beacon round; the page checks by itself.
    line = page.locator("#check-line")
    expect(page.locator("#check-details")).to_be_visible(timeout=30_000)
    number = page.locator("#queue-number").inner_text()
    expect(line).to_have_text(CHECKED.format(number))
    draw = httpx.get(f"{api}/draw", timeout=10).json()
    listed = httpx.get(draw["entrants_url"], timeout=10).text.splitlines()
    assert f"{number} {entry_id}" in listed and len(listed) == OTHER_FANS + 1
    page.click("#check-details summary")
    details = page.locator("#check-list").inner_text()
    assert f"drand round {draw['beacon']['round']}" in details, details
    page.screenshot(path=screenshot_path("fan-real-draw-checked"), full_page=True)

    # The receipt it keeps is the server's, and checks against the published key.
    with page.expect_download() as download:
        page.click("#receipt-download")
    kept = json.loads(Path(download.value.path()).read_text())
    assert kept["receipt"]["entry_id"] == entry_id and kept["receipt"]["status"] == "buffered"
    key = httpx.get(f"{live_stack.base_url}/api/receipt-key", timeout=10).json()
    signature = base64.urlsafe_b64decode(kept["signature"] + "==")
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["public_key"]))
    public.verify(signature, _canonical(kept["receipt"]))  # raises when it does not check
    context.close()
