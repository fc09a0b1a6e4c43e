"""``fairdrop demo``: a whole drop with simulated fans on real websockets.

It starts the real processes (fairdrop.stack), creates an event through the
organiser API, sends fans through the fan API and websockets like browsers
would, and checks the outcome from outside: sold, oversold, admission order,
and the draw recomputed by the same check as ``fairdrop verify-draw``.

With ``payments="localstripe"`` the fans pay through the real ``stripe``
library against localstripe on loopback, as Stripe.js would on their pages,
and a share of them pays only after their hold ended, on purpose: each of
those must end with tickets (still free) or with a refund.

With ``access`` other than "open" every fan signs in first, the way the
sale asks (fairdrop/demo_access.py), and the summary says whether each
identity was one entrant with one place, whatever device it came back on.

With ``bots`` a scripted scalper goes for the sale beside the fans
(fairdrop/demo_bots.py). The sale then asks the server's default proof of
work of every new entrant, so each fan's browser solves one too: on its own
device on the night, here in processes beside this event loop, while the
sale's page is open before the window (``POW_LEAD_SECONDS``).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import secrets
import ssl
import tempfile
import time
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import stripe
import websockets
from sqlalchemy import func
from sqlmodel import select
from websockets.asyncio.client import ClientConnection

from buffer.verify import verify_draw
from fairdrop.demo_access import (
    Doorway,
    Entry,
    access_servers,
    identity_figures,
    outsiders_refused,
    second_devices,
)
from fairdrop.localstripe_server import (
    pay_with_card,
    register_webhook,
    running_localstripe,
    stripe_client,
)
from fairdrop.settings import Settings, parse_rate_limit
from fairdrop.stack import Stack
from fairdrop.tokens import FAN_COOKIE
from purchase.db import make_engine, open_session
from purchase.models import Order, StrayPayment, Ticket
from queue_engine.joining import NO_SHARE, AddressShare
from web.proof_of_work import challenge_path, solve

if TYPE_CHECKING:
    from fairdrop.demo_bots import BotFarm

DONE_STATES = {"sold_out", "turn_over", "done"}
# Every fan's client is its own; made once, the TLS context would otherwise
# cost each of them about 35 ms of CPU (every URL here is http).
CLIENT_TLS = ssl.create_default_context()
# Short holds, so the late payers' holds end within the demo (5 s is the least allowed).
LOCALSTRIPE_HOLD_SECONDS = 8
LOCALSTRIPE_LATE_PAYERS = 0.15
# A test card that always succeeds.
CARD = "pm_card_visa"
# A list sale's window opens this long after it is made: the organiser imports
# the list and fans open their personal links (about 1 ms each) meanwhile.
LIST_LEAD_SECONDS = 2.0
# A sale the bots go for opens this long after it is made, and longer by the
# fans' proofs of work: their pages fetch and solve them meanwhile (each on its
# own device on the night; here, in PROOF_WORKERS processes, each fetch and
# solve costs about FAN_PROOF_CPU_S of a core at the default difficulty), and
# the bots start.
POW_LEAD_SECONDS = 2.0
FAN_PROOF_CPU_S = 0.035
PROOF_WORKERS = os.cpu_count() or 2
# How long after its hold's end a late payer confirms.
LATE_BY_S = 0.5


@dataclass(frozen=True)
class DemoPlan:
    fans: int
    tickets: int
    window_seconds: float = 3.0
    late_share: float = 0.1
    workers: int = 2
    rate_per_min: int = 6_000
    cap: int = 50
    hold_seconds: int = 20
    per_person_limit: int = 2
    deadline_seconds: float = 90.0
    seed: int | None = None
    # "local": the instant local provider; "localstripe": see the module docstring.
    payments: str = "local"
    # With localstripe: the share of the paying fans who pay after their hold ended.
    late_payers: float = 0.0
    # Who may enter (fairdrop/identity.py ACCESS_POLICIES) and how fans sign in.
    access: str = "open"
    # The share of identities that come back on a second device.
    second_devices: float = 0.1
    # Browsers nobody signed in that try to join a sale asking who they are.
    outsiders: int = 5
    # Scalper scripts beside the fans (fairdrop/demo_bots.py), and their addresses.
    bots: int = 0
    bot_addresses: int = 4


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


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def create_demo_event(
    base_url: str,
    organiser_token: str,
    tickets: int = 100,
    window_seconds: float = 60.0,
    rate_per_min: int = 120,
    cap: int = 50,
    hold_seconds: int = 300,
    per_person_limit: int = 4,
    access: str = "open",
    opens_in_seconds: float = 0.0,
    pow_difficulty: int | None = None,
) -> dict[str, Any]:
    """A demo sale; ``pow_difficulty`` None leaves the proof of work to the server's default."""
    opens = datetime.now(UTC) + timedelta(seconds=opens_in_seconds)
    body: dict[str, Any] = {
        "name": "fairdrop demo night",
        "access": access,
        "opens_at": _iso(opens),
        "drop_at": _iso(opens + timedelta(seconds=window_seconds)),
        "rate_per_min": rate_per_min,
        "cap": cap,
        "hold_seconds": hold_seconds,
        "ticket_types": [
            {
                "id": "ga",
                "name": "General admission",
                "price_cents": 4500,
                "currency": "EUR",
                "stock": tickets,
                "per_person_limit": per_person_limit,
            }
        ],
    }
    if pow_difficulty is not None:
        body["pow_difficulty"] = pow_difficulty
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post(
            "/api/events", json=body, headers={"Authorization": f"Bearer {organiser_token}"}
        )
        response.raise_for_status()
        event: dict[str, Any] = response.json()
        return event


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


