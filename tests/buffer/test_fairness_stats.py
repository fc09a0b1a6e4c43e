"""buffer/fairness_stats.py against values worked out by hand (or by brute force)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from buffer.fairness_stats import (
    KS_EXACT_MAX_PAIRS,
    analyse_arrivals,
    average_ranks,
    decile_boxes,
    kolmogorov_sf,
    ks_two_samples,
    spearman,
    spearman_p_value,
)


def test_equal_values_share_the_mean_of_their_ranks() -> None:
    assert average_ranks([10, 20, 20, 30]).tolist() == [1, 2.5, 2.5, 4]
    assert average_ranks([3, 1, 2]).tolist() == [3, 1, 2]
    assert average_ranks([7, 7, 7]).tolist() == [2, 2, 2]


def test_spearman_on_known_ranks() -> None:
    # 1 - 6 * sum(d^2) / (n (n^2 - 1)): d = (1, 1, 1, 1, 0), so 1 - 6 * 4 / 120.
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert spearman([1, 2, 3, 4, 5], [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    # With a tie: y's ranks are (1, 2, 3.5, 5, 3.5); Pearson of the ranks by hand:
    # x - 3 = (-2, -1, 0, 1, 2), y - 3 = (-2, -1, 0.5, 2, 0.5): 4 + 1 + 0 + 2 + 1 = 8
    # over sqrt(10 * 9.5).
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))


def test_spearman_is_undefined_without_two_values_on_each_side() -> None:
    assert spearman([1], [1]) is None
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    with pytest.raises(ValueError):
        spearman([1, 2], [1])


def test_spearman_p_value_from_the_normal_approximation() -> None:
    # rho * sqrt(n - 1) = 1.96 is the two-sided 5% point.
    assert spearman_p_value(1.96 / math.sqrt(100), 101) == pytest.approx(0.05, abs=1e-4)
    assert spearman_p_value(0.0, 50) == 1.0


def test_ks_statistic_on_known_samples() -> None:
    # Sorted together: 1a 2a 3a 3.5b 4a 5b 6b 7b; A - B after each: 1/4 2/4 3/4 2/4 3/4 ...
    assert ks_two_samples([1, 2, 3, 4], [3.5, 5, 6, 7]).statistic == 0.75
    assert ks_two_samples([1, 3, 5], [2, 4, 6]).statistic == pytest.approx(1 / 3)
    assert ks_two_samples([1, 2], [1, 2]).statistic == 0.0


def test_exact_p_values_of_fully_separated_samples() -> None:
    # D = 1 only for the two interleavings that put one sample wholly first.
    assert ks_two_samples([1, 2, 3], [4, 5, 6]).p_value == pytest.approx(2 / 20)
    assert ks_two_samples([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).p_value == pytest.approx(2 / 252)
    assert ks_two_samples([1, 2, 3], [4, 5, 6]).method == "exact"


def _brute_force_p_value(a: list[int], b: list[int]) -> float:
    """The share of all ways to split the pooled values into samples of these sizes
    whose statistic is at least the observed one."""
    pooled = sorted(a + b)
    observed = ks_two_samples(a, b).statistic
    splits = list(itertools.combinations(range(len(pooled)), len(a)))
    at_least = 0
    for chosen in splits:
        first = [pooled[i] for i in chosen]
        second = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        if ks_two_samples(first, second).statistic >= observed - 1e-12:
            at_least += 1
    return at_least / len(splits)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1, 4, 6, 9], [2, 3, 5, 7, 8]),
        ([1, 2, 5, 9, 10], [3, 4, 6, 7, 8, 11]),
        ([2, 4, 6], [1, 3, 5, 7, 8, 9]),
        ([1, 2, 3, 4], [5, 6, 7, 8, 9]),
    ],
)
def test_exact_p_value_counts_every_interleaving(a: list[int], b: list[int]) -> None:
    assert ks_two_samples(a, b).p_value == pytest.approx(_brute_force_p_value(a, b))


@pytest.mark.parametrize(
    ("x", "p"),
    # The Kolmogorov distribution's well-known upper points.
    [(1.224, 0.10), (1.358, 0.05), (1.628, 0.01), (1.949, 0.001)],
)
def test_kolmogorov_distribution_at_its_critical_values(x: float, p: float) -> None:
    assert kolmogorov_sf(x) == pytest.approx(p, rel=0.01)


def test_kolmogorov_series_meet_where_they_switch() -> None:
    assert kolmogorov_sf(1.18 - 1e-9) == pytest.approx(kolmogorov_sf(1.18), abs=1e-9)
    assert kolmogorov_sf(0.0) == 1.0
    assert kolmogorov_sf(0.2) == pytest.approx(1.0)
    assert kolmogorov_sf(5.0) < 1e-20


def test_asymptotic_p_values_agree_with_exact_at_the_boundary() -> None:
    rng = np.random.default_rng(7)
    side = math.isqrt(KS_EXACT_MAX_PAIRS)  # the largest square exact case
    for shift in (0.0, 0.2, 0.4):
        a = rng.uniform(0, 1, side)
        b = rng.uniform(shift, 1 + shift, side)
        exact = ks_two_samples(a, b)
        bigger = ks_two_samples(a, np.append(b, 2.0 + shift))  # one more: asymptotic
        assert exact.method == "exact" and bigger.method == "asymptotic"
        asymptotic = kolmogorov_sf(math.sqrt(side / 2) * exact.statistic)
        assert asymptotic == pytest.approx(exact.p_value, abs=0.005)


def test_p_values_high_for_one_distribution_and_low_for_a_shifted_one() -> None:
    rng = np.random.default_rng(2024)
    same = ks_two_samples(rng.uniform(0, 1, 2_000), rng.uniform(0, 1, 2_000))
    shifted = ks_two_samples(rng.uniform(0, 1, 500), rng.uniform(0.2, 1.2, 500))
    assert same.method == shifted.method == "asymptotic"
    assert same.p_value > 0.05
    assert shifted.p_value < 1e-6


def test_decile_boxes_cut_arrivals_in_order_of_time() -> None:
    times = list(range(1_000, 1_020))  # 20 arrivals, one per ms
    numbers = list(range(1, 21))  # the first to arrive got number 1: unfair
    boxes = decile_boxes(times[::-1], numbers[::-1])  # order given must not matter
    assert len(boxes) == 10 and all(box.count == 2 for box in boxes)
    assert [box.median for box in boxes] == [1.5 + 2 * i for i in range(10)]
    assert (boxes[0].arrived_from_ms, boxes[0].arrived_to_ms) == (1_000, 1_001)
    assert (boxes[0].low, boxes[0].high) == (1, 2)
    assert len(decile_boxes([5, 6, 7], [3, 1, 2])) == 3
    assert decile_boxes([], []) == []


def test_a_fair_order_shows_no_link_and_an_arrival_order_does() -> None:
    rng = np.random.default_rng(11)
    n = 1_000
    times = np.sort(rng.integers(0, 60_000, n)).tolist()
    fair = analyse_arrivals(times, (rng.permutation(n) + 1).tolist())
    assert fair.spearman is not None and fair.spearman_fair_band is not None
    assert abs(fair.spearman) < fair.spearman_fair_band * 2
    assert fair.ks is not None and fair.ks.p_value > 0.001
    assert (fair.ks.early, fair.ks.late) == (500, 500)
    odd = analyse_arrivals(times[:7], [4, 1, 7, 2, 6, 3, 5])
    # Early {1, 4, 7} against late {3, 5, 6}, the middle arrival (2) left out.
    assert odd.ks is not None and (odd.ks.early, odd.ks.late) == (3, 3)
    assert odd.ks.statistic == pytest.approx(1 / 3)

    unfair = analyse_arrivals(times, list(range(1, n + 1)))
    assert unfair.spearman == pytest.approx(1.0, abs=1e-3)
    assert unfair.ks is not None and unfair.ks.statistic == 1.0 and unfair.ks.p_value < 1e-12
    assert [b.median for b in unfair.deciles] == sorted(b.median for b in unfair.deciles)


def test_too_few_arrivals_to_test() -> None:
    none = analyse_arrivals([], [])
    assert (none.entrants, none.spearman, none.ks, none.deciles) == (0, None, None, [])
    one = analyse_arrivals([5], [1])
    assert one.spearman is None and one.ks is None and len(one.deciles) == 1
