"""Presale links: tickets before or beside the public queue, within an allowance.

The organiser makes a link (the database row is the record); the sale in
Redis counts what is left of it (``presales`` hash), and presale_hold.lua
takes from it in the same atomic step as the stock, so a link is used
exactly, however many fans open it at once. A hold that ends unpaid gives its
tickets back to the link (release_hold in _prelude.lua); a paid order names
its link, which is how a sale Redis lost gets its links back.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, func
from sqlmodel import col, select

from fairdrop.connections import AsyncSaleRedis
from purchase.db import open_session
from purchase.holds import ScriptAnswer, answer_of
from purchase.models import Order, OrderItem, PresaleLink, epoch_ms
from queue_engine.keys import EventKeys
from queue_engine.scripts import AsyncScripts, SyncScripts

# Orders whose tickets are out of the link for good (a refund does not give
# the link's allowance back: the organiser can make a new link).
_SOLD_STATUSES = ("paid", "refunding", "refunded")


def new_link_id() -> str:
    """128 random bits: the id is in the link, and whoever has it may buy."""
    return secrets.token_urlsafe(16)


def _link_arg(link: PresaleLink, left: int) -> str:
    return json.dumps(
        {
            "allowance": link.allowance,
            "left": left,
            "expires_at": epoch_ms(link.expires_at),
            "type": link.ticket_type_id or "",
        }
    )


def store_link(engine: Engine, link: PresaleLink) -> None:
    with open_session(engine) as session:
        session.add(link)
        session.commit()
        session.refresh(link)


async def add_to_sale(scripts: AsyncScripts, link: PresaleLink) -> bool:
    """Puts a new link in the running sale; False when the event is not in Redis."""
    added = int(
        await scripts.run("add_presale", link.event_id, link.id, _link_arg(link, link.allowance))
    )
    return added >= 0


def links_of(engine: Engine, event_id: str) -> list[PresaleLink]:
    with open_session(engine) as session:
        return list(
            session.exec(
                select(PresaleLink)
                .where(PresaleLink.event_id == event_id)
                .order_by(col(PresaleLink.created_at))
            ).all()
        )


def find_link(engine: Engine, event_id: str, link_id: str) -> PresaleLink | None:
    with open_session(engine) as session:
        link = session.get(PresaleLink, link_id)
    return link if link is not None and link.event_id == event_id else None


async def tickets_left(
    client: AsyncSaleRedis, event_id: str, link_ids: Sequence[str]
) -> dict[str, int]:
    """What is left of each link in the running sale (absent: not in Redis)."""
    if not link_ids:
        return {}
    raws = await client.hmget(EventKeys(event_id).presales, list(link_ids))
    return {
        link_id: int(json.loads(raw)["left"])
        for link_id, raw in zip(link_ids, raws, strict=True)
        if raw is not None
    }


@dataclass(frozen=True)
class PresaleAsk:
    fan_id: str
    link_id: str
    # The access policies the fan's identity satisfies (fairdrop/identity.py policies_for).
    policies: str
    items: list[tuple[str, int]]


async def presale_hold(scripts: AsyncScripts, event_id: str, ask: PresaleAsk) -> ScriptAnswer:
    """Holds all the items within the link's allowance, or none; one atomic step."""
    raw = await scripts.run(
        "presale_hold",
        event_id,
        0,
        ask.fan_id,
        uuid.uuid4().hex,
        uuid.uuid4().hex,
        json.dumps([[t, q] for t, q in ask.items]),
        ask.link_id,
        ask.policies,
    )
    return answer_of(raw)


def restore_links(engine: Engine, scripts: SyncScripts, event_id: str) -> int:
    """Puts an event's links back in a sale Redis lost, less what paid orders took."""
    with open_session(engine) as session:
        links = session.exec(select(PresaleLink).where(PresaleLink.event_id == event_id)).all()
        used = dict(
            session.exec(
                select(Order.presale_id, func.sum(OrderItem.quantity))
                .join(OrderItem, col(OrderItem.order_id) == col(Order.id))
                .where(Order.event_id == event_id)
                .where(col(Order.presale_id).is_not(None))
                .where(col(Order.status).in_(_SOLD_STATUSES))
                .group_by(col(Order.presale_id))
            ).all()
        )
    for link in links:
        left = max(0, link.allowance - int(used.get(link.id) or 0))
        scripts.run("add_presale", event_id, link.id, _link_arg(link, left))
    return len(links)
