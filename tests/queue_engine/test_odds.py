"""queue_engine/odds.py: a queued fan's chance of a ticket and wait for its turn."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queue_engine.odds import admission_wait_s, chance_words, next_admission_ms, ticket_chance

NOW = 1_800_000_000_000


def _figures(**changes: Any) -> dict[str, Any]:
    """A sale midway: 40 tickets left, 10 fans choosing, and every one of the 40
    fans let in who chose bought, 1.5 each."""
    figures = {
        "serving": 50,
        "remaining_total": 40,
        "held": 0,
        "choosing": 10,
        "choosing_long": 0,
        "buyers": 40,
        "per_buyer": 1.5,
        "per_buyer_sd": 0.5,
        "most_per_fan": 2,
        "hold_return_share": 0.0,
    }
    return {**figures, **changes}


def test_the_fan_next_in_line_waits_a_whole_interval_after_an_admission() -> None:
    # Five a minute: one every 12 s. The step that let the last fan in spent the
    # bucket's token, so the next fan goes in 12 s later, not "any moment" (0 s).
    next_admit = next_admission_ms(0.0, NOW, 5)
    assert next_admit == NOW + 12_000
    assert admission_wait_s(0, next_admit, 5, NOW) == 12
    assert admission_wait_s(3, next_admit, 5, NOW) == 48
    # Counted down as time passes, and 0 once the moment has come.
    assert admission_wait_s(0, next_admit, 5, NOW + 7_000) == 5
    assert admission_wait_s(0, next_admit, 5, NOW + 20_000) == 0


def test_a_full_bucket_lets_its_tokens_in_at_once() -> None:
    next_admit = next_admission_ms(3.0, NOW, 60)  # three fans' worth saved up
    assert [admission_wait_s(a, next_admit, 60, NOW) for a in range(5)] == [0, 0, 0, 1, 2]


def test_without_the_buckets_count_the_next_fan_is_an_interval_away() -> None:
    assert next_admission_ms(0.5, 0, 60) is None  # no clock step yet
    assert next_admission_ms(0.5, NOW, 0) is None  # no rate
    assert admission_wait_s(0, None, 60, NOW) == 1
    assert admission_wait_s(4, None, 60, NOW) == 5


def test_the_chance_falls_with_the_number_and_says_so_in_words() -> None:
    # 40 tickets, 10 fans choosing and everyone ahead buying 1.5 on average:
    # about 16 more fans are served after the choosing ones.
    figures = _figures()
    chances = {n: ticket_chance(n, figures) for n in (51, 60, 67, 75, 90)}
    assert chances[51] > 0.99 and chances[90] < 0.01
    assert list(chances.values()) == sorted(chances.values(), reverse=True)
    assert 0.35 < chances[67] < 0.65 and chance_words(chances[67]) == "about even"
    assert chance_words(chances[51]) == "very likely"


def test_nothing_left_and_nothing_held_is_no_chance() -> None:
    assert ticket_chance(51, _figures(remaining_total=0)) == 0.0
    # The next fan with one ticket left and nobody choosing gets it.
    assert ticket_chance(51, _figures(remaining_total=1, choosing=0)) == 1.0


def test_holds_that_may_come_back_and_fans_choosing_too_long_raise_the_chance() -> None:
    base = ticket_chance(67, _figures())
    assert ticket_chance(67, _figures(held=20, hold_return_share=0.3)) > base
    assert ticket_chance(67, _figures(choosing_long=6)) > base
    # Fewer tickets per buyer, or fewer buyers among those let in, raise it too.
    assert ticket_chance(67, _figures(per_buyer=1.2)) > base
    assert ticket_chance(67, _figures(serving=80, choosing=10)) > base


def test_before_anyone_has_bought_the_guess_is_halfway_to_the_limit() -> None:
    # Nobody has bought: 1 to 4 each counts as 2.5 on average, everyone buying.
    figures = _figures(serving=0, choosing=0, buyers=0, per_buyer=0, per_buyer_sd=0)
    figures["most_per_fan"] = 4
    # 40 tickets at 2.5 each: the 16th fan is about even (its 15 before take 37.5).
    assert 0.3 < ticket_chance(16, figures) < 0.7


@pytest.mark.parametrize(
    ("chance", "words"),
    [
        (0.97, "very likely"),
        (0.9, "very likely"),
        (0.7, "likely"),
        (0.5, "about even"),
        (0.34, "unlikely: about 1 in 3"),
        (1 / 12, "unlikely: about 1 in 12"),
        (0.08, "unlikely: about 1 in 13"),  # 12.5: half up, as the page rounds
        (0.01, "very unlikely: less than 1 in 30"),
        (0.0, "very unlikely: less than 1 in 30"),
    ],
)
def test_chance_words(chance: float, words: str) -> None:
    assert chance_words(chance) == words


@given(
    remaining=st.integers(0, 500),
    held=st.integers(0, 100),
    choosing=st.integers(0, 50),
    buyers=st.integers(0, 300),
    per_buyer=st.floats(1, 4),
    spread=st.floats(0, 1.5),
    returned=st.floats(0, 1),
    number=st.integers(1, 2_000),
)
def test_the_chance_is_a_probability_that_never_rises_further_back(
    remaining: int,
    held: int,
    choosing: int,
    buyers: int,
    per_buyer: float,
    spread: float,
    returned: float,
    number: int,
) -> None:
    figures = _figures(
        serving=0,
        remaining_total=remaining,
        held=held,
        choosing=choosing,
        buyers=buyers,
        per_buyer=per_buyer if buyers else 0,
        per_buyer_sd=spread if buyers else 0,
        most_per_fan=4,
        hold_return_share=returned,
    )
    here, behind = ticket_chance(number, figures), ticket_chance(number + 1, figures)
    assert 0.0 <= behind <= 1.0 and 0.0 <= here <= 1.0
    # With tickets on sale, never better further back. (With none, a fan's whole
    # chance is in holds coming back, and the normal curve's far tail can give
    # the next fan a hair more: both "very unlikely".)
    if remaining:
        assert behind <= here
