"""Hypothesis drives joins, draws, admissions, holds, presale holds, expiries,
confirms, refunds of sold orders, resale rounds and repeated requests against
the real Lua scripts on a real Redis, and checks DESIGN.md's invariants 1, 2,
4, 5 and 6 (and that a presale link is used exactly) after every step."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)

from buffer.draw import run_draw
from buffer.order import ALGORITHM, draw_key, draw_order, seed_commitment
from buffer.rounds import RoundTiming, open_round, round_record, run_round_draw
from loadtests.sync_sale import create_sale_sync, hold_tickets, join_sync
from purchase.holds import answer_of, confirm_hold, release_hold
from purchase.orders import return_sold_tickets
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.lifecycle import changes_in_holds, entries_by_change, lifecycle_entries
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.scripts import SyncScripts
from tests.reads import text as _text
from tests.reads import zset_members, zset_scores

FANS = [f"fan-{i}" for i in range(10)]
# Fans who come late, after the sale may have sold out: a resale round's entrants.
NEWCOMERS = [f"new-{i}" for i in range(4)]
ROUND = RoundTiming(window_seconds=4.0)
# Fans with the presale link only: they never queue, they buy beside the queue.
PRESALE_FANS = [f"pre-{i}" for i in range(3)]
LINK, LINK_TICKETS = "link-1", 3
TYPES = {"ga": (3, 2), "vip": (2, 1)}  # id -> (stock, per-person limit)
RATE_PER_MIN = 60  # one a second, burst of two
BURST = max(1, RATE_PER_MIN / 30)
CAP = 4
HOLD_MS = 4_000
OPENS, DROP = 10_000, 14_000
# Statuses a hold never leaves; a confirmed (sold) hold may only be refunded.
FINAL = {"refunded"}
# A hold that ended unpaid can still be bought by a payment that arrives late
# (confirm.lua), and by nothing else.
ENDED_UNPAID = {"expired", "released"}


class SaleMachine(RuleBasedStateMachine):
    scripts: SyncScripts  # set by the test before the machine runs

    holds = Bundle("holds")
    ended = Bundle("ended")

    # The seed comes from Hypothesis, so a replayed example draws the same order.
    @initialize(
        seed_bytes=st.binary(min_size=32, max_size=32),
        crowd=st.none() | st.lists(st.sampled_from(FANS), unique=True, min_size=1),
    )
    def create_sale(self, seed_bytes: bytes, crowd: list[str] | None) -> None:
        self.event_id = uuid.uuid4().hex[:12]
        self.keys = EventKeys(self.event_id)
        self.now = OPENS - 500
        seed = seed_bytes.hex()
        create_sale_sync(
            self.scripts,
            SaleSpec(
                self.event_id,
                "prop",
                OPENS,
                DROP,
                RATE_PER_MIN,
                CAP,
                HOLD_MS // 1000,
                seed,
                seed_commitment(seed),
                tuple(TicketTypeSpec(t, t, 100, "EUR", s, lim) for t, (s, lim) in TYPES.items()),
            ),
        )
        link = {"allowance": LINK_TICKETS, "left": LINK_TICKETS, "expires_at": 10**13, "type": ""}
        assert self.scripts.run("add_presale", self.event_id, LINK, json.dumps(link)) == 1
        self.numbers: dict[str, int] = {}
        self.late_order: list[str] = []
        self.buffered: set[str] = set()
        self.admitted_ever: set[str] = set()
        self.answers: dict[str, str] = {}
        self.requests: list[tuple[str, str, list[tuple[str, int]]]] = []
        self.statuses: dict[str, str] = {}
        self.serving = 0
        self.queueing_since: int | None = None
        self.admitted_total = 0
        # The open resale round's entrants, and how many rounds were drawn.
        self.round_entrants: set[str] = set()
        self.rounds_drawn = 0
        # Seats put back for resale, by type, and the holds they came from.
        self.put_back: dict[str, int] = {}
        self.put_back_from: dict[tuple[str, str], int] = {}
        if crowd is not None:
            # Half the examples start at the drop with a crowd in the buffer,
            # so most steps are spent where tickets are contested.
            self.now = OPENS
            self.crowd_joins(crowd)
            self.now = DROP
            self.clock_step(0)
            self.clock_step(0)

    # -- steps ---------------------------------------------------------------

    @rule(ms=st.integers(min_value=1, max_value=3_000))
    def time_passes(self, ms: int) -> None:
        self.now += ms

    @rule(crowd=st.permutations(FANS))
    def crowd_joins(self, crowd: list[str]) -> None:
        for fan in crowd:
            self.join(fan)

    @rule(newcomers=st.lists(st.sampled_from(NEWCOMERS), unique=True, min_size=1))
    def newcomers_arrive(self, newcomers: list[str]) -> None:
        for fan in newcomers:
            self.join(fan)

    @precondition(lambda self: hasattr(self, "keys") and self._round_state() == "buffering")
    @rule(
        newcomers=st.lists(st.sampled_from(NEWCOMERS), unique=True),
        offsets=st.lists(st.integers(0, int(ROUND.window_seconds * 1000)), min_size=4, max_size=4),
    )
    def round_runs_its_course(self, newcomers: list[str], offsets: list[int]) -> None:
        """Newcomers arrive at any moment of the open round's window, then the
        clock draws it: whenever each came, the draw alone orders them."""
        drop_at = int(self.client.hget(self.keys.meta, "round_drop_at") or 0)
        for fan, at in sorted(zip(newcomers, offsets, strict=False), key=lambda pair: pair[1]):
            self.now = max(self.now, drop_at - int(ROUND.window_seconds * 1000) + at)
            if self.now < drop_at:
                self.join(fan)
        self.now = max(self.now, drop_at)
        self.clock_step(0)

    @rule(fan=st.sampled_from(FANS))
    def join(self, fan: str) -> None:
        entry = join_sync(self.scripts, self.event_id, fan, self.now)
        if entry.status == "not_open":
            assert self.now < OPENS
            return
        if self.now < DROP:
            assert entry.status == "buffered" and entry.number == 0
            self.buffered.add(fan)
            return
        if fan in self.buffered and fan not in self.numbers:
            assert entry.number == 0  # drawn numbers come with the draw
            return
        if entry.status == "sold_out" and entry.number == 0:
            return
        if entry.status == "buffered":
            # A resale round is open (or drawing): a new fan is in its draw.
            assert fan not in self.numbers and fan not in self.buffered
            assert fan in self.round_entrants or self._round_state() == "buffering"
            self.round_entrants.add(fan)
            return
        assert entry.tickets == self._tickets_bought(fan)
        # Invariant 5: one place per identity, whoever asks how often.
        if fan in self.numbers:
            assert entry.number == self.numbers[fan]
        else:
            assert fan not in self.buffered
            self.numbers[fan] = entry.number
            self.late_order.append(fan)

    @rule(ms=st.integers(min_value=0, max_value=2_000))
    def clock_step(self, ms: int) -> None:
        self.now += ms
        result = admit_next_batch(self.scripts, self.event_id, heartbeat_ms=1_000, now_ms=self.now)
        if result.state == "drawing":
            drawn = run_draw(self.scripts, self.event_id)
            assert drawn is not None and drawn.state == "queueing"
            self.client.delete(self.keys.draw_lease)
            self._learn_drawn_numbers()
            return
        if result.round_due:
            self._open_round(result.serving)
        elif result.round_state == "drawing":
            self._draw_round()
        if result.state == "queueing" and self.queueing_since is None:
            self.queueing_since = self.now
        assert result.admitted <= BURST
        self.admitted_total += result.admitted
        assert result.serving >= self.serving  # the counter never goes back
        self.serving = result.serving
        shopping = set(zset_members(self.client, self.keys.shopping))
        self.admitted_ever |= shopping - set(PRESALE_FANS)
        if result.admitted:
            # Admission never lets in more fans still choosing than tickets left.
            undecided = len(shopping) - self.client.hlen(self.keys.fan_hold)
            assert 0 <= undecided <= sum(self._hash(self.keys.available).values())

    def _round_state(self) -> str:
        return _text(self.client.hget(self.keys.meta, "round_state") or b"")

    def _open_round(self, serving: int) -> None:
        """Only once the sale sold out, tickets came back and nobody waits or chooses."""
        meta = self._hash_of(self.keys.meta, ("ran_out", "frozen", "late"))
        assert meta["ran_out"] == 1 and meta["frozen"] + meta["late"] == serving
        assert self.client.zcard(self.keys.shopping) == self.client.hlen(self.keys.fan_hold)
        assert sum(self._hash(self.keys.available).values()) > 0
        assert open_round(self.scripts, self.event_id, ROUND, self.now) >= 1
        assert not self.round_entrants
        event("resale round opened")

    def _draw_round(self) -> None:
        """Invariant 2 for the round: its entrants get the block right after every
        earlier number, in the order its revealed seed gives, whenever they came."""
        drew = run_round_draw(self.scripts, self.event_id, now_ms=self.now)
        assert drew is not None and drew.entrants == len(self.round_entrants)
        self.client.delete(f"{self.keys.draw_lease}:round:{drew.round}")
        record = round_record(self.client, self.event_id, drew.round)
        assert record is not None and seed_commitment(record["seed"]) == record["seed_hash"]
        ordered, _ = draw_order(draw_key(ALGORITHM, record["seed"]), self.round_entrants)
        earlier = [n for f, n in self.numbers.items() if n < drew.first_number]
        assert drew.first_number == len(earlier) + 1
        for i, fan in enumerate(ordered):
            self.numbers[fan] = drew.first_number + i
        self.round_entrants = set()
        self.rounds_drawn += 1
        event(f"resale round drawn with {'some' if ordered else 'no'} entrants")

    def _hash_of(self, key: str, fields: tuple[str, ...]) -> dict[str, int]:
        values = self.client.hmget(key, list(fields))
        return {f: int(v or 0) for f, v in zip(fields, values, strict=True)}

    def _ask(self, fan: str, ga: int, vip: int) -> Any:
        items = [(t, q) for t, q in (("ga", ga), ("vip", vip)) if q] or [("ga", 1)]
        # Ids from a counter, not uuid4: Redis orders equal expiries by id, and a
        # replayed example must see the same order.
        request_id = f"r{len(self.requests)}"
        had_live_hold = self.client.hexists(self.keys.fan_hold, fan)
        answer = hold_tickets(
            self.scripts, self.event_id, fan, request_id, items, self.now, hold_id=f"h-{request_id}"
        )
        self.answers[request_id] = json.dumps(answer.body, sort_keys=True)
        self.requests.append((request_id, fan, items))
        event(f"hold: {answer.code or 'ok'}")
        if not answer.ok:
            return multiple()
        assert answer.hold is not None
        assert fan in self.admitted_ever  # only admitted fans hold (invariant 4)
        assert not had_live_hold  # one live hold per fan at a time
        return multiple(answer.hold.id)

    @rule(target=holds, fan=st.sampled_from(FANS), ga=st.integers(0, 3), vip=st.integers(0, 2))
    def any_fan_asks_for_tickets(self, fan: str, ga: int, vip: int) -> Any:
        return self._ask(fan, ga, vip)

    @precondition(lambda self: bool(self.admitted_ever))
    @rule(target=holds, data=st.data(), ga=st.integers(1, 2), vip=st.integers(0, 1))
    def admitted_fan_asks_for_tickets(self, data: st.DataObject, ga: int, vip: int) -> Any:
        return self._ask(data.draw(st.sampled_from(sorted(self.admitted_ever))), ga, vip)

    @precondition(lambda self: bool(self.admitted_ever))
    @rule(target=holds)
    def admitted_fans_buy_what_they_may(self) -> Any:
        """A rush: every fan let in asks for the most left to them, and pays, so
        sales sell out (and resale rounds follow) within an example's steps."""
        bought = []
        for fan in sorted(self.admitted_ever):
            left = self._hash(self.keys.available)
            mine = self._hash(self.keys.bought)
            ga, vip = (min(left[t], TYPES[t][1] - mine.get(f"{fan}|{t}", 0)) for t in TYPES)
            if ga <= 0 and vip <= 0:
                continue
            held = self._ask(fan, max(0, ga), max(0, vip))
            for hold_id in held.values:
                assert confirm_hold(self.scripts, self.event_id, hold_id, "pay-a", self.now).ok
                bought.append(hold_id)
        return multiple(*bought)

    @rule(target=holds, fan=st.sampled_from(PRESALE_FANS), ga=st.integers(0, 3))
    def presale_fan_asks_for_tickets(self, fan: str, ga: int) -> Any:
        request_id = f"r{len(self.requests)}"
        left = json.loads(self.client.hget(self.keys.presales, LINK) or b"{}")["left"]
        items = json.dumps([["ga", ga]] if ga else [["ga", 1], ["vip", 1]])
        args = (self.now, fan, request_id, f"h-{request_id}", items, LINK, "open")
        answer = answer_of(self.scripts.run("presale_hold", self.event_id, *args))
        self.requests.append((request_id, fan, []))
        self.answers[request_id] = json.dumps(answer.body, sort_keys=True)
        event(f"presale hold: {answer.code or 'ok'}")
        wanted = ga or 2
        if wanted > left:
            assert not answer.ok  # never more than the link's allowance
        if not answer.ok:
            return multiple()
        return multiple(f"h-{request_id}")

    @precondition(lambda self: any(items for _, _, items in self.requests))
    @rule(data=st.data())
    def repeat_request(self, data: st.DataObject) -> None:
        request_id, fan, items = data.draw(st.sampled_from([r for r in self.requests if r[2]]))
        again = hold_tickets(self.scripts, self.event_id, fan, request_id, items, self.now)
        # A retried or duplicated job gets the same answer and changes nothing.
        assert json.dumps(again.body, sort_keys=True) == self.answers[request_id]

    @rule(target=holds)
    def pick_live_hold(self) -> Any:
        live = zset_members(self.client, self.keys.hold_expiry)
        return multiple(*live)

    @rule(hold_id=st.one_of(holds, ended), payment=st.sampled_from(["pay-a", "pay-b"]))
    def confirm(self, hold_id: str, payment: str) -> None:
        before = self._hold(hold_id)
        available, mine = self._hash(self.keys.available), self._hash(self.keys.bought)
        link_left = json.loads(self.client.hget(self.keys.presales, LINK) or b"{}")["left"]
        answer = confirm_hold(self.scripts, self.event_id, hold_id, payment, self.now)
        status = before["status"]
        if status == "held" and before["expires_at"] < self.now:
            # Swept in the same step: its tickets are free again, for itself first.
            status = "expired"
            for t, q in before["items"]:
                available[t] += q
                mine[f"{before['fan']}|{t}"] -= q
                if before.get("presale"):
                    link_left += q
        event(f"confirm: {status}")
        if status == "confirmed":
            # The first payment stands; a second is told which one bought it.
            assert answer.ok and answer.body["already"]
            assert answer.body["hold"]["payment"] == before["payment"]
        elif status == "held":
            assert answer.ok and not answer.body["late"]
        elif status in ENDED_UNPAID:
            # A late payment buys the hold's tickets only if every one is free,
            # within the fan's limits and (a presale hold) its link's allowance.
            free = all(available[t] >= q for t, q in before["items"])
            within = all(
                mine.get(f"{before['fan']}|{t}", 0) + q <= TYPES[t][1] for t, q in before["items"]
            )
            if before.get("presale"):
                within = within and sum(q for _, q in before["items"]) <= link_left
            assert answer.ok == (free and within), answer.body
            assert answer.ok or answer.code in {"no_stock", "limit_exceeded", "presale_used_up"}
            if answer.ok:
                assert answer.body["late"] and answer.body["hold"]["payment"] == payment
        else:
            assert not answer.ok and answer.code == "hold_ended"

    @rule(target=ended, hold_id=consumes(holds))
    def release(self, hold_id: str) -> str:
        hold = self._hold(hold_id)
        answer = release_hold(self.scripts, self.event_id, hold_id, hold["fan"], self.now)
        assert answer.ok
        assert answer.body["released"] == (hold["status"] == "held")
        return hold_id

    @rule(hold_id=holds)
    def organiser_refunds_order(self, hold_id: str) -> None:
        if any(hold == hold_id for hold, _ in self.put_back_from):
            return  # an order with a ticket put back is not cancelled (purchase/orders.py)
        before = self._hold(hold_id)
        answer = return_sold_tickets(self.scripts, self.event_id, hold_id, f"o-{hold_id}", self.now)
        event(f"refund: {before['status']}")
        # Only a sold hold gives tickets back, and only the first time.
        assert answer["ok"] == (before["status"] in {"confirmed", "refunded"})
        assert answer.get("returned", False) == (before["status"] == "confirmed")

    @rule(data=st.data(), which=st.integers(0, 1))
    def buyer_puts_a_ticket_back(self, data: st.DataObject, which: int) -> None:
        """A seat put back for resale (purchase/resale.py): one sold ticket of a
        paid hold's type available again, once per listing."""
        holds = {_text(k): json.loads(v) for k, v in self.client.hgetall(self.keys.holds).items()}
        paid = sorted(h for h, hold in holds.items() if hold["status"] == "confirmed")
        if not paid:
            return
        hold_id = data.draw(st.sampled_from(paid))
        hold = holds[hold_id]
        type_id, bought = hold["items"][which % len(hold["items"])]
        if hold["status"] != "confirmed" or self.put_back_from.get((hold_id, type_id), 0) >= bought:
            return  # only a ticket bought and not put back already
        listing = f"l{sum(self.put_back.values())}"
        answer = json.loads(self.scripts.run("resale_return", self.event_id, listing, type_id, "0"))
        assert answer["ok"] and answer["returned"]
        again = json.loads(self.scripts.run("resale_return", self.event_id, listing, type_id, "0"))
        assert not again["returned"]  # the same listing returns its seat once
        self.put_back[type_id] = self.put_back.get(type_id, 0) + 1
        self.put_back_from[hold_id, type_id] = self.put_back_from.get((hold_id, type_id), 0) + 1

    @precondition(lambda self: self.queueing_since is not None)
    @rule(paused=st.booleans())
    def pause_or_resume(self, paused: bool) -> None:
        self.scripts.run("set_paused", self.event_id, 1 if paused else 0)

    # -- checks --------------------------------------------------------------

    @property
    def client(self) -> redis.Redis:
        client = self.scripts.client
        assert isinstance(client, redis.Redis)  # these tests run on a lone server
        return client

    def _hold(self, hold_id: str) -> dict[str, Any]:
        raw = self.client.hget(self.keys.holds, hold_id)
        assert raw is not None
        hold: dict[str, Any] = json.loads(raw)
        return hold

    def _tickets_bought(self, fan: str) -> int:
        holds = [json.loads(v) for v in self.client.hvals(self.keys.holds)]
        return sum(
            q
            for h in holds
            if h["fan"] == fan and h["status"] == "confirmed"
            for _, q in h["items"]
        )

    def _learn_drawn_numbers(self) -> None:
        for fan in self.buffered:
            score = self.client.zscore(self.keys.queue, fan)
            assert score is not None
            self.numbers[fan] = int(score)

    def _hash(self, key: str) -> dict[str, int]:
        raw = self.client.hgetall(key)
        return {_text(k): int(v) for k, v in raw.items()}

    @invariant()
    def never_oversell_and_stock_accounts(self) -> None:
        """Invariants 1 and 6: every unit is available, held or sold, exactly once."""
        if not hasattr(self, "keys"):
            return
        stock, available = self._hash(self.keys.stock), self._hash(self.keys.available)
        held, sold = self._hash(self.keys.held), self._hash(self.keys.sold)
        bought = self._hash(self.keys.bought)
        holds = {_text(k): json.loads(v) for k, v in self.client.hgetall(self.keys.holds).items()}
        want_held = dict.fromkeys(TYPES, 0)
        want_sold = dict.fromkeys(TYPES, 0)
        want_bought: dict[str, int] = {}
        live_by_fan: dict[str, int] = {}
        for hold_id, hold in holds.items():
            # A hold ends once: confirmed, expired and released are final.
            previous = self.statuses.get(hold_id)
            if previous in FINAL:
                assert hold["status"] == previous
            if previous in ENDED_UNPAID:
                assert hold["status"] in {previous, "confirmed"}
            if previous == "confirmed":
                assert hold["status"] in {"confirmed", "refunded"}
            self.statuses[hold_id] = hold["status"]
            target = {"held": want_held, "confirmed": want_sold}.get(hold["status"])
            for t, q in hold["items"]:
                if target is not None:
                    target[t] += q
                    key = f"{hold['fan']}|{t}"
                    want_bought[key] = want_bought.get(key, 0) + q
            if hold["status"] == "held":
                live_by_fan[hold["fan"]] = live_by_fan.get(hold["fan"], 0) + 1
        for t, n in self.put_back.items():
            want_sold[t] -= n  # on sale again; the seller's ticket voids when it sells
        for t, (total, _limit) in TYPES.items():
            assert stock[t] == total
            assert sold[t] + held[t] <= total
            assert available[t] + held[t] + sold[t] == total
            assert min(available[t], held[t], sold[t]) >= 0
            assert held[t] == want_held[t] and sold[t] == want_sold[t]
        assert {k: v for k, v in bought.items() if v} == want_bought
        assert all(v <= TYPES[k.split("|")[1]][1] for k, v in want_bought.items())
        assert all(n == 1 for n in live_by_fan.values())
        live = set(zset_members(self.client, self.keys.hold_expiry))
        assert live == {h for h, hold in holds.items() if hold["status"] == "held"}
        # Sold out means nothing left: refunded tickets reopen the sale.
        if _text(self.client.hget(self.keys.meta, "state") or b"") == "sold_out":
            assert sum(available.values()) == 0

    @invariant()
    def one_lifecycle_entry_per_change(self) -> None:
        """Each change a hold went through is one entry on the sale's stream
        (queue_engine/lifecycle.py), under every interleaving and repeat."""
        if not hasattr(self, "keys"):
            return
        entries = lifecycle_entries(self.client, self.event_id)
        assert entries_by_change(entries) == changes_in_holds(self.client.hvals(self.keys.holds))

    @invariant()
    def presale_link_is_used_exactly(self) -> None:
        """The link's tickets are left, or in its holds (live, sold or refunded), once."""
        if not hasattr(self, "keys"):
            return
        left = json.loads(self.client.hget(self.keys.presales, LINK) or b"{}")["left"]
        taken = sum(
            q
            for hold in map(json.loads, self.client.hvals(self.keys.holds))
            if hold.get("presale") == LINK and hold["status"] in {"held", "confirmed", "refunded"}
            for _, q in hold["items"]
        )
        assert left >= 0 and left + taken == LINK_TICKETS

    @invariant()
    def draw_gives_each_fan_one_place(self) -> None:
        """Invariants 2 and 5: drawn fans hold 1..N, late fans follow in arrival order."""
        if not hasattr(self, "keys"):
            return
        queue = zset_scores(self.client, self.keys.queue)
        for fan, number in self.numbers.items():
            assert queue[fan] == number
        drawn = sorted(queue[f] for f in self.buffered if f in queue)
        if drawn:
            assert drawn == list(range(1, len(self.buffered) + 1))
        late = [self.numbers[f] for f in self.late_order]
        assert late == sorted(late) and all(n > len(self.buffered) for n in late)
        if all(f in queue for f in self.buffered) and self._round_state() != "drawing":
            # Contiguous numbers: "how many are ahead" is exact, nobody is skipped
            # (but for a frozen resale round's block, kept until its draw writes it).
            assert sorted(queue.values()) == list(range(1, len(queue) + 1))

    @invariant()
    def admission_in_order_under_cap_and_rate(self) -> None:
        """Invariant 4: admitted = exactly the numbers up to the serving counter."""
        if not hasattr(self, "keys"):
            return
        # The cap is on the fans admission lets in; presale buyers shop beside them.
        shopping = set(zset_members(self.client, self.keys.shopping))
        assert len(shopping - set(PRESALE_FANS)) <= CAP
        assert self.admitted_ever == {f for f, n in self.numbers.items() if n <= self.serving}
        if self.queueing_since is not None:
            budget = BURST + RATE_PER_MIN * (self.now - self.queueing_since) / 60_000
            assert self.admitted_total <= budget


