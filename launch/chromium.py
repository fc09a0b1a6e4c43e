"""How fairdrop starts headless Chromium here: the demo's browser fan, the
benches and the page tests alike."""

from __future__ import annotations

# Debian's Chromium; Playwright's own browser download fails on this machine.
CHROMIUM = "/usr/bin/chromium"
# Without the networking flags Chromium keeps trying to reach the closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
