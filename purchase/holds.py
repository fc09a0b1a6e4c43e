"""Holds: taking tickets for an admitted fan, confirming and releasing them.

Every stock change is one Lua call (purchase/lua/*.lua); this module only
turns their JSON answers into values.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from fairdrop.connections import AsyncSaleRedis
from purchase.discount_terms import DiscountTerms
from queue_engine.keys import EventKeys
from queue_engine.scripts import SyncScripts


@dataclass(frozen=True)
class Hold:
    id: str
    fan_id: str
    items: tuple[tuple[str, int], ...]
    status: str
    expires_at_ms: int
    # The payment attached to it (pending) or that bought it (confirmed).
    payment: str | None = None
    # Who signed in and asked for it (Identity.label); empty when anonymous.
    buyer: str = ""
    # The presale link it was taken through, if any.
    presale: str | None = None
    # The discount code it took a use of (hold.lua), priced in purchase/orders.py.
    discount: DiscountTerms | None = None

    @classmethod
    def from_script(cls, raw: dict[str, Any]) -> Hold:
        return cls(
            id=str(raw["id"]),
            fan_id=str(raw["fan"]),
            items=tuple((str(t), int(q)) for t, q in raw["items"]),
            status=str(raw["status"]),
            expires_at_ms=int(raw["expires_at"]),
            payment=str(raw["payment"]) if raw.get("payment") else None,
            buyer=str(raw.get("buyer") or ""),
            presale=str(raw["presale"]) if raw.get("presale") else None,
            discount=DiscountTerms.from_script(raw["discount"])
            if isinstance(raw.get("discount"), dict)
            else None,
        )


@dataclass(frozen=True)
class ScriptAnswer:
    ok: bool
    code: str
    message: str
    hold: Hold | None
    body: dict[str, Any]


def answer_of(raw: str | bytes) -> ScriptAnswer:
    # orjson: a batch of holds parses hundreds of these in the worker.
    body: dict[str, Any] = orjson.loads(raw)
    hold = Hold.from_script(body["hold"]) if isinstance(body.get("hold"), dict) else None
    return ScriptAnswer(
        ok=bool(body.get("ok")),
        code=str(body.get("code", "")),
        message=str(body.get("message", "")),
        hold=hold,
        body=body,
    )


@dataclass(frozen=True)
class HoldAsk:
    fan_id: str
    request_id: str
    items: list[tuple[str, int]]
    # A discount code in lower case (web/discounts.py), '' for none.
    discount: str = ""


def hold_many(
    scripts: SyncScripts, event_id: str, asks: list[HoldAsk], now_ms: int = 0
) -> list[ScriptAnswer]:
    """hold.lua for many fans in one round trip; answers in the same order.

    Each fan gets all the items asked for or none, and the same request id
    always gets the same answer.

    Each hold is still its own atomic script call: a batch is not a
    transaction, so one fan's refusal never touches another's hold.
    """
    if not asks:
        return []
    arg_lists = [hold_args(ask, now_ms, uuid.uuid4().hex) for ask in asks]
    return [answer_of(raw) for raw in scripts.run_many("hold", event_id, arg_lists)]


def hold_args(ask: HoldAsk, now_ms: int, hold_id: str) -> list[str | int]:
    """hold.lua's ARGV."""
    items_json = orjson.dumps([[t, q] for t, q in ask.items]).decode()
    return [now_ms, ask.fan_id, ask.request_id, hold_id, items_json, ask.discount]


def confirm_hold(
    scripts: SyncScripts, event_id: str, hold_id: str, payment_ref: str, now_ms: int = 0
) -> ScriptAnswer:
    # Sold tickets must survive a cluster failover: a replica has them first.
    return answer_of(scripts.run_replicated("confirm", event_id, now_ms, hold_id, payment_ref))


def attach_payment(
    scripts: SyncScripts, event_id: str, hold_id: str, payment_ref: str, now_ms: int = 0
) -> ScriptAnswer:
    """Names a live hold's payment once; ``body["payment"]`` is the one that stands."""
    return answer_of(scripts.run("attach_payment", event_id, now_ms, hold_id, payment_ref))


def release_hold(
    scripts: SyncScripts, event_id: str, hold_id: str, fan_id: str = "", now_ms: int = 0
) -> ScriptAnswer:
    return answer_of(scripts.run("release", event_id, now_ms, hold_id, fan_id))


def read_hold(scripts: SyncScripts, event_id: str, hold_id: str) -> Hold | None:
    raw = scripts.client.hget(EventKeys(event_id).holds, hold_id)
    return Hold.from_script(json.loads(raw)) if raw else None


async def read_hold_async(client: AsyncSaleRedis, event_id: str, hold_id: str) -> Hold | None:
    raw = await client.hget(EventKeys(event_id).holds, hold_id)
    return Hold.from_script(json.loads(raw)) if raw else None


async def request_result(
    client: AsyncSaleRedis, event_id: str, request_id: str
) -> dict[str, Any] | None:
    """The stored answer to a hold request, or None while the worker has not run it."""
    raw = await client.hget(EventKeys(event_id).requests, request_id)
    if not raw:
        return None
    body: dict[str, Any] = json.loads(raw)
    return body
