"""What a discount code takes off a hold's price: the arithmetic alone, no I/O.

Amounts are integer minor units (cents). The rules, stated once:

- ``percent`` (1..100) of the order, or of one ticket type's tickets: the
  discount is that share of their subtotal **rounded down** to a whole minor
  unit, so the price is rounded up and the organiser never gives away more
  than the percentage says.
- ``fixed`` on the whole order: that amount off the order once.
- ``fixed`` on one ticket type: that amount off **each** ticket of the type.
- Never more than what it applies to: no ticket and no order goes below zero,
  and the total is never more than the undiscounted subtotal, so it fits any
  column the subtotal fits.

A per-type code on a hold without that type takes nothing off (hold.lua
refuses such a hold, so a paid order never meets this case).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PERCENT = "percent"
FIXED = "fixed"
KINDS = (PERCENT, FIXED)


@dataclass(frozen=True)
class DiscountTerms:
    """A code as a hold carries it (hold.lua copies it into the hold)."""

    code: str
    kind: str
    amount: int
    # None: the whole order.
    ticket_type: str | None = None

    @classmethod
    def from_script(cls, raw: Mapping[str, Any]) -> DiscountTerms:
        return cls(
            code=str(raw["code"]),
            kind=str(raw["kind"]),
            amount=int(raw["amount"]),
            ticket_type=str(raw["type"]) if raw.get("type") else None,
        )


def discount_cents(
    items: Sequence[tuple[str, int]], unit_prices: Mapping[str, int], terms: DiscountTerms | None
) -> int:
    """What ``terms`` take off the items (type, quantity) at ``unit_prices``: 0..subtotal."""
    if terms is None:
        return 0
    if terms.ticket_type is None:
        lines = list(items)
    else:
        lines = [(t, q) for t, q in items if t == terms.ticket_type]
    subtotal = sum(unit_prices[t] * q for t, q in lines)
    if terms.kind == PERCENT:
        # Floor division: the discount rounds down, the price up.
        off = subtotal * min(max(terms.amount, 0), 100) // 100
    elif terms.ticket_type is None:
        off = terms.amount
    else:
        off = sum(min(terms.amount, unit_prices[t]) * q for t, q in lines)
    return min(max(off, 0), subtotal)
