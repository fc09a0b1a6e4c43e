"""The demo's simulated fan: a browser's calls (join, socket, buy, pay) from an
address of its own, and the proof of work its page solves as it opens.

Used by the demo (launch/demo.py) and, for each place it gets, by the
scripted scalper (launch/demo_bots.py).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import ssl
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import httpx
import stripe
import websockets
from websockets.asyncio.client import ClientConnection

from fairdrop.tokens import FAN_COOKIE
from launch.localstripe_server import pay_with_card
from web.proof_of_work import challenge_path, solve

DONE_STATES = {"sold_out", "turn_over", "done"}
# Every fan's client is its own; made once, the TLS context would otherwise
# cost each of them about 35 ms of CPU (every URL here is http).
CLIENT_TLS = ssl.create_default_context()
# A test card that always succeeds.
CARD = "pm_card_visa"
# How long after its hold's end a late payer confirms.
LATE_BY_S = 0.5
# The fans' browsers' proofs of work are solved in this many processes (demo_bots.BotFarm).
PROOF_WORKERS = os.cpu_count() or 2


@dataclass
class FanOutcome:
    number: int = 0
    admitted_deadline_ms: int = 0
    tickets: int = 0
    final_state: str = ""
    errors: list[str] = field(default_factory=list)
    # With Stripe: paid after the hold ended, on purpose; and what came of a payment.
    pays_late: bool = False
    late_order: bool = False
    refunded: bool = False
    # The entrant id the join answered (one per identity).
    entrant_id: str = ""
    # How long the fan, arrived, still waited for its proof of work to be solved.
    proof_wait_s: float = 0.0


@dataclass(frozen=True)
class FanProof:
    """A fan's solved proof of work (None: the sale asked none), and its CPU."""

    altcha: str | None
    cpu_s: float


def fan_proof(base_url: str, event_id: str, address: str) -> FanProof:
    """What a fan's page does as it opens: fetch a challenge, solve it (in a process
    of its own here, as a browser's Web Worker would on the fan's device)."""
    started = time.process_time()
    transport = httpx.HTTPTransport(local_address=address, verify=CLIENT_TLS)
    with httpx.Client(base_url=base_url, timeout=30, transport=transport) as http:
        challenge = http.get(challenge_path(event_id)).raise_for_status().json()
    altcha = solve(challenge) if challenge.get("required") else None
    return FanProof(altcha, time.process_time() - started)


class StripePayer:
    """Pays as Stripe.js does on a fan's page: attaches a test card and confirms.

    Of the fans who come to pay, the first and then about every
    ``1 / late_share``-th one are told to pay after their hold ended.
    """

    def __init__(self, client: stripe.StripeClient, late_share: float) -> None:
        self.client = client
        self.late_share = late_share
        self.payers = 0

    def next_pays_late(self) -> bool:
        n, self.payers = self.payers, self.payers + 1
        return math.ceil((n + 1) * self.late_share) > math.ceil(n * self.late_share)

    async def pay(self, client_secret: str) -> None:
        await asyncio.to_thread(self._pay, client_secret.split("_secret_")[0])

    def _pay(self, intent_id: str) -> None:
        pay_with_card(self.client, intent_id, CARD)