async def _access_figures(
    doorway: Doorway, http: httpx.AsyncClient, plan: DemoPlan, fans: list[SimulatedFan]
) -> dict[str, Any]:
    """Who got in how: identities, entrants, second devices and refused outsiders."""
    joined = [(who, fan) for who, fan in enumerate(fans) if fan.outcome.entrant_id]
    every = max(1, round(1 / plan.second_devices)) if plan.second_devices else 0
    cookies = {who: fan.cookie for who, fan in joined[::every]} if every else {}
    first, again = await second_devices(doorway, http, cookies)
    entries = [Entry(who, fan.outcome.entrant_id, fan.outcome.number) for who, fan in joined]
    return {
        "access": doorway.policy,
        **identity_figures([*entries, *first], again, first),
        "outsiders": plan.outsiders if doorway.policy != "open" else 0,
        "outsiders_refused": await outsiders_refused(doorway, http, plan.outsiders),
    }


def entrant_share(settings: Settings) -> AddressShare:
    """Each address's share of new anonymous entrants, read as the web process reads it."""
    item = parse_rate_limit(
        "FAIRDROP_LIMIT_ENTRANTS_PER_ADDRESS", settings.limit_entrants_per_address
    )
    return NO_SHARE if item is None else AddressShare.of(item.amount, item.get_expiry())


def fan_address(who: int) -> str:
    """Fan ``who``'s own loopback address: 127.1.0.1, 127.1.0.2, ... (Linux routes all of
    127.0.0.0/8 to the loopback interface), 250 to a /24, room for 64,000 fans."""
    return f"127.1.{who // 250}.{who % 250 + 1}"


def admitted_in_order(outcomes: list[FanOutcome], serving: int) -> bool:
    """Nobody was let in before someone with a lower number (invariant 4).

    Admission time is the server's own (the admission deadline minus the hold
    time, equal for everyone), so a lower number must never have a later one;
    and every number up to the final serving counter must have been let in.
    """
    admitted = sorted(
        (o.number, o.admitted_deadline_ms) for o in outcomes if o.admitted_deadline_ms
    )
    times = [t for _, t in admitted]
    numbers = {n for n, _ in admitted}
    waiting_fans = {o.number for o in outcomes if o.number and not o.admitted_deadline_ms}
    return (
        times == sorted(times)
        and all(n <= serving for n in numbers)
        and all(n > serving for n in waiting_fans)
    )


