"""Does a fan's queue number depend on when they arrived in the window?

Invariant 2 says it must not: everyone who joins during the buffer window gets
a uniformly random number, whenever in the window they came. The fairness
report (web/fairness_report.py) puts each drawn entrant's arrival time and
queue number through these tests, so anyone can see it held:

- Spearman's rank correlation between arrival time and queue number. A fair
  draw gives about 0: within +-1.96 / sqrt(n - 1) in 19 fair draws of 20.
- A two-sample Kolmogorov-Smirnov test between the queue numbers of the
  earlier and the later half of the arrivals (the middle one left out when
  their count is odd): its statistic D (the largest gap
  between the two halves' cumulative distributions) and the chance that a fair
  draw gives a D at least as large (the p-value; uniform on 0..1 for fair
  draws, so a small one now and then is expected: below 0.01 in 1 draw of 100).
- Decile boxes for the report's chart: the arrivals cut into ten groups of
  (nearly) equal size by arrival time, each with the spread of its numbers.

Pure functions on numbers (numpy, no scipy, no Redis); tests/buffer/
test_fairness_stats.py checks them against values worked out by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Numbers = Sequence[float] | npt.NDArray[np.float64] | npt.NDArray[np.int64]

# Above this many pairs (n * m) the KS p-value comes from the asymptotic
# Kolmogorov distribution: the exact count walks every pair with Python's big
# integers (100 x 100 arrivals: about 10 ms), and from there on, for two
# samples of one size, the two agree to within about 0.003 (the tests compare
# them at the boundary; in the tail below 0.05 within about 7% of the value).
KS_EXACT_MAX_PAIRS = 10_000
DECILES = 10


@dataclass(frozen=True)
class KsTest:
    statistic: float  # D: the largest gap between the two empirical distributions
    p_value: float
    method: str  # "exact" or "asymptotic"
    early: int  # how many numbers in each sample
    late: int


@dataclass(frozen=True)
class Box:
    """One decile of arrivals: when they came and the spread of their queue numbers."""

    count: int
    arrived_from_ms: int
    arrived_to_ms: int
    low: float
    q1: float
    median: float
    q3: float
    high: float


@dataclass(frozen=True)
class ArrivalAnalysis:
    entrants: int  # arrivals with a queue number: the sample size of every test
    spearman: float | None  # None below two entrants, or when every arrival time is the same
    spearman_p_value: float | None
    # The band a fair draw keeps the coefficient in, 19 times in 20: +- this.
    spearman_fair_band: float | None
    ks: KsTest | None  # None below two entrants
    deciles: list[Box]


def average_ranks(values: Numbers) -> Floats:
    """Ranks 1..n of the values, equal values sharing the mean of their ranks."""
    data = np.asarray(values, dtype=np.float64)
    order = np.argsort(data, kind="stable")
    ranks = np.empty(len(data), dtype=np.float64)
    in_order = data[order]
    # Runs of equal values in sorted order: [starts[k], starts[k + 1]).
    starts = np.flatnonzero(np.r_[True, in_order[1:] != in_order[:-1]])
    ends = np.r_[starts[1:], len(data)]
    # Positions p..q-1 (0-based) have ranks p+1..q, whose mean is (p + q + 1) / 2.
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def spearman(x: Numbers, y: Numbers) -> float | None:
    """Spearman's rho: Pearson's correlation of the average ranks (ties allowed).

    None with fewer than two pairs or when either side has one value only,
    where no correlation is defined.
    """
    if len(x) != len(y):
        raise ValueError("x and y must be as long as each other")
    if len(x) < 2:
        return None
    rx, ry = average_ranks(x), average_ranks(y)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    norm = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if norm == 0:
        return None
    return max(-1.0, min(1.0, float(dx @ dy) / norm))


def spearman_p_value(rho: float, n: int) -> float:
    """Two-sided p-value of rho under a fair draw, from the normal approximation
    (rho * sqrt(n - 1) is about standard normal; good from about ten entrants)."""
    return math.erfc(abs(rho) * math.sqrt(max(n - 1, 0)) / math.sqrt(2))


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution (the limit of sqrt(n) * D).

    Two series for the same function: the alternating one converges fast for
    large x, the Jacobi-transformed one for small x.
    """
    if x <= 0:
        return 1.0
    if x < 1.18:
        y = math.exp(-(math.pi**2) / (8 * x * x))
        cdf = math.sqrt(2 * math.pi) / x * math.fsum(y ** ((2 * k - 1) ** 2) for k in range(1, 8))
        return min(1.0, max(0.0, 1.0 - cdf))
    total = math.fsum((-1.0) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))
    return min(1.0, max(0.0, 2 * total))


