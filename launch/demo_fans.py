"""The demo's simulated fan: a browser's calls (join, socket, buy, pay) from an
address of its own, and the proof of work its page solves as it opens.

Used by the demo (launch/demo.py) and, for each place it gets, by the
scripted scalper (launch/demo_bots.py).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import httpx
import stripe

from fairdrop.errors import ErrorCode
from fairdrop.protocol import FanState, MessageType
from launch.fan_client import (
    TLS,
    FanClient,
    FanPage,
    Socket,
    Step,
    event_path,
    http_client,
    items_of,
)
from launch.fan_proof import solution_for
from launch.localstripe_server import pay_with_card

# A test card that always succeeds.
CARD = "pm_card_visa"
# How long after its hold's end a late payer confirms.
LATE_BY_S = 0.5
# How an admitted fan ends when it found no stock left for it: its hold refused
# for stock, or told the sale sold out before it held anything.
NO_STOCK = frozenset({ErrorCode.SOLD_OUT, ErrorCode.NOT_ENOUGH_STOCK, FanState.SOLD_OUT})
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
    # The entrant id the join answered (one per identity), and its signed receipt.
    entrant_id: str = ""
    receipt: dict[str, Any] | None = None
    # How long the fan, arrived, still waited for its proof of work to be solved.
    proof_wait_s: float = 0.0

    def found_empty(self, serving: int) -> bool:
        """Admitted (a number up to the final serving counter), and ended without
        tickets because none were left for it."""
        return 0 < self.number <= serving and not self.tickets and self.final_state in NO_STOCK

    @staticmethod
    def admitted_found_empty(outcomes: list[FanOutcome], serving: int) -> dict[str, Any]:
        """How many admitted fans found no stock, and their share of everyone admitted
        (the admission bound in queue_engine/lua/tick.lua keeps it at most 1%)."""
        empty = sum(1 for o in outcomes if o.found_empty(serving))
        return {
            "admitted_found_empty": empty,
            "admitted_found_empty_share": round(empty / serving, 4) if serving else 0.0,
        }


@dataclass(frozen=True)
class FanProof:
    """A fan's solved proof of work (None: the sale asked none), and its CPU."""

    altcha: str | None
    cpu_s: float


def fan_proof(base_url: str, event_id: str, address: str) -> FanProof:
    """What a fan's page does as it opens: fetch a challenge, solve it (in a process
    of its own here, as a browser's Web Worker would on the fan's device)."""
    started = time.process_time()
    transport = httpx.HTTPTransport(local_address=address, verify=TLS)
    with httpx.Client(base_url=base_url, timeout=30, transport=transport) as http:
        challenge = http.get(event_path(event_id, "/challenge")).raise_for_status().json()
    return FanProof(solution_for(challenge), time.process_time() - started)


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
    """One fan: joins over HTTP, follows the socket, buys when admitted, pays.

    What it does on each message is launch/fan_client.py's ``FanPage``; this
    makes the calls (from the fan's own address) and keeps the demo's figures.
    """

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
        self.page = FanPage(want)
        self.outcome = FanOutcome()
        self._paying: asyncio.Task[None] | None = None
        # The session this fan's browser has: signed in already, or made by the join.
        self.client = FanClient(self.base_url, self.event_id, cookie or "", local_address=address)
        # The proof of work this fan's page is solving, when the sale asks one.
        self.proof: Future[FanProof] | None = None
        # The discount code this fan types on the buy form ('' for none: launch/demo_discounts.py).
        self.discount_code = ""

    @property
    def cookie(self) -> str | None:
        return self.client.cookie or None

    async def run(self, arrive_at: float) -> FanOutcome:
        await asyncio.sleep(max(0.0, arrive_at - time.monotonic()))
        async with http_client(self.base_url, self.address) as self.client.http:
            return await self._follow_the_sale()

    async def _follow_the_sale(self) -> FanOutcome:
        try:
            joined = (await self.client.post_join(await self._proof())).raise_for_status()
            answer = joined.json()
            self.outcome.entrant_id = str(answer["entrant_id"])
            self.outcome.receipt = answer.get("receipt")
            async with await self.client.open_socket() as socket:
                async for message in socket:
                    if await self._on_message(message, socket):
                        break
        except Exception as exc:  # a fan's failure is a figure, not a crash
            self.outcome.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            if self._paying is not None:
                self._paying.cancel()
        return self.outcome

    async def _proof(self) -> str | None:
        """The join's proof of work, waited for if not solved yet; None if the sale asks none."""
        if self.proof is None:
            return None
        waiting = time.monotonic()
        altcha = (await asyncio.wrap_future(self.proof)).altcha
        self.outcome.proof_wait_s = time.monotonic() - waiting
        return altcha

    async def _on_message(self, message: dict[str, Any], socket: Socket) -> bool:
        """True when this fan is finished."""
        page = self.page
        step = page.read(message)
        self.outcome.number = page.number
        if step is Step.ASK:
            assert page.admission is not None
            self.outcome.admitted_deadline_ms = page.admission["deadline_ms"]
            items = items_of(self.type_id, page.want)
            asked = await self.client.ask_for(page.admission["token"], items, self.discount_code)
            asked.raise_for_status()
        elif step is Step.PAY:
            (await self.client.pay(page.hold_id)).raise_for_status()
        elif step is Step.CONFIRM and self.payer is not None:
            # Stripe's pending payment: paid in the background, so the socket is read on.
            self.outcome.pays_late = self.payer.next_pays_late()
            self._paying = asyncio.create_task(self._pay(str(message["client_secret"]), socket))
        elif step is Step.FINISHED:
            if message.get("t") == MessageType.ERROR:
                self.outcome.errors.append(str(message.get("message")))
                return True
            self.outcome.final_state = page.final
            self.outcome.tickets = page.tickets
            self.outcome.late_order = page.late
            self.outcome.refunded = page.final == ErrorCode.REFUNDED
            return True
        return False

    async def _pay(self, client_secret: str, socket: Socket) -> None:
        assert self.payer is not None
        if self.outcome.pays_late:
            # Past the hold's end, so the payment finds the hold expired.
            expires_s = self.page.hold_expires_ms / 1000
            await asyncio.sleep(max(0.0, expires_s - time.time()) + LATE_BY_S)
        try:
            await self.payer.pay(client_secret)
        except Exception as exc:  # no order will come: this fan is finished
            self.outcome.errors.append(f"{type(exc).__name__}: {exc}")
            await socket.close()


def fan_address(who: int) -> str:
    """Fan ``who``'s own loopback address: 127.1.0.1, 127.1.0.2, ... (Linux routes all of
    127.0.0.0/8 to the loopback interface), 250 to a /24, room for 64,000 fans."""
    return f"127.1.{who // 250}.{who % 250 + 1}"


def proof_figures(fans: list[SimulatedFan]) -> dict[str, Any]:
    """What the fans' proofs of work cost them: CPU each, and any wait once arrived."""
    futures = [f.proof for f in fans if f.proof is not None]
    proofs = [p.result() for p in futures if p.done() and not p.cancelled() and not p.exception()]
    solved = [p for p in proofs if p.altcha]
    return {
        "fan_pow_cpu_s_per_fan": round(sum(p.cpu_s for p in solved) / max(1, len(solved)), 4),
        "fan_proof_wait_s_max": round(max((f.outcome.proof_wait_s for f in fans), default=0), 2),
    }
