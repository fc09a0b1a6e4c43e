"""Who got tickets in a sale, from the paid orders: the fairness report's
figures that only the database knows (web/fairness_report.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, case, distinct, func
from sqlmodel import col, select

from purchase.db import open_session
from purchase.models import Order, aware

_PAID = "paid"


@dataclass(frozen=True)
class Buyers:
    fans_with_tickets: int  # distinct fans holding at least one paid order
    paid_orders: int
    # The newest order of any status: when the last ticket was sold, once the
    # sale is sold out (a refund puts tickets back on sale, so a sold-out sale's
    # newest order is the one that sold its last ticket). None without orders.
    last_sale_at: datetime | None


def buyers_of(engine: Engine, event_id: str) -> Buyers:
    """One query over the event's orders (indexed by event_id)."""
    paid_fan = case((col(Order.status) == _PAID, col(Order.fan_id)))
    paid = case((col(Order.status) == _PAID, 1))
    with open_session(engine) as session:
        fans, orders, last = session.exec(
            select(
                func.count(distinct(paid_fan)),
                func.count(paid),
                func.max(col(Order.created_at)),
            ).where(col(Order.event_id) == event_id)
        ).one()
    return Buyers(int(fans), int(orders), None if last is None else aware(last))
