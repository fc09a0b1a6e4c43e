"""How fairdrop starts headless Chromium here (launch/chromium.py), for the benches."""

from __future__ import annotations

from launch.chromium import CHROMIUM, CHROMIUM_ARGS

__all__ = ["CHROMIUM", "CHROMIUM_ARGS"]