class AfterSaleMachine(SaleMachine):
    """The same steps and checks from a sale two fans bought out with nobody left
    in line: where seats put back or refunded open resale rounds (buffer/rounds.py)."""

    @initialize(seed_bytes=st.binary(min_size=32, max_size=32))
    def create_sale(self, seed_bytes: bytes, crowd: list[str] | None = None) -> None:
        SaleMachine.create_sale(self, seed_bytes, ["fan-0", "fan-1"])
        for _ in range(3):  # one fan let in at a time while each may take 3 of 5
            self.admitted_fans_buy_what_they_may()
            self.clock_step(1_000)
        assert _text(self.client.hget(self.keys.meta, "state") or b"") == "sold_out"


@pytest.mark.parametrize("machine", [SaleMachine, AfterSaleMachine])
def test_sale_invariants_hold_under_any_interleaving(
    redis_url: str, machine: type[SaleMachine]
) -> None:
    client = redis.Redis.from_url(redis_url)
    SaleMachine.scripts = SyncScripts(client)
    machine_test = machine.TestCase
    machine_test.settings = settings(
        max_examples=150,
        stateful_step_count=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    runner = machine_test("runTest")
    runner.runTest()


@pytest.fixture(autouse=True)
def _no_leftover_machine() -> Any:
    yield
    SaleMachine.scripts = None  # type: ignore[assignment]
