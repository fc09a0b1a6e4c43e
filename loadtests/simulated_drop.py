"""A drop simulated through the real scripts on a real Redis, on a clock of its own.

Fans join the window, the draw numbers them, and then the clock (tick.lua)
lets them in step by step while simulated fans choose, hold (hold.lua), pay
(confirm.lua) or let their holds run out, each after a time drawn from the
plan. Nothing waits in real time: a ten-minute drop takes a second or two.

Every ``sample_ms`` each fan still waiting writes down what its page would
show (queue_engine/odds.py, from the same figures the server sends), so
loadtests/odds_check.py can hold the chances and waits against what came of
them; tests/queue_engine/test_admission_bound.py counts the fans let in who
found nothing left (the admission bound in tick.lua).
"""

from __future__ import annotations

import heapq
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from buffer.draw import run_draw
from buffer.order import new_seed, seed_commitment
from loadtests.sync_sale import create_sale_sync, hold_tickets, join_sync
from purchase.holds import confirm_hold
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.odds import admission_wait_s, next_admission_ms, ticket_chance
from queue_engine.sales import SaleSpec, TicketTypeSpec, parse_snapshot
from queue_engine.scripts import SyncScripts

START_MS = 1_000_000
WINDOW_MS = 1_000
STEP_MS = 200  # the clock's tick (FAIRDROP_CLOCK_TICK_SECONDS)
NO_STOCK = frozenset({"sold_out", "not_enough_stock"})


@dataclass(frozen=True)
class DropPlan:
    fans: int = 300
    stock: int = 60
    per_person_limit: int = 2
    # Relative weights of a buyer taking 1, 2, ... tickets (up to the limit).
    take_weights: tuple[float, ...] = (1.0, 1.0)
    idle_share: float = 0.0  # fans let in who never hold anything
    unpaid_share: float = 0.0  # holds left to run out unpaid
    choose_s: tuple[float, float] = (0.05, 0.3)  # from being let in to asking
    pay_s: tuple[float, float] = (0.05, 0.3)  # from the hold to paying
    rate_per_min: int = 6_000
    cap: int = 50
    hold_s: int = 20
    sample_ms: int = 1_000
    seed: int = 0
    name: str = ""


@dataclass(frozen=True)
class Prediction:
    at_ms: int
    chance: float
    admit_at_ms: int  # by the new estimate: now + wait_s
    old_admit_at_ms: int  # by the estimate before issue 13: ahead intervals, not ahead + 1
    admit_limit: str  # what held the queue back: only "rate" gives a wait in seconds


@dataclass
class SimFan:
    fan_id: str
    idle: bool = False  # never holds when let in (the plan's idle share)
    number: int = 0
    admitted_at_ms: int = 0
    held: bool = False  # could buy: a hold was granted
    tickets: int = 0
    asked: bool = False
    found_empty: bool = False
    predictions: list[Prediction] = field(default_factory=list)


@dataclass
class DropOutcome:
    plan: DropPlan
    fans: list[SimFan]
    sold: int
    oversold: int
    seconds_simulated: float

    @property
    def admitted(self) -> list[SimFan]:
        return [f for f in self.fans if f.admitted_at_ms]

    @property
    def admitted_found_empty(self) -> int:
        return sum(1 for f in self.fans if f.found_empty)