def _statistic_scaled(a: Floats, b: Floats) -> int:
    """D * n * m, an integer: max |n_b * A(x) - n_a * B(x)| over every value x,
    with A, B the counts of each sample at or below x."""
    values = np.concatenate([a, b])
    at_or_below_a = np.searchsorted(np.sort(a), values, side="right")
    at_or_below_b = np.searchsorted(np.sort(b), values, side="right")
    return int(np.max(np.abs(at_or_below_a * len(b) - at_or_below_b * len(a))))


def _exact_p_value(n: int, m: int, d_scaled: int) -> float:
    """P(D >= d) for two samples of n and m distinct values drawn from one distribution.

    Every interleaving of the two sorted samples is equally likely: a lattice
    path from (0, 0) to (n, m). The path stays inside when every point (i, j)
    has |i * m - j * n| < d * n * m; the p-value is the share of paths that do
    not (counted with exact integers, row by row).
    """
    row = [1] + [0] * m  # paths to (0, j) that stayed inside
    for j in range(1, m + 1):
        row[j] = row[j - 1] if j * n < d_scaled else 0
    for i in range(1, n + 1):
        row[0] = row[0] if i * m < d_scaled else 0
        for j in range(1, m + 1):
            row[j] = row[j] + row[j - 1] if abs(i * m - j * n) < d_scaled else 0
    total = math.comb(n + m, n)
    return (total - row[m]) / total


def ks_two_samples(a: Numbers, b: Numbers) -> KsTest:
    """The two-sided two-sample Kolmogorov-Smirnov test.

    Exact (the path count above) when n * m is at most KS_EXACT_MAX_PAIRS;
    beyond, the asymptotic Kolmogorov distribution at sqrt(n * m / (n + m)) * D.
    That is close for samples of one size (the report's halves are), and
    looser for sizes that differ a little (100 against 101: up to about 0.06
    too high), where the lattice D lives on is finer. The exact count assumes
    no value in both samples, which queue numbers never are.
    """
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n, m = len(xa), len(xb)
    if n == 0 or m == 0:
        raise ValueError("both samples need at least one value")
    d_scaled = _statistic_scaled(xa, xb)
    statistic = d_scaled / (n * m)
    if n * m <= KS_EXACT_MAX_PAIRS:
        return KsTest(statistic, _exact_p_value(n, m, d_scaled), "exact", n, m)
    p_value = kolmogorov_sf(math.sqrt(n * m / (n + m)) * statistic)
    return KsTest(statistic, p_value, "asymptotic", n, m)


def decile_boxes(arrived_ms: Sequence[int], numbers: Sequence[int]) -> list[Box]:
    """Arrivals in order of time, cut into DECILES groups (fewer when there are
    fewer arrivals), each with the quartiles and extremes of its queue numbers."""
    times = np.asarray(arrived_ms, dtype=np.int64)
    values = np.asarray(numbers, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    boxes = []
    for group in np.array_split(order, min(DECILES, len(order))) if len(order) else []:
        low, q1, median, q3, high = np.percentile(values[group], [0, 25, 50, 75, 100])
        boxes.append(
            Box(
                count=len(group),
                arrived_from_ms=int(times[group[0]]),
                arrived_to_ms=int(times[group[-1]]),
                low=float(low),
                q1=float(q1),
                median=float(median),
                q3=float(q3),
                high=float(high),
            )
        )
    return boxes


def analyse_arrivals(arrived_ms: Sequence[int], numbers: Sequence[int]) -> ArrivalAnalysis:
    """Every test of the report for entrants' (arrival time, queue number) pairs.

    The halves for the KS test are the first and the last floor(n / 2)
    arrivals: of one size, where its p-value is most accurate. Arrivals in the
    same millisecond keep the order they are given in, which must not depend
    on the draw (the report gives them by entrant id).
    """
    if len(arrived_ms) != len(numbers):
        raise ValueError("one queue number per arrival")
    n = len(numbers)
    times = np.asarray(arrived_ms, dtype=np.int64)
    values = np.asarray(numbers, dtype=np.float64)
    rho = spearman(times, values) if n else None
    ks = None
    if n >= 2:
        by_time = values[np.argsort(times, kind="stable")]
        ks = ks_two_samples(by_time[: n // 2], by_time[n - n // 2 :])
    return ArrivalAnalysis(
        entrants=n,
        spearman=rho,
        spearman_p_value=None if rho is None else spearman_p_value(rho, n),
        spearman_fair_band=1.96 / math.sqrt(n - 1) if n >= 2 else None,
        ks=ks,
        deciles=decile_boxes(arrived_ms, numbers),
    )