class SimulatedFan:
    """One fan: joins over HTTP, follows the socket, buys when admitted, pays."""

    def __init__(
        self,
        base_url: str,
        event: dict[str, Any],
        want: int,
        payer: StripePayer | None = None,
        cookie: str | None = None,
        address: str = "127.0.0.1",
    ) -> None:
        self.payer = payer
        self.base_url = base_url.rstrip("/")
        # Each fan speaks from its own loopback address, as fans on the night
        # come from their own homes and phones: the per-address limits see them
        # as the many people they are.
        self.address = address
        self.event_id = str(event["id"])
        self.type_id = str(event["ticket_types"][0]["id"])
        self.want = want
        self.outcome = FanOutcome()
        self._asked = False
        self._hold_expires_ms = 0
        self._paying: asyncio.Task[None] | None = None
        # The session this fan's browser has: signed in already, or made by the join.
        self.cookie = cookie
        self.headers = {"Cookie": f"{FAN_COOKIE}={cookie}" if cookie else ""}
        # The proof of work this fan's page is solving, when the sale asks one.
        self.proof: Future[FanProof] | None = None

    async def run(self, arrive_at: float) -> FanOutcome:
        await asyncio.sleep(max(0.0, arrive_at - time.monotonic()))
        transport = httpx.AsyncHTTPTransport(local_address=self.address, verify=CLIENT_TLS)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=30, transport=transport
        ) as self.http:
            return await self._follow_the_sale()

    async def _follow_the_sale(self) -> FanOutcome:
        try:
            joined = await self._post(f"/api/events/{self.event_id}/join", await self._proof())
            self.outcome.entrant_id = str(joined.json()["entrant_id"])
            self.cookie = self.cookie or joined.cookies[FAN_COOKIE]
            self.headers = {"Cookie": f"{FAN_COOKIE}={self.cookie}"}
            ws_url = self.base_url.replace("http", "ws", 1) + f"/ws/events/{self.event_id}"
            async with websockets.connect(
                ws_url, additional_headers=self.headers, local_addr=(self.address, 0)
            ) as ws:
                async for raw in ws:
                    if await self._on_message(json.loads(raw), ws):
                        break
        except Exception as exc:  # a fan's failure is a figure, not a crash
            self.outcome.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            if self._paying is not None:
                self._paying.cancel()
        return self.outcome

    async def _proof(self) -> dict[str, Any] | None:
        """The join's body: the solved proof of work, waited for if not ready yet."""
        if self.proof is None:
            return None
        waiting = time.monotonic()
        altcha = (await asyncio.wrap_future(self.proof)).altcha
        self.outcome.proof_wait_s = time.monotonic() - waiting
        return {"altcha": altcha} if altcha else None

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        response = await self.http.post(path, json=body, headers=self.headers)
        self.http.cookies.clear()  # the Cookie header says who this fan is
        return response.raise_for_status()

    async def _on_message(self, message: dict[str, Any], ws: ClientConnection) -> bool:
        """True when this fan is finished."""
        kind = message.get("t")
        if kind == "status":
            return await self._on_status(message)
        if kind == "payment":
            return self._on_payment(message, ws)
        if kind == "hold_result":
            if message.get("ok"):
                hold_id = message["hold"]["id"]
                self._hold_expires_ms = int(message["hold"]["expires_at"])
                await self._post(f"/api/events/{self.event_id}/holds/{hold_id}/pay")
                return False
            if message.get("code") == "not_enough_stock" and self.want > 1:
                self.want = 1  # take what is left rather than nothing
                self._asked = False
                return False
            self.outcome.final_state = str(message.get("code"))
            return True
        if kind == "order":
            if message.get("ok"):
                self.outcome.tickets = len(message.get("tickets", []))
                self.outcome.late_order = bool(message.get("late"))
                self.outcome.final_state = "done"
            else:
                self.outcome.final_state = str(message.get("code"))
                self.outcome.refunded = self.outcome.final_state == "refunded"
            return True
        if kind == "error":
            self.outcome.errors.append(str(message.get("message")))
            return True
        return False

    def _on_payment(self, message: dict[str, Any], ws: ClientConnection) -> bool:
        """Stripe's pending payment: pay it, in the background so the socket is read on."""
        if not message.get("ok"):
            self.outcome.final_state = str(message.get("code"))
            return True
        if message.get("pending") and self.payer is not None and self._paying is None:
            self.outcome.pays_late = self.payer.next_pays_late()
            self._paying = asyncio.create_task(self._pay(str(message["client_secret"]), ws))
        return False

    async def _pay(self, client_secret: str, ws: ClientConnection) -> None:
        assert self.payer is not None
        if self.outcome.pays_late:
            # Past the hold's end, so the payment finds the hold expired.
            await asyncio.sleep(max(0.0, self._hold_expires_ms / 1000 - time.time()) + LATE_BY_S)
        try:
            await self.payer.pay(client_secret)
        except Exception as exc:  # no order will come: this fan is finished
            self.outcome.errors.append(f"{type(exc).__name__}: {exc}")
            await ws.close()

    async def _on_status(self, status: dict[str, Any]) -> bool:
        self.outcome.number = int(status.get("number") or 0)
        state = status.get("state")
        admission = status.get("admission")
        if state == "admitted" and admission and not self._asked:
            self._asked = True
            self.outcome.admitted_deadline_ms = int(admission["deadline_ms"])
            await self._post(
                f"/api/events/{self.event_id}/purchases",
                {
                    "admission_token": admission["token"],
                    "items": [{"type": self.type_id, "quantity": self.want}],
                },
            )
        if state in DONE_STATES and not self._asked:
            self.outcome.final_state = str(state)
            return True
        return False


def fan_address(who: int) -> str:
    """Fan ``who``'s own loopback address: 127.1.0.1, 127.1.0.2, ... (Linux routes all of
    127.0.0.0/8 to the loopback interface), 250 to a /24, room for 64,000 fans."""
    return f"127.1.{who // 250}.{who % 250 + 1}"