async def simulate_drop(
    base_url: str,
    token: str,
    plan: DemoPlan,
    payer: StripePayer | None = None,
    doorway: Doorway | None = None,
    share: AddressShare = NO_SHARE,
) -> dict[str, Any]:
    """Runs one drop against a running fairdrop and returns its figures.

    ``payer``: the fans pay through Stripe with it (the stack must take Stripe
    payments); without it the stack's payments must complete by themselves.
    ``doorway``: how fans sign in for the plan's access policy (its servers
    running); none for an open sale. ``share``: each address's share of new
    entrants, as the server's settings make it; the bots' places are checked
    against it.
    """
    if not plan.bots:
        return await _drop(base_url, token, plan, payer, doorway)
    # Imported only when asked for: the bots build on this module's fans.
    from fairdrop.demo_bots import BotFarm

    with BotFarm(plan.bots, plan.bot_addresses, share) as farm:
        await asyncio.to_thread(farm.warm_up)
        return await _drop(base_url, token, plan, payer, doorway, farm)


def _lead_seconds(plan: DemoPlan) -> float:
    """How long after it is made the sale's window opens."""
    if plan.access == "list":
        return LIST_LEAD_SECONDS
    if plan.bots:
        # Fans who arrive in the window come with their proof solved, as they would.
        return POW_LEAD_SECONDS + plan.fans * FAN_PROOF_CPU_S / PROOF_WORKERS
    return 0.0


