"""What each process counts for Prometheus (prometheus_client), and the one-line hooks.

Every process of a machine (web processes, RQ workers, clocks) writes its
counts to files of its own in one directory, prometheus_client's
multiprocess mode, and whichever web process answers ``GET /metrics`` adds
them up (web/metrics.py). The directory is ``PROMETHEUS_MULTIPROC_DIR``,
which the library reads from the environment when it is first imported:
the launcher (launch/stack.py) sets it for every process it starts, to a
directory emptied at the start of each run. Without it each process counts
for itself, as in a test that runs the app in its own process.

Hot paths call these once per request, so each is one dict lookup and one
``inc`` (a lock and a write into the process's memory-mapped file, about a
microsecond: README "Metrics"). No label ever comes from what a client
sends: every label value below is one of a fixed set (join.lua's statuses,
ErrorCode values, the payment outcomes), and anything else is ``other``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from fairdrop.errors import ErrorCode

OTHER: Final = "other"

# join.lua's answers (buffer/arrivals.py Entry.status).
JOIN_OUTCOMES = (
    "buffered",
    "queued",
    "sold_out",
    "not_open",
    "address_busy",
    "sign_in_required",
    "not_on_list",
    "unknown_event",
)
# What a payment came to: started with the provider (waiting for the fan, as
# with Stripe), succeeded (its hold sold, once per hold), refunded (it bought
# nothing: once per refund made), failed (the provider refused or cancelled it
# and the hold was let go), refused (no live hold of the fan's to pay for).
PAYMENT_OUTCOMES = ("started", "succeeded", "refunded", "failed", "refused")
HOLD_ANSWERS = ("held", *(code.value for code in ErrorCode))

JOINS = Counter(
    "fairdrop_joins",
    "Fans' own join calls answered by the sale (join.lua), by its answer; "
    "a join refused before it (rate limit, proof of work) is a refusal only",
    ["outcome"],
)
FAN_SOCKETS = Gauge(
    "fairdrop_fan_sockets_open",
    "Fan websockets following a sale, in every live web process",
    multiprocess_mode="livesum",
)
ADMISSIONS = Counter("fairdrop_admissions", "Fans let in to choose tickets by the clock")
HOLDS = Counter(
    "fairdrop_holds",
    "Hold requests the purchase worker answered, by answer: held, or the refusal's code",
    ["answer"],
)
PAYMENTS = Counter("fairdrop_payments", "Payments by outcome", ["outcome"])
REFUSALS = Counter(
    "fairdrop_refusals",
    "HTTP answers 4xx, by the fairdrop error code they carry",
    ["code"],
)
CLOCK_STEP = Histogram(
    "fairdrop_clock_step_seconds",
    "How long one clock step of every sale took (a tick is 0.2 s by default)",
    # A step is a tick.lua call per sale (about 0.1 ms each) and, at the drop,
    # the draw: most steps well under a tick, a slow one past it.
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0),
)


class _Children:
    """A counter's children by label value, each made on first use: a hook is
    then a dict lookup and an inc. A value outside ``known`` counts as ``other``."""

    def __init__(self, counter: Counter, known: Iterable[str]) -> None:
        self._counter = counter
        self._known = frozenset(known)
        self._made: dict[str, Counter] = {}

    def __getitem__(self, value: str) -> Counter:
        child = self._made.get(value)
        if child is None:
            # Only known values are kept, so nothing here grows past them.
            value = value if value in self._known else OTHER
            child = self._made.get(value) or self._counter.labels(value)
            self._made[value] = child
        return child


_JOINS = _Children(JOINS, JOIN_OUTCOMES)
_HOLDS = _Children(HOLDS, HOLD_ANSWERS)
_PAYMENTS = _Children(PAYMENTS, PAYMENT_OUTCOMES)
_REFUSALS = _Children(REFUSALS, (code.value for code in ErrorCode))


def count_join(outcome: str) -> None:
    _JOINS[outcome].inc()


def count_refusal(code: str, status: int) -> None:
    """One HTTP answer: counted when it is a 4xx refusal."""
    if 400 <= status < 500:
        _REFUSALS[code].inc()


def count_hold_answers(answers: Iterable[str | None]) -> None:
    """A batch's answers: None for held, else the refusal's code."""
    for answer in answers:
        _HOLDS[answer or "held"].inc()


def count_payment(outcome: str) -> None:
    _PAYMENTS[outcome].inc()


def count_admitted(fans: int) -> None:
    if fans:
        ADMISSIONS.inc(fans)
