"""Queue position does not depend on arrival time inside the window (invariant 2).

Both tests would fail for a draw that favours early (or late) arrivals: the
chi-square bound is the 0.1% critical value, and the seeds are fixed, so the
outcome is reproducible, not flaky.
"""

from __future__ import annotations

import hashlib
import uuid

import redis

from buffer.draw import run_draw
from buffer.order import ALGORITHM, draw_key, draw_order, seed_commitment
from loadtests.sync_sale import create_sale_sync, join_sync
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.scripts import SyncScripts

ENTRANTS = 10
TRIALS = 4_000
# Chi-square critical value for (10-1)*(10-1) = 81 degrees of freedom at p = 0.001.
CHI2_81_P001 = 124.84


def _seed(trial: int) -> str:
    return hashlib.sha256(f"fairness-{trial}".encode()).hexdigest()


def chi_square_arrival_vs_position(orders: list[list[int]]) -> float:
    """Chi-square of the arrival-rank x queue-position table against independence."""
    table = [[0] * ENTRANTS for _ in range(ENTRANTS)]
    for order in orders:
        for position, arrival in enumerate(order):
            table[arrival][position] += 1
    expected = len(orders) / ENTRANTS
    return sum((cell - expected) ** 2 / expected for row in table for cell in row)


def test_draw_position_is_independent_of_arrival_order() -> None:
    orders = []
    for trial in range(TRIALS):
        # Fan ids as the server issues them, in order of arrival.
        arrivals = [uuid.UUID(int=trial * 1_000 + i).hex for i in range(ENTRANTS)]
        ordered, _ = draw_order(draw_key(ALGORITHM, _seed(trial), "ab" * 32), arrivals)
        orders.append([arrivals.index(f) for f in ordered])
    assert chi_square_arrival_vs_position(orders) < CHI2_81_P001
    first_arrival_mean = sum(o.index(0) for o in orders) / TRIALS
    assert abs(first_arrival_mean - (ENTRANTS - 1) / 2) < 0.25


def test_a_biased_order_is_caught_by_the_same_statistic() -> None:
    """The check can fail: an order that is mostly arrival order is flagged."""
    orders = []
    for trial in range(TRIALS):
        order = list(range(ENTRANTS))
        if trial % 3:
            order[0], order[trial % ENTRANTS] = order[trial % ENTRANTS], order[0]
        orders.append(order)
    assert chi_square_arrival_vs_position(orders) > CHI2_81_P001


def test_real_draws_through_redis_ignore_arrival_time(redis_url: str) -> None:
    """The whole path (join.lua into the buffer, run_draw, queue numbers) over many drops."""
    client = redis.Redis.from_url(redis_url)
    scripts = SyncScripts(client)
    orders = []
    for trial in range(300):
        event_id = f"fair{trial}"
        seed = _seed(trial)
        create_sale_sync(
            scripts,
            SaleSpec(
                event_id,
                "f",
                1_000,
                50_000,
                60,
                1,
                60,
                seed,
                seed_commitment(seed),
                (TicketTypeSpec("ga", "GA", 1, "EUR", 1, 1),),
            ),
        )
        arrivals = [f"t{trial}-fan{i}" for i in range(ENTRANTS)]
        for i, fan in enumerate(arrivals):  # one fan every 4 seconds across the window
            join_sync(scripts, event_id, fan, 1_000 + 4_000 * i)
        admit_next_batch(scripts, event_id, 1_000, now_ms=50_000)
        assert run_draw(scripts, event_id) is not None
        numbers = {f: int(client.zscore(EventKeys(event_id).queue, f) or 0) for f in arrivals}
        assert sorted(numbers.values()) == list(range(1, ENTRANTS + 1))
        orders.append([arrivals.index(f) for f in sorted(arrivals, key=numbers.__getitem__)])
    # Fewer trials here, so a looser, still p = 0.001 test on the first arrival alone.
    first_positions = [o.index(0) for o in orders]
    expected = len(orders) / ENTRANTS
    chi2 = sum((first_positions.count(p) - expected) ** 2 / expected for p in range(ENTRANTS))
    assert chi2 < 27.88  # 9 degrees of freedom, p = 0.001