class DropSimulation:
    """One simulated drop: the sale, its fans, and a queue of their next actions."""

    def __init__(self, scripts: SyncScripts, plan: DropPlan) -> None:
        self.scripts = scripts
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.event_id = f"sim-{uuid.uuid4().hex[:10]}"
        self.now = START_MS
        self.fans = {
            f"fan-{i}": SimFan(f"fan-{i}", self.rng.random() < plan.idle_share)
            for i in range(plan.fans)
        }
        self.by_number: dict[int, SimFan] = {}
        # (due ms, order, action, fan id, argument): the fans' next steps in time order.
        self.actions: list[tuple[int, int, str, str, Any]] = []
        self.order = 0
        self.serving = 0

    def run(self, limit_s: float = 3_600) -> DropOutcome:
        self.open_and_draw()
        next_sample = self.now
        while self.now < START_MS + limit_s * 1000:
            result = admit_next_batch(self.scripts, self.event_id, 1_000, now_ms=self.now)
            self._let_in(result.serving)
            if result.state == "sold_out" and not self.actions:
                break
            progress = self._progress()
            if self.now >= next_sample:
                self._predict(progress)
                next_sample += self.plan.sample_ms
            self.now += STEP_MS
            while self.actions and self.actions[0][0] <= self.now:
                _, _, action, fan_id, argument = heapq.heappop(self.actions)
                getattr(self, f"_{action}")(self.fans[fan_id], argument)
        final = self._progress()
        stock = final.get("stock_by_type", {})
        sold_by_type = final.get("sold_by_type", {})
        held_by_type = final.get("held_by_type", {})
        oversold = sum(
            max(0, sold_by_type.get(t, 0) + held_by_type.get(t, 0) - s) for t, s in stock.items()
        )
        return DropOutcome(
            self.plan,
            sorted(self.by_number.values(), key=lambda f: f.number),
            sum(sold_by_type.values()),
            oversold,
            (self.now - START_MS) / 1000,
        )

    def _progress(self) -> dict[str, Any]:
        """The sale's figures as the clock would publish them now (snapshot.lua)."""
        return parse_snapshot(self.scripts.run("snapshot", self.event_id, self.now)) or {}

    def open_and_draw(self) -> None:
        """Makes the sale, joins every fan in its window, and draws them."""
        plan = self.plan
        seed = new_seed()
        spec = SaleSpec(
            self.event_id,
            plan.name or "simulated drop",
            START_MS,
            START_MS + WINDOW_MS,
            plan.rate_per_min,
            plan.cap,
            plan.hold_s,
            seed,
            seed_commitment(seed),
            (TicketTypeSpec("ga", "GA", 100, "EUR", plan.stock, plan.per_person_limit),),
        )
        create_sale_sync(self.scripts, spec)
        for fan_id in self.fans:
            join_sync(self.scripts, self.event_id, fan_id, START_MS + WINDOW_MS // 2)
        self.now = START_MS + WINDOW_MS
        admit_next_batch(self.scripts, self.event_id, 1_000, now_ms=self.now)  # closes the window
        run_draw(self.scripts, self.event_id)
        queue = EventKeys(self.event_id).queue
        numbers = cast(
            list[tuple[bytes, float]], self.scripts.client.zrange(queue, 0, -1, withscores=True)
        )
        for member, score in numbers:
            fan = self.fans[member.decode()]
            fan.number = int(score)
            self.by_number[fan.number] = fan

    def _later(self, seconds: tuple[float, float], action: str, fan: SimFan, argument: Any) -> None:
        due = self.now + int(self.rng.uniform(*seconds) * 1000)
        self.order += 1
        heapq.heappush(self.actions, (due, self.order, action, fan.fan_id, argument))

    def _let_in(self, serving: int) -> None:
        plan = self.plan
        for number in range(self.serving + 1, serving + 1):
            fan = self.by_number[number]
            fan.admitted_at_ms = self.now
            if not fan.idle:
                weights = plan.take_weights[: plan.per_person_limit]
                want = self.rng.choices(range(1, len(weights) + 1), weights)[0]
                self._later(plan.choose_s, "ask", fan, want)
        self.serving = max(self.serving, serving)

    def _ask(self, fan: SimFan, want: int) -> None:
        fan.asked = True
        answer = hold_tickets(
            self.scripts, self.event_id, fan.fan_id, uuid.uuid4().hex, [("ga", want)], self.now
        )
        if answer.ok and answer.hold is not None:
            fan.held = True
            if self.rng.random() >= self.plan.unpaid_share:
                self._later(self.plan.pay_s, "pay", fan, answer.hold.id)
        elif answer.code == "not_enough_stock":
            self._ask(fan, 1)  # takes what is left, as a fan's page does
        elif answer.code in NO_STOCK:
            fan.found_empty = True

    def _pay(self, fan: SimFan, hold_id: str) -> None:
        answer = confirm_hold(self.scripts, self.event_id, hold_id, f"pay-{hold_id}", self.now)
        if answer.ok and answer.hold is not None:
            fan.tickets += sum(q for _, q in answer.hold.items)

    def _predict(self, progress: dict[str, Any]) -> None:
        """What each waiting fan's page shows now, from the figures the server sends."""
        if progress.get("state") != "queueing":
            return
        remaining = sum((progress.get("remaining") or {}).values())
        figures = {**progress, "remaining_total": remaining}
        rate = int(progress["rate_per_min"])
        next_admit = next_admission_ms(
            float(progress.get("tokens") or 0), int(progress.get("tokens_at") or 0), rate
        )
        serving = int(progress["serving"])
        for number in range(serving + 1, len(self.by_number) + 1):
            ahead = number - serving - 1
            wait_s = admission_wait_s(ahead, next_admit, rate, self.now)
            old_wait_s = (ahead * 60 + rate // 2) // rate
            self.by_number[number].predictions.append(
                Prediction(
                    self.now,
                    ticket_chance(number, figures),
                    self.now + wait_s * 1000,
                    self.now + old_wait_s * 1000,
                    str(progress.get("admit_limit") or ""),
                )
            )


def simulate(scripts: SyncScripts, plan: DropPlan) -> DropOutcome:
    return DropSimulation(scripts, plan).run()
