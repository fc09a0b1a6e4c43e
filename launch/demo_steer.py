"""The demo's organiser turns the admission rate up once the sale is under way.

It is what an organiser does on the night when the shop keeps up: the change
goes through ``PATCH /api/events/{id}`` like the dashboard's, and the figure
the demo reports is read back from the sale's change log in the database
(``GET /api/events/{id}/changes``), not from this module's own memory.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from web.organiser import MAX_RATE_PER_MIN

STEERED_BY = "fairdrop demo"
# How often the organiser looks whether the first fans are in.
LOOK_EVERY_S = 0.2


def faster_rate(rate_per_min: int, ceiling: int) -> int:
    """Twice the rate, within what the API takes."""
    return min(ceiling, rate_per_min * 2)


async def turn_up_the_rate(
    http: httpx.AsyncClient, token: str, event_id: str, rate_per_min: int, deadline_s: float
) -> bool:
    """Waits for the first admission, then doubles the rate; whether the change was taken.

    Gives up (False) when no fan is let in before ``deadline_s`` (monotonic):
    a sale that never admits has no mid-sale to steer.
    """
    headers = {"Authorization": f"Bearer {token}"}
    while time.monotonic() < deadline_s:
        stats = await http.get(f"/api/events/{event_id}/stats", headers=headers)
        if stats.status_code == 200 and int(stats.json()["serving"]) > 0:
            body = {"rate_per_min": faster_rate(rate_per_min, MAX_RATE_PER_MIN), "by": STEERED_BY}
            answer = await http.patch(f"/api/events/{event_id}", headers=headers, json=body)
            return answer.status_code == 200
        await asyncio.sleep(LOOK_EVERY_S)
    return False


async def rate_change_figures(http: httpx.AsyncClient, token: str, event_id: str) -> dict[str, Any]:
    """The rate changes the sale's log holds, and the rate it ended on."""
    headers = {"Authorization": f"Bearer {token}"}
    log = (await http.get(f"/api/events/{event_id}/changes", headers=headers)).json()["changes"]
    rates = [change for change in log if change["field"] == "rate_per_min"]
    return {
        "rate_changes": len(rates),
        "rate_per_min_final": int(rates[-1]["new"]) if rates else None,
    }
