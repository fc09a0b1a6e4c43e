"""Discount codes: the organiser makes them, a hold takes a use, a payment makes it final.

The database row is the record and never changes (purchase/models.py
DiscountCode). The running sale in Redis counts each code's uses in the
``discounts`` hash, like stock: hold.lua takes a use in the same atomic step
as the tickets (or refuses and takes nothing), release_hold in _prelude.lua
gives it back when the hold is let go or expires, and confirm.lua makes it
final when the hold is paid. ``used`` counts live holds and paid orders,
``paid`` the paid ones, and no hold takes a use once ``used`` reaches the
limit, so paid uses never pass it however many fans try at once.

The price is computed here and in purchase/orders.py from the database's
ticket prices and the terms the hold carries (purchase/discount_terms.py);
the client never sends one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from fairdrop.connections import AsyncSaleRedis
from purchase.db import open_session
from purchase.discount_terms import DiscountTerms
from purchase.models import DiscountCode, Order, epoch_ms
from queue_engine.keys import EventKeys
from queue_engine.scripts import AsyncScripts, SyncScripts

# Orders whose code use is final: a refund does not give a use back (the
# organiser can make another code), as with presale links.
_PAID_STATUSES = ("paid", "refunding", "refunded")


class DuplicateCode(ValueError):
    """The sale has a code of that name already (codes are case-insensitive)."""


@dataclass(frozen=True)
class CodeUses:
    """A code's uses in the running sale: held or paid (``used``), and paid."""

    used: int
    paid: int


@dataclass(frozen=True)
class CodeState:
    """What a fan's page may learn before holding: whether the code would be taken now."""

    refusal: str | None
    terms: DiscountTerms | None


def normalise_code(code: str) -> str:
    """Codes are compared case-insensitively: stored and looked up in lower case."""
    return code.strip().lower()


def terms_of(row: DiscountCode) -> DiscountTerms:
    return DiscountTerms(row.code, row.kind, row.amount, row.ticket_type_id)


def code_arg(row: DiscountCode, uses: CodeUses) -> str:
    return json.dumps(
        {
            "kind": row.kind,
            "amount": row.amount,
            "type": row.ticket_type_id or "",
            "limit": row.max_uses,
            "used": uses.used,
            "paid": uses.paid,
            "expires_at": epoch_ms(row.expires_at),
        }
    )


def store_code(engine: Engine, row: DiscountCode) -> DiscountCode:
    """Writes a new code; raises DuplicateCode when the sale has it already."""
    try:
        with open_session(engine) as session:
            session.add(row)
            session.commit()
            session.refresh(row)
            return row
    except IntegrityError as error:
        raise DuplicateCode(row.code) from error


async def add_to_sale(scripts: AsyncScripts, row: DiscountCode) -> bool:
    """Puts a new code in the running sale; False when the event is not in Redis."""
    added = int(
        await scripts.run("add_discount", row.event_id, row.code, code_arg(row, CodeUses(0, 0)))
    )
    return added >= 0


def codes_of(engine: Engine, event_id: str) -> list[DiscountCode]:
    with open_session(engine) as session:
        return list(
            session.exec(
                select(DiscountCode)
                .where(DiscountCode.event_id == event_id)
                .order_by(col(DiscountCode.created_at))
            ).all()
        )


async def uses_of(
    client: AsyncSaleRedis, event_id: str, codes: Sequence[str]
) -> dict[str, CodeUses]:
    """Each code's uses in the running sale (absent: not in Redis)."""
    if not codes:
        return {}
    raws = await client.hmget(EventKeys(event_id).discounts, list(codes))
    return {code: _uses(json.loads(raw)) for code, raw in zip(codes, raws, strict=True) if raw}


def _uses(stored: dict[str, Any]) -> CodeUses:
    return CodeUses(int(stored["used"]), int(stored["paid"]))


async def code_state(client: AsyncSaleRedis, event_id: str, code: str, now_ms: int) -> CodeState:
    """Whether a hold could take the code now: read only, for a quick answer.

    hold.lua decides again in its own atomic step; this spares a fan a queued
    request for a code that does not exist, has expired or is used up.
    """
    raw = await client.hget(EventKeys(event_id).discounts, code)
    if raw is None:
        return CodeState("unknown_discount", None)
    stored = json.loads(raw)
    terms = DiscountTerms(code, stored["kind"], int(stored["amount"]), stored["type"] or None)
    if int(stored["expires_at"]) <= now_ms:
        return CodeState("discount_expired", terms)
    if int(stored["used"]) >= int(stored["limit"]):
        return CodeState("discount_used_up", terms)
    return CodeState(None, terms)


def paid_uses(engine: Engine, event_id: str) -> dict[str, int]:
    """Paid orders per code, from the database: what the demo reports and a restore puts back."""
    with open_session(engine) as session:
        rows = session.exec(
            select(Order.discount_code, func.count())
            .where(Order.event_id == event_id)
            .where(col(Order.discount_code).is_not(None))
            .where(col(Order.status).in_(_PAID_STATUSES))
            .group_by(col(Order.discount_code))
        ).all()
    return {str(code): int(count) for code, count in rows}


def restore_codes(engine: Engine, scripts: SyncScripts, event_id: str) -> int:
    """Puts an event's codes back in a sale Redis lost, with the uses paid orders made."""
    paid = paid_uses(engine, event_id)
    rows = codes_of(engine, event_id)
    for row in rows:
        uses = paid.get(row.code, 0)
        scripts.run("add_discount", event_id, row.code, code_arg(row, CodeUses(uses, uses)))
    return len(rows)
