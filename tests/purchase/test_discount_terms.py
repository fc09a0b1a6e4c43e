"""The discount arithmetic (purchase/discount_terms.py), for every hold Hypothesis can think of."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from purchase.discount_terms import FIXED, PERCENT, DiscountTerms, discount_cents
from web.organiser import MAX_PRICE_CENTS

TYPES = ["ga", "vip", "kid"]
# As the hold request allows: up to 100 of a type (web/fans.py MAX_QUANTITY).
items_st = st.lists(
    st.tuples(st.sampled_from(TYPES), st.integers(1, 100)),
    min_size=1,
    max_size=3,
    unique_by=lambda i: i[0],
)
prices_st = st.fixed_dictionaries({t: st.integers(0, MAX_PRICE_CENTS) for t in TYPES})
terms_st = st.builds(
    DiscountTerms,
    code=st.just("code"),
    kind=st.sampled_from([PERCENT, FIXED]),
    amount=st.integers(1, MAX_PRICE_CENTS),
    ticket_type=st.sampled_from([None, *TYPES]),
).map(
    lambda t: (
        t if t.kind == FIXED else DiscountTerms(t.code, t.kind, 1 + t.amount % 100, t.ticket_type)
    )
)

INT64 = 2**63 - 1


def subtotal(items: list[tuple[str, int]], prices: dict[str, int], only: str | None = None) -> int:
    return sum(prices[t] * q for t, q in items if only is None or t == only)


@given(items_st, prices_st, terms_st)
def test_never_negative_never_more_than_it_applies_to(
    items: list[tuple[str, int]], prices: dict[str, int], terms: DiscountTerms
) -> None:
    off = discount_cents(items, prices, terms)
    total = subtotal(items, prices) - off
    assert 0 <= off <= subtotal(items, prices, terms.ticket_type)
    assert 0 <= total <= subtotal(items, prices)
    # The order's column is a signed 64-bit integer (migration 0008).
    assert total <= INT64


@given(items_st, prices_st, st.integers(1, 100), st.sampled_from([None, *TYPES]))
def test_a_percentage_rounds_the_discount_down(
    items: list[tuple[str, int]], prices: dict[str, int], percent: int, only: str | None
) -> None:
    off = discount_cents(items, prices, DiscountTerms("c", PERCENT, percent, only))
    base = subtotal(items, prices, only)
    # Exactly the floor: off <= base * percent / 100 < off + 1.
    assert off * 100 <= base * percent < (off + 1) * 100


@given(items_st, prices_st, st.integers(1, MAX_PRICE_CENTS))
def test_fixed_on_the_order_comes_off_once(
    items: list[tuple[str, int]], prices: dict[str, int], amount: int
) -> None:
    off = discount_cents(items, prices, DiscountTerms("c", FIXED, amount))
    assert off == min(amount, subtotal(items, prices))


@given(items_st, prices_st, st.integers(1, MAX_PRICE_CENTS), st.sampled_from(TYPES))
def test_fixed_on_a_type_comes_off_each_of_its_tickets(
    items: list[tuple[str, int]], prices: dict[str, int], amount: int, only: str
) -> None:
    off = discount_cents(items, prices, DiscountTerms("c", FIXED, amount, only))
    quantity = sum(q for t, q in items if t == only)
    assert off == min(amount, prices[only]) * quantity
    # The other types' tickets cost what they cost.
    assert subtotal(items, prices) - off >= subtotal(items, prices) - subtotal(items, prices, only)


def test_examples() -> None:
    prices = {"ga": 999, "vip": 5_000}
    items = [("ga", 3), ("vip", 1)]
    # 15% of 7,997 is 1,199.55: the discount is 1,199, the price 6,798.
    assert discount_cents(items, prices, DiscountTerms("c", PERCENT, 15)) == 1_199
    assert discount_cents(items, prices, DiscountTerms("c", PERCENT, 50, "ga")) == 1_498
    assert discount_cents(items, prices, DiscountTerms("c", FIXED, 10_000)) == 7_997
    assert discount_cents(items, prices, DiscountTerms("c", FIXED, 1_000, "ga")) == 2_997
    assert discount_cents(items, prices, DiscountTerms("c", FIXED, 500, "vip")) == 500
    assert discount_cents(items, prices, None) == 0
