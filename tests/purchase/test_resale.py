"""purchase/resale.py against the real Lua scripts on a real Redis and PostgreSQL.

Hypothesis interleaves buys, put-backs, hold expiries and crashes between
the steps of each (a put-back that stopped between the database and Redis,
a paid hold whose order was not written yet, an order whose sellers were not
refunded yet), then the retries that finish them. After every step: no type
has more valid tickets in the database than its stock, Redis keeps
available + held + sold = stock, no listing was refunded twice and no order
was written twice. Once every retry has run: every paid hold has its order,
every resold listing its one refund.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import Engine, func
from sqlmodel import col, select

from buffer.draw import run_draw
from buffer.order import seed_commitment
from fairdrop.connections import SaleRedis
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.settings import Settings
from loadtests.sync_sale import create_sale_sync
from purchase.db import make_engine, open_session, upgrade_database
from purchase.db_changes_stream import stream_check_ins_since, stream_resales
from purchase.holds import Hold, answer_of, confirm_hold, release_hold
from purchase.models import Order, OrderItem, ResaleListing, Ticket, TicketType
from purchase.orders import cancel_order, record_paid_order
from purchase.resale import RESOLD, _list_ticket, put_back, refund_key, settle_resales
from purchase.restore import restore_sale
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.lifecycle import RESOLD as RESOLD_KIND
from queue_engine.lifecycle import lifecycle_entries
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.scripts import SyncScripts
from tests.purchase.test_migrations import add_event

FANS = [f"fan-{i}" for i in range(5)]
STOCK, LIMIT, PRICE = 3, 2, 4_000
LINK = "link"


def ga(event_id: str) -> str:
    return f"{event_id}.ga"


def new_sale(engine: Engine, scripts: SyncScripts) -> str:
    """A sale in both stores with one type, sold through a presale link (no queue to walk)."""
    event_id = uuid.uuid4().hex[:12]
    add_event(engine, event_id)
    with open_session(engine) as session:
        session.add(
            TicketType(
                id=ga(event_id),
                event_id=event_id,
                name="GA",
                price_cents=PRICE,
                currency="EUR",
                stock=STOCK,
                per_person_limit=LIMIT,
            )
        )
        session.commit()
    seed = "ab" * 32
    spec = SaleSpec(
        event_id,
        "resale",
        1_000,
        2_000,
        60,
        10,
        60,
        seed,
        seed_commitment(seed),
        (TicketTypeSpec(ga(event_id), "GA", PRICE, "EUR", STOCK, LIMIT),),
    )
    assert create_sale_sync(scripts, spec)
    link = {"allowance": 1_000, "left": 1_000, "expires_at": 10**13, "type": ""}
    assert scripts.run("add_presale", event_id, LINK, json.dumps(link)) == 1
    # Past the drop, drawn (nobody came in the window): the sale is on.
    admit_next_batch(scripts, event_id, heartbeat_ms=1_000)
    drawn = run_draw(scripts, event_id)
    assert drawn is not None and drawn.state == "queueing"
    return event_id


def presale_hold(scripts: SyncScripts, event_id: str, fan: str, quantity: int) -> Hold | None:
    request_id = uuid.uuid4().hex
    items = json.dumps([[ga(event_id), quantity]])
    args = (0, fan, request_id, f"h-{request_id}", items, LINK, "open")
    answer = answer_of(scripts.run("presale_hold", event_id, *args))
    return answer.hold if answer.ok else None


def valid_tickets(engine: Engine, event_id: str) -> int:
    """Tickets that are still someone's: paid order, not voided (listed ones count)."""
    with open_session(engine) as session:
        return int(
            session.exec(
                select(func.count())
                .select_from(Ticket)
                .join(Order, col(Order.id) == col(Ticket.order_id))
                .where(
                    Order.event_id == event_id,
                    Order.status == "paid",
                    col(Ticket.voided_at).is_(None),
                )
            ).one()
        )


def redis_counts(client: SaleRedis, event_id: str) -> tuple[int, int, int]:
    keys = EventKeys(event_id)
    return tuple(  # type: ignore[return-value]
        int(client.hget(key, ga(event_id)) or 0) for key in (keys.available, keys.held, keys.sold)
    )


class ResaleMachine(RuleBasedStateMachine):
    scripts: SyncScripts
    engine: Engine
    settings: Settings

    def __init__(self) -> None:
        super().__init__()
        self.event_id = new_sale(self.engine, self.scripts)
        self.live: list[Hold] = []
        # Paid in Redis, order not written yet (a worker died after confirm).
        self.paid_unwritten: list[Hold] = []
        # Written, sellers not refunded yet (a worker died before settle_resales).
        self.unsettled: list[str] = []
        self.orders: list[str] = []
        # Put back in the database, the seat not yet returned in Redis.
        self.half_listed: list[tuple[str, str]] = []
        self.refunds: dict[str, str] = {}

    @rule(fan=st.sampled_from(FANS), quantity=st.integers(1, 2))
    def fan_holds(self, fan: str, quantity: int) -> None:
        hold = presale_hold(self.scripts, self.event_id, fan, quantity)
        if hold is not None:
            self.live.append(hold)

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data(), crash=st.sampled_from(["none", "before_order", "before_refunds"]))
    def fan_pays(self, data: st.DataObject, crash: str) -> None:
        hold = self.live.pop(data.draw(st.integers(0, len(self.live) - 1)))
        answer = confirm_hold(self.scripts, self.event_id, hold.id, f"pay-{hold.id}")
        if not answer.ok:
            return  # a late payment whose seats are gone: refunded as stray, not ours here
        assert answer.hold is not None
        if crash == "before_order":
            self.paid_unwritten.append(answer.hold)
            return
        self._write(answer.hold, settle=crash != "before_refunds")

    def _write(self, hold: Hold, settle: bool) -> None:
        order = record_paid_order(self.engine, self.event_id, hold, f"pay-{hold.id}", "local")
        assert order.id not in self.orders or order.hold_id == hold.id
        if order.id not in self.orders:
            self.orders.append(order.id)
        if settle:
            self._settle(order.id)
        else:
            self.unsettled.append(order.id)

    def _settle(self, order_id: str) -> None:
        for listing in settle_resales(self.engine, self.settings, order_id):
            assert listing.refund_ref == f"local_refund_{refund_key(listing.id)}"
            # One refund per listing: a second settle finds nothing owed.
            assert listing.id not in self.refunds, "a seller was refunded twice"
            self.refunds[listing.id] = listing.refund_ref
            event("a seller refunded")

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def hold_expires(self, data: st.DataObject) -> None:
        hold = self.live.pop(data.draw(st.integers(0, len(self.live) - 1)))
        release_hold(self.scripts, self.event_id, hold.id, hold.fan_id)

    @rule(data=st.data(), crash=st.booleans())
    def fan_puts_a_ticket_back(self, data: st.DataObject, crash: bool) -> None:
        with open_session(self.engine) as session:
            owned = session.exec(
                select(Ticket.code, Order.fan_id)
                .join(Order, col(Order.id) == col(Ticket.order_id))
                .where(Order.event_id == self.event_id)
                .order_by(col(Ticket.code))
            ).all()
        if not owned:
            return
        code, fan = data.draw(st.sampled_from(owned))
        stranger = data.draw(st.booleans())
        who = "someone-else" if stranger else fan
        try:
            if crash:
                _list_ticket(self.engine, self.event_id, code, who)
                self.half_listed.append((code, who))
            else:
                put_back(self.engine, self.scripts, self.event_id, code, who)
            event("put back")
        except FairdropError as refused:
            event(f"put back refused: {refused.code}")
            expected = {ErrorCode.TICKET_LISTED, ErrorCode.TICKET_NOT_VALID}
            if stranger:
                expected.add(ErrorCode.NOT_YOUR_TICKET)
            assert refused.code in expected

    @precondition(lambda self: bool(self.orders))
    @rule(data=st.data())
    def organiser_cancels_an_order(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(self.orders))
        try:
            cancel_order(self.engine, self.scripts, self.settings, self.event_id, order_id)
        except FairdropError as refused:
            assert refused.code in {ErrorCode.ORDER_HAS_RESALE, ErrorCode.ORDER_NOT_PAID}

    @precondition(lambda self: not self.paid_unwritten)
    @rule()
    def redis_loses_the_sale(self) -> None:
        """Redis restarts empty; the clock rebuilds the sale from the database
        (purchase/restore.py). Live holds are gone, as they are then."""
        keys = EventKeys(self.event_id)
        self.scripts.client.delete(*keys.script_keys[:-1])
        assert restore_sale(self.engine, self.scripts, self.event_id)
        link = {"allowance": 1_000, "left": 1_000, "expires_at": 10**13, "type": ""}
        assert self.scripts.run("add_presale", self.event_id, LINK, json.dumps(link)) == 1
        self.live.clear()
        event("redis lost the sale")

    @rule()
    def retries_run(self) -> None:
        """RQ and the seller run again what stopped half-way."""
        for hold in self.paid_unwritten:
            self._write(hold, settle=True)
        self.paid_unwritten.clear()
        for order_id in self.unsettled:
            self._settle(order_id)
        self.unsettled.clear()
        for code, fan in self.half_listed:
            with pytest.raises(FairdropError) as asked_again:
                put_back(self.engine, self.scripts, self.event_id, code, fan)
            assert asked_again.value.code in {ErrorCode.TICKET_LISTED, ErrorCode.TICKET_NOT_VALID}
        self.half_listed.clear()

    @invariant()
    def never_more_valid_tickets_than_stock(self) -> None:
        available, held, sold = redis_counts(self.scripts.client, self.event_id)
        assert available + held + sold == STOCK
        assert min(available, held, sold) >= 0
        assert valid_tickets(self.engine, self.event_id) <= STOCK

    @invariant()
    def every_resold_listing_is_refunded_once_all_retries_ran(self) -> None:
        if self.unsettled or self.paid_unwritten:
            return
        with open_session(self.engine) as session:
            resold = session.exec(
                select(ResaleListing).where(
                    ResaleListing.event_id == self.event_id, ResaleListing.status == RESOLD
                )
            ).all()
        assert {listing.id: listing.refund_ref for listing in resold} == self.refunds


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    upgrade_database(Settings(database_url=database_url, data_dir=tmp_path))
    made = make_engine(Settings(database_url=database_url, data_dir=tmp_path))
    yield made
    made.dispose()


