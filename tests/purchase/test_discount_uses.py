"""A discount code's uses in Redis, like stock: taken by a hold, given back when it ends
unpaid, final once paid, never past the limit however many fans try at once."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime, timedelta

import redis

from fairdrop.connections import SaleRedis
from loadtests.crowds import admitted_crowd
from loadtests.sync_sale import hold_tickets, snapshot_sync
from purchase.discounts import CodeUses, code_arg
from purchase.holds import Hold, confirm_hold, release_hold
from purchase.models import DiscountCode
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.scripts import SyncScripts

NOW = 3_000
# The crowd's holds last 600 s from NOW; the clock sweeps them after that.
AFTER_EXPIRY = NOW + 601_000


def add_code(
    scripts: SyncScripts,
    event_id: str,
    code: str,
    limit: int,
    *,
    ticket_type: str | None = None,
    expires_at: datetime | None = None,
) -> None:
    row = DiscountCode(
        event_id=event_id,
        code=code,
        kind="percent",
        amount=25,
        ticket_type_id=ticket_type,
        max_uses=limit,
        expires_at=expires_at or datetime.now(UTC) + timedelta(days=1),
    )
    assert scripts.run("add_discount", event_id, code, code_arg(row, CodeUses(0, 0))) == 1


def uses(client: SaleRedis, event_id: str, code: str) -> tuple[int, int]:
    stored = json.loads(client.hget(EventKeys(event_id).discounts, code) or "{}")
    return int(stored["used"]), int(stored["paid"])


def hold(scripts: SyncScripts, event_id: str, fan: str, code: str, now: int = NOW) -> str:
    answer = hold_tickets(scripts, event_id, fan, uuid.uuid4().hex, [("ga", 1)], now, None, code)
    return "ok" if answer.ok else answer.code


def test_parallel_holds_take_exactly_the_limit(redis_url: str) -> None:
    fans, limit = 80, 7
    client = redis.Redis.from_url(redis_url)
    event_id, fan_ids = admitted_crowd(SyncScripts(client), fans, fans)
    add_code(SyncScripts(client), event_id, "half", limit)
    barrier = threading.Barrier(fans)
    outcomes: list[str] = []
    lock = threading.Lock()

    def fan_buys(fan: str) -> None:
        # One connection per thread: the requests really are concurrent.
        scripts = SyncScripts(redis.Redis.from_url(redis_url))
        barrier.wait()
        outcome = hold(scripts, event_id, fan, "half")
        with lock:
            outcomes.append(outcome)
        scripts.client.close()

    threads = [threading.Thread(target=fan_buys, args=(fan,)) for fan in fan_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert len(outcomes) == fans
    assert outcomes.count("ok") == limit
    assert outcomes.count("discount_used_up") == fans - limit
    assert uses(client, event_id, "half") == (limit, 0)
    # A refused hold took nothing: only the limit's tickets are held.
    live = snapshot_sync(SyncScripts(client), event_id)
    assert live is not None
    assert live["held_by_type"]["ga"] == limit


def test_release_and_expiry_give_the_use_back_and_payment_keeps_it(redis_url: str) -> None:
    scripts = SyncScripts(redis.Redis.from_url(redis_url))
    event_id, fans = admitted_crowd(scripts, 10, 10)
    add_code(scripts, event_id, "two", 2)
    holds = []
    for fan in fans[:2]:
        answer = hold_tickets(
            scripts, event_id, fan, uuid.uuid4().hex, [("ga", 1)], NOW, None, "two"
        )
        assert answer.ok and answer.hold is not None and answer.hold.discount is not None
        assert answer.hold.discount.code == "two"
        holds.append(answer.hold)
    assert hold(scripts, event_id, fans[2], "two") == "discount_used_up"

    # Let go: the use comes back, and another fan takes it.
    assert release_hold(scripts, event_id, holds[0].id, holds[0].fan_id, NOW + 1).ok
    assert uses(scripts.client, event_id, "two") == (1, 0)
    assert hold(scripts, event_id, fans[2], "two", NOW + 2) == "ok"
    assert uses(scripts.client, event_id, "two") == (2, 0)

    # Paid: final. Releasing it again later changes nothing.
    assert confirm_hold(scripts, event_id, holds[1].id, "pay-1", NOW + 3).ok
    assert uses(scripts.client, event_id, "two") == (2, 1)
    release_hold(scripts, event_id, holds[1].id, "", NOW + 4)
    assert uses(scripts.client, event_id, "two") == (2, 1)

    # Expired: fans[2]'s unpaid hold ends with the clock's sweep; its use comes back.
    admit_next_batch(scripts, event_id, 1_000, now_ms=AFTER_EXPIRY)
    assert uses(scripts.client, event_id, "two") == (1, 1)


def expired_hold_with_code(scripts: SyncScripts) -> tuple[str, list[str], Hold]:
    """A sale whose code "one" (one use) fans[0]'s hold took, then gave back on expiry."""
    event_id, fans = admitted_crowd(scripts, 10, 10)
    add_code(scripts, event_id, "one", 1)
    first = hold_tickets(scripts, event_id, fans[0], "r0", [("ga", 1)], NOW, None, "one").hold
    assert first is not None
    admit_next_batch(scripts, event_id, 1_000, now_ms=AFTER_EXPIRY)
    assert uses(scripts.client, event_id, "one") == (0, 0)
    return event_id, fans, first


