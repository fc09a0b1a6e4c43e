"""The demo's after-sale resale round (buffer/rounds.py), on a small sale of its own.

Two fans buy a two-ticket sale out, nobody is left in line, and one of them
puts a ticket back from their own session, as the ticket page's "Can't go?"
card does. The clock opens a resale round; ``round_fans`` new fans arrive
spread over its window, each from its own address; the round is drawn and the
first of its order buys the seat, the seller refunded. What the summary says
is read from the sale (its public round record), the database (the resale
refunded) and each fan's own outcome, never from what the demo intended.

Its own sale, so that the main drop's fans, who keep their places when told
"sold out" (launch/demo_resale.py), do not stand in line before the round.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from buffer.verify_round import verify_round
from launch.demo_event import create_demo_event
from launch.demo_fans import SimulatedFan, StripePayer, fan_address
from launch.demo_resale import resale_figures
from launch.fan_client import FanClient
from launch.stack import Stack

# The demo's rounds are short (FAIRDROP_RESALE_ROUND_SECONDS), so it ends soon.
ROUND_SETTINGS = {"resale_round_seconds": 3.0}
# Each fan's turn and hold: a fan who does not buy gives the seat back soon.
HOLD_SECONDS = 30
# How long the demo waits for the clock to open the round once the seat is back.
OPEN_WAIT_S = 10.0
POLL_S = 0.1
# The round's fans arrive inside its window, not in its last moments.
ARRIVE_BEFORE_CLOSE_S = 0.5


async def _stats(http: httpx.AsyncClient, token: str, event_id: str) -> dict[str, Any]:
    answer = await http.get(
        f"/api/events/{event_id}/stats", headers={"Authorization": f"Bearer {token}"}
    )
    stats: dict[str, Any] = answer.raise_for_status().json()
    return stats


async def _wait_for_round(http: httpx.AsyncClient, token: str, event_id: str) -> dict[str, Any]:
    """The sale's figures once the clock has opened a round (its state 'buffering')."""
    deadline = time.monotonic() + OPEN_WAIT_S
    while True:
        stats = await _stats(http, token, event_id)
        if stats.get("round_state") == "buffering" or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(POLL_S)


async def _put_back(base_url: str, seller: SimulatedFan) -> bool:
    """The seller's own session lists their ticket (``POST /resale``), as its page does."""
    client = FanClient(base_url, seller.event_id, seller.cookie or "", local_address=seller.address)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client.http:
        mine = (await client.request("GET", client.path("/orders/mine"))).raise_for_status()
        code = str(mine.json()["orders"][0]["tickets"][0]["code"])
        listed = await client.request("POST", client.path("/resale"), json={"code": code})
        return listed.status_code == 201


async def after_sale_round(
    base_url: str,
    token: str,
    round_fans: int,
    payer: StripePayer | None,
    first_address: int,
    deadline_s: float,
) -> dict[str, Any]:
    """Runs the round; its figures, and the sale's id as ``round_event_id``."""
    event = await create_demo_event(
        base_url,
        token,
        tickets=2,
        window_seconds=1.5,
        hold_seconds=HOLD_SECONDS,
        per_person_limit=1,
        pow_difficulty=0,
    )
    event_id = str(event["id"])
    buyers = [
        SimulatedFan(base_url, event, 1, payer, None, fan_address(first_address + who))
        for who in range(2)
    ]
    arrive = time.monotonic() + 0.2
    await asyncio.wait_for(asyncio.gather(*(b.run(arrive) for b in buyers)), deadline_s)
    figures: dict[str, Any] = {"round_event_id": event_id, "round_opened": False}
    sellers = [b for b in buyers if b.outcome.tickets]
    if not sellers or not await _put_back(base_url, sellers[0]):
        return figures
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        opened = await _wait_for_round(http, token, event_id)
        if opened.get("round_state") != "buffering":
            return figures
        # The round's commitment as a fan sees it while it is open: the draw
        # revealed later must keep it.
        committed = (await http.get(f"/api/events/{event_id}/draw/rounds/1")).json()
        figures["round_seed_hash"] = committed.get("seed_hash")
        closes_in = opened["round_drop_at"] / 1000 - time.time() - ARRIVE_BEFORE_CLOSE_S
        start = time.monotonic()
        fans = [
            SimulatedFan(base_url, event, 1, payer, None, fan_address(first_address + 2 + who))
            for who in range(round_fans)
        ]
        runs = [
            asyncio.create_task(fan.run(start + max(0.0, closes_in) * who / max(1, round_fans)))
            for who, fan in enumerate(fans)
        ]
        _, pending = await asyncio.wait(runs, timeout=deadline_s)
        for task in pending:
            task.cancel()
        published = await http.get(f"/api/events/{event_id}/draw/rounds/1")
        record: dict[str, Any] = published.json() if published.status_code == 200 else {}
    winners = [fan.outcome for fan in fans if fan.outcome.tickets]
    numbers = [fan.outcome.number for fan in fans if fan.outcome.number]
    figures |= {
        "round_opened": True,
        # The round's public record (web/round_draws.py): how many it drew.
        "round_entrants": record.get("entrants"),
        "round_fans_placed": len(numbers),
        # The round's seat went to its first number, and nobody else got one.
        "round_first_bought": len(winners) == 1 and winners[0].number == min(numbers, default=0),
        "round_fans_unfinished": len(pending),
        "round_fan_errors": sum(len(fan.outcome.errors) for fan in fans),
    }
    return figures


async def round_figures(
    stack: Stack, payer: StripePayer | None, round_fans: int, crowd: int, deadline_s: float
) -> dict[str, Any]:
    """:func:`after_sale_round` beside a drop of ``crowd`` fans, with its resale
    counted in the database; nothing when ``round_fans`` is 0."""
    if not round_fans:
        return {}
    # Past the crowd's addresses and the resale's late buyers'.
    first_address = crowd + 1_000
    token = stack.settings.organiser_token
    # Its fans pay in time: paying late is the drop's figure (late_payers), not the round's.
    on_time = StripePayer(payer.client, late_share=0.0) if payer is not None else None
    figures = await after_sale_round(
        stack.base_url, token, round_fans, on_time, first_address, deadline_s
    )
    event_id = figures["round_event_id"]
    resold = resale_figures(stack.settings, event_id)["resold"]
    # Checked as an auditor would, from what the server publishes alone.
    draw_url = f"{stack.base_url}/api/events/{event_id}/draw"
    verdict = await asyncio.to_thread(verify_round, draw_url, 1, figures.get("round_seed_hash"))
    return figures | {"round_resold": resold, "round_verified": verdict.ok}
