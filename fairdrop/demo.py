"""``fairdrop demo``: a whole drop with simulated fans on real websockets.

It starts the real processes (fairdrop.stack), creates an event through the
organiser API, sends fans through the fan API and websockets like browsers
would, and checks the outcome from outside: sold, oversold, admission order,
and the draw recomputed by the same check as ``fairdrop verify-draw``.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import func
from sqlmodel import select

from buffer.verify import verify_draw
from fairdrop.settings import Settings
from fairdrop.stack import Stack
from fairdrop.tokens import FAN_COOKIE
from purchase.db import make_engine, open_session
from purchase.models import Order, Ticket

DONE_STATES = {"sold_out", "turn_over", "done"}


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


@dataclass
class FanOutcome:
    number: int = 0
    admitted_deadline_ms: int = 0
    tickets: int = 0
    final_state: str = ""
    errors: list[str] = field(default_factory=list)


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
) -> dict[str, Any]:
    now = datetime.now(UTC)
    body = {
        "name": "fairdrop demo night",
        "opens_at": _iso(now),
        "drop_at": _iso(now + timedelta(seconds=window_seconds)),
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
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post(
            "/api/events", json=body, headers={"Authorization": f"Bearer {organiser_token}"}
        )
        response.raise_for_status()
        event: dict[str, Any] = response.json()
        return event


class SimulatedFan:
    """One fan: joins over HTTP, follows the socket, buys when admitted, pays."""

    def __init__(self, http: httpx.AsyncClient, event: dict[str, Any], want: int) -> None:
        self.http = http
        self.base_url = str(http.base_url).rstrip("/")
        self.event_id = str(event["id"])
        self.type_id = str(event["ticket_types"][0]["id"])
        self.want = want
        self.outcome = FanOutcome()
        self._asked = False
        # An explicit Cookie header keeps the shared client's jar out of it:
        # every simulated fan is its own identity.
        self.headers = {"Cookie": ""}

    async def run(self, arrive_at: float) -> FanOutcome:
        await asyncio.sleep(max(0.0, arrive_at - time.monotonic()))
        try:
            joined = await self._post(f"/api/events/{self.event_id}/join")
            self.headers = {"Cookie": f"{FAN_COOKIE}={joined.cookies[FAN_COOKIE]}"}
            ws_url = self.base_url.replace("http", "ws", 1) + f"/ws/events/{self.event_id}"
            async with websockets.connect(ws_url, additional_headers=self.headers) as ws:
                async for raw in ws:
                    if await self._on_message(json.loads(raw)):
                        break
        except Exception as exc:  # a fan's failure is a figure, not a crash
            self.outcome.errors.append(f"{type(exc).__name__}: {exc}")
        return self.outcome

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        response = await self.http.post(path, json=body, headers=self.headers)
        self.http.cookies.clear()
        return response.raise_for_status()

    async def _on_message(self, message: dict[str, Any]) -> bool:
        """True when this fan is finished."""
        kind = message.get("t")
        if kind == "status":
            return await self._on_status(message)
        if kind == "hold_result":
            if message.get("ok"):
                hold_id = message["hold"]["id"]
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
                self.outcome.final_state = "done"
            else:
                self.outcome.final_state = str(message.get("code"))
            return True
        if kind == "error":
            self.outcome.errors.append(str(message.get("message")))
            return True
        return False

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


async def simulate_drop(base_url: str, token: str, plan: DemoPlan) -> dict[str, Any]:
    """Runs one drop against a running fairdrop and returns its figures."""
    rng = random.Random(plan.seed)
    event = await create_demo_event(
        base_url,
        token,
        tickets=plan.tickets,
        window_seconds=plan.window_seconds,
        rate_per_min=plan.rate_per_min,
        cap=plan.cap,
        hold_seconds=plan.hold_seconds,
        per_person_limit=plan.per_person_limit,
    )
    started = time.monotonic()
    late = round(plan.fans * plan.late_share)
    arrivals = [
        started + rng.uniform(0.1, plan.window_seconds - 0.4) for _ in range(plan.fans - late)
    ]
    arrivals += [started + plan.window_seconds + rng.uniform(0.3, 1.5) for _ in range(late)]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        fans = [SimulatedFan(http, event, rng.choice([1, 2])) for _ in arrivals]
        tasks = [asyncio.create_task(fan.run(at)) for fan, at in zip(fans, arrivals, strict=True)]
        _, pending = await asyncio.wait(tasks, timeout=plan.deadline_seconds)
        for task in pending:
            task.cancel()
        headers = {"Authorization": f"Bearer {token}"}
        stats = (await http.get(f"/api/events/{event['id']}/stats", headers=headers)).json()
    outcomes = [fan.outcome for fan in fans]
    verdict = await asyncio.to_thread(verify_draw, f"{base_url}/api/events/{event['id']}/draw")
    stock = stats["stock_by_type"]
    oversold = sum(
        max(0, stats["sold_by_type"][t] + stats["held_by_type"][t] - stock[t]) for t in stock
    )
    return {
        "fans": plan.fans,
        "tickets": plan.tickets,
        "sold": stats["sold"],
        "oversold": oversold,
        "admitted_in_order": admitted_in_order(outcomes, int(stats["serving"])),
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


def run_demo(settings: Settings, plan: DemoPlan) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fairdrop-demo-") as tmp:
        demo_settings = settings.with_overrides(data_dir=Path(tmp), port=0)
        with Stack(demo_settings, workers=plan.workers) as stack:
            summary = asyncio.run(
                simulate_drop(stack.base_url, stack.settings.organiser_token, plan)
            )
            summary.update(count_orders(stack.settings, summary["event_id"]))
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary
