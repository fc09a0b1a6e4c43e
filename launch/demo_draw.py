"""The demo's check of its own draw, as an outsider would make it.

``fairdrop verify-draw``'s recomputation of every number, beacon signature
included, and then every fan's entry receipt (kept from their join answer)
checked against the key the server serves and found in the published list
at its number.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from buffer.verify import entrant_lines, receipt_in_draw, verify_draw
from fairdrop.receipts import ReceiptError, check_receipt


def _receipt_problems(
    receipts: Sequence[object], info: dict[str, Any], published: list[tuple[int, str]]
) -> list[str]:
    key = str(info["receipt_key"]["public_key"])
    problems: list[str] = []
    for receipt in receipts:
        try:
            ok, why = receipt_in_draw(check_receipt(receipt, key), info, published)
        except ReceiptError as exc:
            ok, why = False, str(exc)
        if not ok:
            problems.append(why)
    return problems


def _check(draw_url: str, receipts: Sequence[object]) -> dict[str, Any]:
    verdict = verify_draw(draw_url)
    with httpx.Client(timeout=60) as client:
        info: dict[str, Any] = client.get(draw_url).raise_for_status().json()
        published = entrant_lines(client, str(info["entrants_url"])) if info["drawn"] else []
    beacon = info.get("beacon") or {}
    problems = _receipt_problems(receipts, info, published)
    return {
        "draw_verified": verdict.ok,
        "draw_algorithm": info.get("algorithm"),
        "draw_promise": info.get("promise"),
        "beacon_round": beacon.get("round"),
        # Every placed fan's receipt checks and is in the list at its number.
        "receipts_checked": bool(receipts) and not problems,
        "receipts": len(receipts),
        "receipt_problems": problems[:5],
    }


async def draw_figures(base_url: str, event_id: str, receipts: Sequence[object]) -> dict[str, Any]:
    """The draw's verdict and the receipts' for the demo's last JSON line."""
    return await asyncio.to_thread(_check, f"{base_url}/api/events/{event_id}/draw", receipts)