def test_a_late_payment_takes_the_use_again_only_while_one_is_left(redis_url: str) -> None:
    scripts = SyncScripts(redis.Redis.from_url(redis_url))
    event_id, _, first = expired_hold_with_code(scripts)
    # Paid after it expired, with its use free: the payment gets tickets and the use.
    late = confirm_hold(scripts, event_id, first.id, "pay-late", AFTER_EXPIRY + 1)
    assert late.ok and late.body["late"]
    assert uses(scripts.client, event_id, "one") == (1, 1)


def test_a_late_payment_whose_use_was_taken_is_refused(redis_url: str) -> None:
    scripts = SyncScripts(redis.Redis.from_url(redis_url))
    event_id, fans, first = expired_hold_with_code(scripts)
    # Another fan takes the code the expired hold gave back.
    later = AFTER_EXPIRY
    scripts.client.zadd(EventKeys(event_id).shopping, {fans[1]: later + 600_000})
    assert hold(scripts, event_id, fans[1], "one", later + 1) == "ok"
    refused = confirm_hold(scripts, event_id, first.id, "pay-late", later + 2)
    assert not refused.ok and refused.code == "discount_used_up"
    assert uses(scripts.client, event_id, "one") == (1, 0)


def test_refusals_take_nothing(redis_url: str) -> None:
    scripts = SyncScripts(redis.Redis.from_url(redis_url))
    event_id, fans = admitted_crowd(scripts, 10, 10)
    add_code(scripts, event_id, "gone", 5, expires_at=datetime(2001, 1, 1, tzinfo=UTC))
    add_code(scripts, event_id, "vip", 5, ticket_type="vip")
    # NOW is 1970 + 3 s; a code that expired in 2001 is still good then, so
    # ask at a real time for the expired one.
    real_now = int(datetime.now(UTC).timestamp() * 1000)
    scripts.client.zadd(EventKeys(event_id).shopping, {fans[0]: real_now + 600_000})
    assert hold(scripts, event_id, fans[0], "gone", real_now) == "discount_expired"
    assert hold(scripts, event_id, fans[1], "vip") == "discount_not_applicable"
    assert hold(scripts, event_id, fans[2], "nope") == "unknown_discount"
    assert uses(scripts.client, event_id, "gone") == (0, 0)
    assert uses(scripts.client, event_id, "vip") == (0, 0)
    live = snapshot_sync(scripts, event_id)
    assert live is not None and live["held_by_type"]["ga"] == 0
