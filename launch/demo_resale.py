"""The demo's resale: a few fans who bought put a ticket back mid-sale, as the
ticket page's "Can't go?" card does (web/resale.py), and the next fans in line
buy those seats.

Each seller is one of the first fans with tickets; it asks for its own orders
(``/orders/mine``, as its page does) and puts one ticket back from its own
session and address, while the rest of the crowd still waits. When the crowd
is done and a seat put back is still unsold (everyone had left), one more fan
comes to the back of the queue and buys it. What the summary says is counted
from the database (:func:`resale_figures`): listings resold whose seller was
refunded, not what the fans here believe.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select

from fairdrop.protocol import FanState
from fairdrop.settings import Settings
from launch.demo_fans import SimulatedFan, StripePayer, fan_address
from launch.fan_client import FanClient
from purchase.db import make_engine, open_session
from purchase.models import Order, ResaleListing
from purchase.resale import LISTED, resold_count

# How often the sellers look for fans who have their tickets.
POLL_S = 0.05
# A late buyer told "sold out" by a socket that had not heard the seat yet comes
# back after about a clock step (the heartbeat), this many times at most.
CLOCK_STEP_S = 1.0
COMEBACKS = 5


class DemoResale:
    """The sellers, started beside the crowd; :meth:`finish` once the crowd is done."""

    def __init__(
        self,
        base_url: str,
        event: dict[str, Any],
        fans: Sequence[SimulatedFan],
        sellers: int,
        payer: StripePayer | None,
        deadline_s: float,
    ) -> None:
        self.base_url = base_url
        self.event = event
        self.crowd = len(fans)
        self.payer = payer
        self.deadline_s = deadline_s
        # Each seller's client and the code it put back.
        self.put_back: list[tuple[FanClient, str]] = []
        self._selling = asyncio.create_task(self._resell(fans, sellers))

    async def _resell(self, fans: Sequence[SimulatedFan], sellers: int) -> None:
        """Once ``sellers`` fans have tickets, each puts one back."""
        deadline = time.monotonic() + self.deadline_s
        chosen: list[SimulatedFan] = []
        while time.monotonic() < deadline:
            chosen = [fan for fan in fans if fan.outcome.tickets and fan.cookie][:sellers]
            if len(chosen) >= sellers:
                break
            await asyncio.sleep(POLL_S)
        for fan in chosen:
            client = FanClient(
                self.base_url, fan.event_id, fan.cookie or "", local_address=fan.address
            )
            mine = (await client.request("GET", client.path("/orders/mine"))).raise_for_status()
            code = str(mine.json()["orders"][0]["tickets"][0]["code"])
            listed = await client.request("POST", client.path("/resale"), json={"code": code})
            if listed.status_code == 201:
                self.put_back.append((client, code))

    async def finish(self) -> list[SimulatedFan]:
        """Seats put back and still unsold (the crowd had left) go to new fans at the
        back of the queue, one each; those fans, once they have run. Fans who left
        when told "sold out" keep their places, and each has their turn before
        these (invariant 4): with many of them, these may not get through in time."""
        await self._selling
        unsold = 0
        for client, code in self.put_back:
            answer = await client.request("GET", client.path(f"/resale/{code}"))
            listing = answer.raise_for_status().json()["listing"]
            unsold += listing is not None and listing["status"] == LISTED
        addresses = [fan_address(self.crowd + n) for n in range(unsold)]
        if not addresses:
            return []
        running = [asyncio.create_task(self._buy_one(address)) for address in addresses]
        done, pending = await asyncio.wait(running, timeout=self.deadline_s)
        for task in pending:
            task.cancel()
        return [task.result() for task in done]

    async def _buy_one(self, address: str) -> SimulatedFan:
        """One fan at the back of the queue buys a seat put back. A socket opened
        right after the put-back may still hear the sale's last word, "sold out",
        until the clock's next step publishes the seat: the fan then comes back
        (its place kept), a few steps at most."""
        fan = SimulatedFan(self.base_url, self.event, 1, self.payer, None, address)
        for _ in range(COMEBACKS):
            await fan.run(time.monotonic())
            if fan.outcome.tickets or fan.outcome.final_state != FanState.SOLD_OUT:
                break
            await asyncio.sleep(CLOCK_STEP_S)
            fan = SimulatedFan(self.base_url, self.event, 1, self.payer, fan.cookie, address)
        return fan


def resale_refunds(settings: Settings, event_id: str) -> set[str]:
    """The sellers' payments refunded for a resale (some of Stripe's refunds are these)."""
    engine = make_engine(settings)
    try:
        with open_session(engine) as session:
            return set(
                session.exec(
                    select(Order.payment_ref)
                    .join(ResaleListing, col(ResaleListing.seller_order_id) == col(Order.id))
                    .where(
                        ResaleListing.event_id == event_id,
                        col(ResaleListing.refund_ref).is_not(None),
                    )
                ).all()
            )
    finally:
        engine.dispose()


def resale_figures(settings: Settings, event_id: str) -> dict[str, int]:
    """``resold``: listings resold with the seller refunded, counted in the database."""
    engine = make_engine(settings)
    try:
        return {"resold": resold_count(engine, event_id)}
    finally:
        engine.dispose()
