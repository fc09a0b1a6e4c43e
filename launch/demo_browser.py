"""``fairdrop demo --browser``: one more fan, on the real fan page in headless
Chromium, who joins in the window and waits for the page's own check of the
draw (static/queue_verify.js: every number recomputed with WebCrypto).

Playwright is a test dependency and Chromium a system package: without
either there is no browser fan, and the demo says so (``browser_verified``
is then null) rather than failing.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
from pathlib import Path

from launch.chromium import CHROMIUM, CHROMIUM_ARGS

# The page's entry card says how its check went (queue.html data-check).
_DONE = '#entry-card[data-check="checked"], #entry-card[data-check="failed"]'


def browser_available() -> bool:
    has_chromium = Path(CHROMIUM).exists() or shutil.which("chromium") is not None
    return has_chromium and importlib.util.find_spec("playwright") is not None


def _watch(fan_url: str, timeout_s: float) -> bool | None:
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(fan_url)
            page.wait_for_selector("#entry-card:not([hidden])", timeout=30_000)
            page.wait_for_selector(_DONE, timeout=timeout_s * 1000)
            return page.get_attribute("#entry-card", "data-check") == "checked"
        except Error:
            return None
        finally:
            browser.close()


async def browser_fan(base_url: str, event_id: str, timeout_s: float) -> bool | None:
    """Whether the page's check said the draw is right; None when no browser ran
    or the page never got to check (it then reports nothing either way)."""
    if not browser_available():
        return None
    return await asyncio.to_thread(_watch, f"{base_url}/e/{event_id}", timeout_s)