async def _drop(
    base_url: str,
    token: str,
    plan: DemoPlan,
    payer: StripePayer | None,
    doorway: Doorway | None,
    farm: BotFarm | None = None,
) -> dict[str, Any]:
    doorway = doorway or Doorway("open")
    doorway.base_url = base_url
    rng = random.Random(plan.seed)
    late = round(plan.fans * plan.late_share)
    lead = _lead_seconds(plan)
    # Fans sign in before the window opens, as they would on the night: with an
    # email or a login before the sale even exists, with a personal link once
    # the organiser has imported the list.
    signing_in = time.monotonic()
    cookies = await doorway.sign_in_all(plan.fans) if plan.access in {"email", "login"} else []
    event = await create_demo_event(
        base_url,
        token,
        tickets=plan.tickets,
        window_seconds=plan.window_seconds,
        rate_per_min=plan.rate_per_min,
        cap=plan.cap,
        hold_seconds=plan.hold_seconds,
        per_person_limit=plan.per_person_limit,
        access=plan.access,
        opens_in_seconds=lead,
        # The simulated fans are measured on the queue, not on the proof of work
        # (loadtests/pow_bench.py measures that): no proof. A person's browser
        # on the demo's own sale (`fairdrop demo` without --fans) solves the
        # default, and so does everyone on a sale the bots go for.
        pow_difficulty=None if farm else 0,
    )
    doorway.event_id = str(event["id"])
    if farm is not None:
        farm.start(base_url, event, deadline=time.time() + plan.deadline_seconds)
    started = time.monotonic() + lead
    arrivals = [
        started + rng.uniform(0.1, plan.window_seconds - 0.4) for _ in range(plan.fans - late)
    ]
    arrivals += [started + plan.window_seconds + rng.uniform(0.3, 1.5) for _ in range(late)]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        await doorway.open_event(http, token, plan.fans)
        if plan.access == "list":
            cookies = await doorway.sign_in_all(plan.fans)
        sign_in_seconds = time.monotonic() - signing_in
        fans = [
            SimulatedFan(
                base_url,
                event,
                rng.choice([1, 2]),
                payer,
                cookies[who] if cookies else None,
                fan_address(who),
            )
            for who in range(len(arrivals))
        ]
        if farm is not None:
            # Solved in the order the fans arrive, so the first to come are ready first.
            for fan, _ in sorted(zip(fans, arrivals, strict=True), key=lambda pair: pair[1]):
                fan.proof = farm.solve_for(base_url, doorway.event_id, fan.address)
        tasks = [asyncio.create_task(fan.run(at)) for fan, at in zip(fans, arrivals, strict=True)]
        _, pending = await asyncio.wait(tasks, timeout=plan.deadline_seconds)
        for task in pending:
            task.cancel()
        # The bots stop by the same deadline; their tickets are in the stats below.
        bot_reports = await farm.reports(plan.deadline_seconds) if farm is not None else []
        access = await _access_figures(doorway, http, plan, fans)
        if plan.access != "open":
            access["sign_in_seconds"] = round(sign_in_seconds, 2)
        headers = {"Authorization": f"Bearer {token}"}
        stats = (await http.get(f"/api/events/{event['id']}/stats", headers=headers)).json()
    outcomes = [fan.outcome for fan in fans]
    bot_outcomes = [o for report in bot_reports for o in report.outcomes]
    verdict = await asyncio.to_thread(verify_draw, f"{base_url}/api/events/{event['id']}/draw")
    stock = stats["stock_by_type"]
    oversold = sum(
        max(0, stats["sold_by_type"][t] + stats["held_by_type"][t] - stock[t]) for t in stock
    )
    summary: dict[str, Any] = {
        "fans": plan.fans,
        "tickets": plan.tickets,
        "sold": stats["sold"],
        "oversold": oversold,
        "admitted_in_order": admitted_in_order(outcomes + bot_outcomes, int(stats["serving"])),
        "draw_verified": verdict.ok,
        "event_id": event["id"],
        "entrants_drawn": stats["entrants"],
        "late_joiners": stats["last_number"] - stats["entrants"],
        # Fans who arrived once everything was sold get no number, only "sold out".
        "joined_after_sold_out": sum(
            1 for o in outcomes if o.number == 0 and o.final_state == "sold_out"
        ),
        "admitted": stats["serving"],
        "fans_with_tickets": sum(1 for o in outcomes if o.tickets),
        "tickets_received": sum(o.tickets for o in outcomes),
        "fans_unfinished": len(pending),
        "fan_errors": sum(len(o.errors) for o in outcomes),
        **access,
    }
    # One place per identity, on the server's side too: no more queue places than
    # people (and the bots' identities, each of which had to be placed).
    bot_entries = sum(len(report.entry_times) for report in bot_reports)
    summary["places_within_identities"] = (
        stats["last_number"] <= summary["identities"] + bot_entries
    )
    if payer is not None:
        paid_late = [o for o in outcomes if o.pays_late]
        summary["late_payers"] = len(paid_late)
        # Their orders must say late: they paid after the hold ended.
        summary["late_paid"] = sum(1 for o in paid_late if o.tickets and o.late_order)
        summary["late_refunded"] = sum(1 for o in paid_late if o.refunded)
    if farm is not None:
        summary.update(_proof_figures(fans))
        summary.update(farm.figures(bot_reports, event, stats, summary["tickets_received"]))
    return summary


def _proof_figures(fans: list[SimulatedFan]) -> dict[str, Any]:
    """What the fans' proofs of work cost them: CPU each, and any wait once arrived."""
    futures = [f.proof for f in fans if f.proof is not None]
    proofs = [p.result() for p in futures if p.done() and not p.cancelled() and not p.exception()]
    solved = [p for p in proofs if p.altcha]
    return {
        "fan_pow_cpu_s_per_fan": round(sum(p.cpu_s for p in solved) / max(1, len(solved)), 4),
        "fan_proof_wait_s_max": round(max((f.outcome.proof_wait_s for f in fans), default=0), 2),
    }


