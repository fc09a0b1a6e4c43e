"""A queued fan's chance of a ticket and wait for its turn, from the figures
every fan page gets (``SaleFigures`` in fairdrop/protocol.py).

The server's status (web/rooms.py) and the page (static/queue_odds.js, the
same arithmetic line for line; tests/pages/test_fan_odds.py holds the two
together) work them out from the fan's number and the shared progress, so one
progress message sent to everyone updates every fan's odds. How close they
come in simulated drops: ``python -m loadtests.odds_check``.

The chance. The fans before this one are those still to be let in ahead of it
and those let in who hold nothing yet, but for those choosing longer than any
buyer so far took (they mostly buy nothing). Each buys with the share of the fans
let in so far who bought, and a buyer takes the tickets per buyer so far,
spread as buyers so far differ; both are drawn toward a guess while few have
chosen (``BUY_PRIOR``, ``TAKE_PRIOR``): everyone buys, halfway between 1 and
the most one fan may take. What they take together is nearly normal once
there are a few of them. The fan gets a ticket when their total leaves one of
the tickets left plus the live holds' tickets expected back (the share of
ended holds that came back so far).

The wait. The clock lets fans in from a token bucket (tick.lua): the next fan
goes in once the bucket holds one token, and every further fan one admission
interval (a minute over the rate) later. A fan with ``ahead`` fans before it
goes in ``ahead + 1`` tokens after the bucket's last count, not ``ahead``: the
fan next in line waits up to a whole interval, not "any moment". That holds
while the rate is what holds the queue back (``admit_limit`` "rate"); behind
the cap or the tickets left the page says what the fan waits for instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Imagined fans let in who all bought, added to the figures so far: before
# anyone has chosen, everyone ahead counts as a buyer.
BUY_PRIOR = 2
# Imagined buyers who take anything from 1 to the most, evenly, added to the
# takes so far: the guess before anyone has bought, soon outweighed.
TAKE_PRIOR = 2
# Chances in words: the least chance each word is used for, best first.
WORDS = ((0.9, "very likely"), (0.65, "likely"), (0.35, "about even"))
# Below this the page says "very unlikely" rather than "about 1 in N".
ONE_IN_N_FLOOR = 1 / 30


def buy_share(chosen: int, buyers: int) -> float:
    """The share of fans let in who buy, drawn toward everyone by ``BUY_PRIOR``."""
    return (buyers + BUY_PRIOR) / (chosen + BUY_PRIOR)


def likely_take(figures: Mapping[str, Any]) -> tuple[float, float]:
    """What a buyer takes: mean and variance of the takes so far (``buyers``,
    ``per_buyer``, ``per_buyer_sd``) with ``TAKE_PRIOR`` even takes from 1 to
    ``most_per_fan``."""
    most = max(1, int(figures.get("most_per_fan") or 1))
    prior_mean = (1 + most) / 2
    prior_square = (most * most - 1) / 12 + prior_mean * prior_mean
    buyers = int(figures.get("buyers") or 0)
    mean = float(figures.get("per_buyer") or 0)
    spread = float(figures.get("per_buyer_sd") or 0)
    weight = buyers + TAKE_PRIOR
    blended = (buyers * mean + TAKE_PRIOR * prior_mean) / weight
    square = (buyers * (spread * spread + mean * mean) + TAKE_PRIOR * prior_square) / weight
    return blended, max(0.0, square - blended * blended)


def ticket_chance(number: int, figures: Mapping[str, Any]) -> float:
    """The chance that fan ``number`` gets at least one ticket (0 to 1).

    ``figures``: a progress or status message's shared fields (``serving``,
    ``remaining_total``, ``held``, ``choosing``, ``choosing_long``, ``buyers``,
    ``per_buyer``, ``per_buyer_sd``, ``most_per_fan``, ``hold_return_share``).
    """
    serving = int(figures.get("serving") or 0)
    choosing = int(figures.get("choosing") or 0)
    # Fans choosing far longer than any buyer took are counted as buying nothing.
    likely_choosers = choosing - int(figures.get("choosing_long") or 0)
    held = int(figures.get("held") or 0)
    back_share = float(figures.get("hold_return_share") or 0)
    supply = int(figures.get("remaining_total") or 0) + held * back_share
    if supply <= 0:
        return 0.0
    before = max(0, number - serving - 1) + likely_choosers
    buyers = int(figures.get("buyers") or 0)
    # Fans let in who have chosen: bought, let their turn go, or are counted out.
    chosen = max(buyers, serving - likely_choosers)
    share = buy_share(chosen, buyers)
    mean, take_variance = likely_take(figures)
    # What the fans before take: each 0, or a buyer's take; and how sure the
    # share and the take are, from how many have chosen and bought so far.
    expected = before * share * mean
    variance = before * (share * (take_variance + mean * mean) - (share * mean) ** 2)
    variance += (before * mean) ** 2 * share * (1 - share) / (chosen + BUY_PRIOR)
    variance += (before * share) ** 2 * take_variance / (buyers + TAKE_PRIOR)
    # Which held tickets come back is chance too.
    variance += held * back_share * (1 - back_share)
    # At least one left: their total at most supply - 1 (half a ticket: whole numbers).
    room = supply - 0.5 - expected
    if variance <= 0:
        return 1.0 if room > 0 else 0.0
    return 0.5 * math.erfc(-room / math.sqrt(2 * variance))


def chance_words(chance: float) -> str:
    """The chance as a fan reads it: "likely", "about even", "unlikely: about 1 in 12"."""
    for least, words in WORDS:
        if chance >= least:
            return words
    # Half up, as the page's Math.round (Python's round() goes to even).
    if chance >= ONE_IN_N_FLOOR:
        return f"unlikely: about 1 in {math.floor(1 / chance + 0.5)}"
    return f"very unlikely: less than 1 in {math.floor(1 / ONE_IN_N_FLOOR + 0.5)}"


def next_admission_ms(tokens: float, tokens_at: int, rate_per_min: int) -> int | None:
    """When (epoch ms) the clock lets the next fan in at the rate: once the bucket,
    ``tokens`` at ``tokens_at``, holds one token. None without a rate or a bucket yet."""
    if rate_per_min <= 0 or tokens_at <= 0:
        return None
    return tokens_at + math.floor((1 - tokens) * 60_000 / rate_per_min)


def admission_wait_s(ahead: int, next_admit_ms: int | None, rate_per_min: int, now_ms: int) -> int:
    """Whole seconds (half up) until a fan with ``ahead`` fans before it goes in at the rate."""
    if rate_per_min <= 0:
        return 0
    interval_ms = 60_000 / rate_per_min
    # Without the bucket's count (a join's answer) the next fan is a whole interval away.
    first = now_ms + interval_ms if next_admit_ms is None else next_admit_ms
    wait_ms = max(0.0, first + ahead * interval_ms - now_ms)
    return math.floor(wait_ms / 1000 + 0.5)