def test_resale_never_puts_more_tickets_in_circulation_than_stock(
    redis_url: str, engine: Engine, tmp_path: Path
) -> None:
    ResaleMachine.scripts = SyncScripts(redis.Redis.from_url(redis_url))
    ResaleMachine.engine = engine
    ResaleMachine.settings = Settings(data_dir=tmp_path)
    machine_test = ResaleMachine.TestCase
    machine_test.settings = settings(
        max_examples=30,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    machine_test("runTest").runTest()


def test_a_put_back_seat_is_sold_again_and_voids_the_old_code(
    redis_url: str, engine: Engine
) -> None:
    scripts = SyncScripts(redis.Redis.from_url(redis_url))
    event_id = new_sale(engine, scripts)
    sold: list[Any] = []
    for fan in ("a", "b"):
        hold = presale_hold(scripts, event_id, fan, 2 if fan == "a" else 1)
        assert hold is not None
        confirmed = confirm_hold(scripts, event_id, hold.id, f"pay-{hold.id}")
        assert confirmed.hold is not None
        sold.append(record_paid_order(engine, event_id, confirmed.hold, f"pay-{hold.id}", "local"))
    keys = EventKeys(event_id)
    assert scripts.client.hget(keys.meta, "state") == b"sold_out"
    with open_session(engine) as session:
        code = session.exec(select(Ticket.code).where(Ticket.order_id == sold[0].id)).first()
    assert code is not None

    listing = put_back(engine, scripts, event_id, code, "a")

    assert (listing.price_cents, listing.status) == (PRICE, "listed")
    assert redis_counts(scripts.client, event_id) == (1, 0, 2)
    # A sold-out sale with a seat back lets fans in again.
    assert scripts.client.hget(keys.meta, "state") == b"queueing"
    assert valid_tickets(engine, event_id) == STOCK
    hold = presale_hold(scripts, event_id, "c", 1)
    assert hold is not None
    confirmed = confirm_hold(scripts, event_id, hold.id, f"pay-{hold.id}")
    assert confirmed.hold is not None
    order = record_paid_order(engine, event_id, confirmed.hold, f"pay-{hold.id}", "local")
    [settled] = settle_resales(engine, Settings(), order.id)
    assert settled.id == listing.id and settled.buyer_order_id == order.id
    assert settle_resales(engine, Settings(), order.id) == []  # asked again: nothing owed
    with open_session(engine) as session:
        old = session.exec(select(Ticket).where(Ticket.code == code)).one()
    assert old.voided_at is not None
    assert valid_tickets(engine, event_id) == STOCK

    # On the lifecycle stream once: here the worker "died" before it streamed
    # the resale, so the clock's sweep writes it, and the worker's own call
    # (its retry) then finds it written.
    assert stream_check_ins_since(engine, scripts, listing.listed_at) == 1
    assert stream_resales(engine, scripts, order.id) == 0
    assert stream_check_ins_since(engine, scripts, listing.listed_at) == 0
    resold = [e for e in lifecycle_entries(scripts.client, event_id) if e.kind == RESOLD_KIND]
    assert [(e.order, e.codes, e.items) for e in resold] == [
        (order.id, (code,), ((ga(event_id), 1),))
    ]


def test_a_seller_gets_back_what_they_paid_after_a_discount(redis_url: str, engine: Engine) -> None:
    """Two tickets at 40.00 bought with 15.00 off the order: each refund is 40.00
    less its share of the discount, rounded so the two never pass what was paid."""
    scripts = SyncScripts(redis.Redis.from_url(redis_url))
    event_id = new_sale(engine, scripts)
    order_id = uuid.uuid4().hex
    with open_session(engine) as session:
        session.add(
            Order(
                id=order_id,
                event_id=event_id,
                fan_id="fan",
                hold_id=order_id,
                payment_ref=f"pay-{order_id}",
                payment_provider="local",
                total_cents=2 * PRICE - 1_500,
                discount_cents=1_500,
                currency="EUR",
            )
        )
        session.flush()
        session.add(
            OrderItem(
                order_id=order_id, ticket_type_id=ga(event_id), quantity=2, unit_price_cents=PRICE
            )
        )
        codes = [uuid.uuid4().hex for _ in range(2)]
        for code in codes:
            session.add(Ticket(id=code, order_id=order_id, ticket_type_id=ga(event_id), code=code))
        session.commit()

    prices = [put_back(engine, scripts, event_id, code, "fan").price_cents for code in codes]

    assert prices == [PRICE - 750, PRICE - 750]
    assert sum(prices) <= 2 * PRICE - 1_500