def count_orders(settings: Settings, event_id: str) -> dict[str, int]:
    """What the database holds for the event: orders and tickets, counted there."""
    engine = make_engine(settings)
    try:
        with open_session(engine) as session:
            orders = session.exec(
                select(func.count()).select_from(Order).where(Order.event_id == event_id)
            ).one()
            tickets = session.exec(
                select(func.count())
                .select_from(Ticket)
                .join(Order, Ticket.order_id == Order.id)  # type: ignore[arg-type]
                .where(Order.event_id == event_id)
            ).one()
    finally:
        engine.dispose()
    return {"orders_in_db": int(orders), "tickets_in_db": int(tickets)}


def count_payments(settings: Settings, event_id: str) -> tuple[int, set[str]]:
    """Paid orders, and the payments refunded because they bought nothing, from the database."""
    engine = make_engine(settings)
    try:
        with open_session(engine) as session:
            paid = session.exec(
                select(func.count())
                .select_from(Order)
                .where(Order.event_id == event_id, Order.status == "paid")
            ).one()
            refunded = session.exec(
                select(StrayPayment.payment_ref).where(
                    StrayPayment.event_id == event_id,
                    StrayPayment.refund_ref.is_not(None),  # type: ignore[union-attr]
                )
            ).all()
    finally:
        engine.dispose()
    return int(paid), set(refunded)


def refunded_at_stripe(client: stripe.StripeClient) -> set[str]:
    """The payment intents with a refund, as Stripe's (here localstripe's) API lists them."""
    listed = client.v1.refunds.list(params={"limit": 100})
    return {str(refund.payment_intent) for refund in listed.auto_paging_iter()}


def payment_figures(
    settings: Settings, client: stripe.StripeClient, summary: dict[str, Any]
) -> dict[str, Any]:
    """What the database and Stripe say was paid and refunded, and whether it adds up."""
    paid, refunded = count_payments(settings, summary["event_id"])
    at_stripe = refunded_at_stripe(client)
    consistent = (
        summary["orders_in_db"] == paid
        and summary["tickets_in_db"] == summary["sold"]
        and summary["oversold"] == 0
        and summary["late_paid"] + summary["late_refunded"] == summary["late_payers"]
        and refunded == at_stripe
    )
    return {
        "paid": paid,
        "refunded": len(refunded),
        "refunds_at_stripe": len(at_stripe),
        "payments_consistent": consistent,
    }


def with_localstripe(settings: Settings, api_base: str) -> Settings:
    """Stripe payments against localstripe, with keys made up for this run."""
    return settings.with_overrides(
        payment_provider="stripe",
        stripe_secret_key="sk_test_" + secrets.token_hex(12),
        stripe_webhook_secret="whsec_" + secrets.token_hex(16),
        stripe_publishable_key="pk_test_" + secrets.token_hex(12),
        stripe_api_base=api_base,
        stripe_js_url=f"{api_base}/js.stripe.com/v3/",
    )


def run_demo(settings: Settings, plan: DemoPlan) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fairdrop-demo-") as tmp, ExitStack() as servers:
        demo_settings = settings.with_overrides(data_dir=Path(tmp), port=0)
        client = None
        if plan.payments == "localstripe":
            api_base = servers.enter_context(running_localstripe(Path(tmp) / "localstripe.log"))
            demo_settings = with_localstripe(demo_settings, api_base)
            client = stripe_client(api_base, demo_settings.stripe_secret_key)
        demo_settings, doorway = servers.enter_context(
            access_servers(plan.access, demo_settings, Path(tmp))
        )
        stack = servers.enter_context(Stack(demo_settings, workers=plan.workers))
        payer = None
        if client is not None:
            s = stack.settings
            register_webhook(s.stripe_api_base, stack.base_url, s.stripe_webhook_secret)
            payer = StripePayer(client, plan.late_payers)
        share = entrant_share(stack.settings)
        summary = asyncio.run(
            simulate_drop(
                stack.base_url, stack.settings.organiser_token, plan, payer, doorway, share
            )
        )
        summary.update(count_orders(stack.settings, summary["event_id"]))
        if client is not None:
            summary.update(payment_figures(stack.settings, client, summary))
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary
