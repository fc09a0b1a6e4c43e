"""join.lua's share of new anonymous entrants per address (invariant 5: on an
open sale an entry is rate-limited per address), driven by Hypothesis on a
real Redis: any sequence of joins, rejoins and signed-in joins from a few
addresses, in the window and after it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buffer.arrivals import ADDRESS_BUSY, AddressShare, Joiner
from buffer.order import seed_commitment
from loadtests.sync_sale import create_sale_sync, join_sync
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.scripts import SyncScripts

OPENS, DROP = 1_000, 20_000
ADDRESSES = ["192.0.2.1", "192.0.2.2", "2001:db8::/64"]
SEED = "5e" * 32


@dataclass
class Model:
    """What the share allows: each address's next entrant is due at ``due``, and may
    run ahead of the time by ``burst`` entrants (a generic cell rate)."""

    share: AddressShare
    due: dict[str, int] = field(default_factory=dict)

    def free_at(self, address: str, now: int) -> int:
        next_due = max(self.due.get(address, 0), now) + self.share.interval_ms
        return next_due - self.share.burst * self.share.interval_ms

    def take(self, address: str, now: int) -> None:
        self.due[address] = max(self.due.get(address, 0), now) + self.share.interval_ms


# One step: ms that pass, then who joins: a new anonymous fan at an address, a
# fan who has a place joining again, or a signed-in fan (counted as a person).
STEP = st.tuples(
    st.integers(min_value=0, max_value=2_500),
    st.sampled_from(["new", "again", "signed_in"]),
    st.sampled_from(ADDRESSES),
)


@given(
    steps=st.lists(STEP, min_size=1, max_size=60),
    burst=st.integers(min_value=1, max_value=3),
    interval_ms=st.sampled_from([500, 1_000, 3_000]),
    start=st.integers(min_value=OPENS, max_value=DROP + 5_000),
)
# Each example makes a sale of its own, so the shared Redis fixture is safe.
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_an_address_places_no_more_new_entrants_than_its_share(
    redis_url: str,
    steps: list[tuple[int, str, str]],
    burst: int,
    interval_ms: int,
    start: int,
) -> None:
    scripts = SyncScripts(redis.Redis.from_url(redis_url))
    event_id = uuid.uuid4().hex[:12]
    create_sale_sync(
        scripts,
        SaleSpec(
            event_id,
            "share",
            OPENS,
            DROP,
            60,
            10,
            60,
            SEED,
            seed_commitment(SEED),
            (TicketTypeSpec("ga", "GA", 1, "EUR", 1_000, 1),),
        ),
    )
    share = AddressShare(interval_ms, burst)
    model = Model(share)
    now = start
    placed: dict[str, list[int]] = {a: [] for a in ADDRESSES}
    seated: list[Joiner] = []
    for n, (ms, who, address) in enumerate(steps):
        now += ms
        if who == "again" and seated:
            joiner = seated[n % len(seated)]
        elif who == "signed_in":
            joiner = Joiner(f"person-{n}", "open email", f"email:p{n}@example.org")
        else:
            joiner = Joiner(f"anon-{n}", address=address)
        fresh = joiner not in seated
        counted = fresh and joiner.address != ""

        entry = join_sync(scripts, event_id, joiner, now, share)

        if counted and model.free_at(joiner.address, now) > now:
            # Refused, saying when the address may place one more, and nothing changed.
            assert entry.status == ADDRESS_BUSY, entry
            assert entry.address_free_at_ms == model.free_at(joiner.address, now)
            assert entry.number == 0
            continue
        assert entry.status in {"buffered", "queued"}, entry
        if fresh:
            seated.append(joiner)
        if counted:
            model.take(joiner.address, now)
            placed[joiner.address].append(now)

    # The share itself: between any two of an address's placements, no more
    # than its burst plus one per interval that passed.
    for times in placed.values():
        for i, first in enumerate(times):
            for j in range(i, len(times)):
                assert j - i + 1 <= burst + (times[j] - first) // interval_ms
