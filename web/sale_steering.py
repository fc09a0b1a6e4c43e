"""Organiser API: steer a running sale, and read what was changed, by whom and when.

``PATCH /api/events/{id}`` takes any of ``rate_per_min``, ``cap``,
``hold_seconds``, ``pause_message`` and ``add_stock`` (``{type id: tickets
to add}``), and ``by``, the organiser's name for the log (one token is
shared by a team, so the name is what they say, beside the address they
came from). The clock's next step admits by the new figures; waiting fans
hear the stock. Before the window opens it also takes ``name``,
``opens_at`` and ``drop_at`` (the draw's beacon round moves with the drop),
and ``DELETE /api/events/{id}`` deletes a sale nobody has bought from.
``GET /api/events/{id}/changes`` is the log.

Redis decides first whether the window is still closed (reschedule.lua,
delete_sale.lua, atomic with the clock's step), then the database follows,
as for the access policy (web/organiser.py change_access).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from purchase.models import PAUSE_MESSAGE_LENGTH, Event, SaleChange, aware, epoch_ms
from purchase.steering import (
    SaleEdit,
    Schedule,
    Signed,
    delete_sale_rows,
    reschedule_sale,
    sale_changes,
    steer_sale,
)
from queue_engine.sales import delete_sale, reschedule, snapshot
from web.catalog import EventRecord, iso
from web.context import WebContext, organiser_sale
from web.organiser import (
    MAX_CAP,
    MAX_HOLD_SECONDS,
    MAX_NAME,
    MAX_RATE_PER_MIN,
    MAX_STOCK,
    MIN_HOLD_SECONDS,
    beacon_round,
)
from web.validation import (
    CONTROL,
    datetime_field,
    int_field,
    invalid,
    is_utf8,
    read_json_object,
    text_field,
)
from web.views import event_view

MAX_BY = 200
MAX_TYPES_ADDED = 20
_SCHEDULE = {"name", "opens_at", "drop_at"}
_FIELDS = {"rate_per_min", "cap", "hold_seconds", "pause_message", "add_stock", "by", *_SCHEDULE}


def _optional_int(body: dict[str, Any], name: str, low: int, high: int) -> int | None:
    return int_field(body, name, low, high) if body.get(name) is not None else None


def _pause_message(body: dict[str, Any]) -> str | None:
    """The new pause message; "" puts the page's own words back."""
    if body.get("pause_message") is None:
        return None
    value = body["pause_message"]
    if not isinstance(value, str):
        raise invalid("pause_message must be a string")
    if len(value) > PAUSE_MESSAGE_LENGTH:
        raise invalid(f"pause_message must be at most {PAUSE_MESSAGE_LENGTH} characters")
    if not is_utf8(value) or CONTROL.search(value):
        raise invalid("pause_message must be text without control characters")
    return value.strip()


def _add_stock(body: dict[str, Any]) -> dict[str, int]:
    raw = body.get("add_stock")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw or len(raw) > MAX_TYPES_ADDED:
        raise invalid(
            f"add_stock must be an object of 1 to {MAX_TYPES_ADDED} ticket type ids "
            "and the tickets to add to each"
        )
    added = {}
    for type_id in raw:
        if not isinstance(type_id, str) or not is_utf8(type_id) or len(type_id) > 100:
            raise invalid("add_stock: a key is not a ticket type id")
        added[type_id] = int_field(raw, type_id, 1, MAX_STOCK)
    return added


def _edit(body: dict[str, Any]) -> SaleEdit:
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise invalid(
            f"unknown field {unknown[0]!r}: a running sale's rate_per_min, cap, hold_seconds, "
            "pause_message and add_stock may change, and before its window opens its name, "
            "opens_at and drop_at (and by, who changes them)"
        )
    edit = SaleEdit(
        rate_per_min=_optional_int(body, "rate_per_min", 1, MAX_RATE_PER_MIN),
        cap=_optional_int(body, "cap", 1, MAX_CAP),
        hold_seconds=_optional_int(body, "hold_seconds", MIN_HOLD_SECONDS, MAX_HOLD_SECONDS),
        pause_message=_pause_message(body),
        add_stock=_add_stock(body),
    )
    if edit == SaleEdit() and not _SCHEDULE & set(body):
        raise invalid(
            "nothing to change: send rate_per_min, cap, hold_seconds, pause_message, "
            "add_stock, or before the window opens name, opens_at or drop_at"
        )
    return edit


async def _reschedule(
    ctx: WebContext, record: EventRecord, body: dict[str, Any], who: Signed
) -> list[SaleChange]:
    """A new name or window, before the window opens; the changes logged (none if none asked)."""
    if not _SCHEDULE & set(body):
        return []
    event = record.event
    if record.settled():
        raise _window_open()
    name = text_field(body, "name", MAX_NAME).strip() if "name" in body else event.name
    opens_at = datetime_field(body, "opens_at") if "opens_at" in body else aware(event.opens_at)
    drop_at = datetime_field(body, "drop_at") if "drop_at" in body else aware(event.drop_at)
    if drop_at < opens_at:
        raise invalid("drop_at must not be before opens_at")
    moved = Event(**{**event.model_dump(), "name": name, "opens_at": opens_at, "drop_at": drop_at})
    same_drop = drop_at == aware(event.drop_at)
    beacon = (event.beacon or "") if same_drop else await beacon_round(ctx.settings, moved)
    answer = await reschedule(ctx.scripts, event.id, epoch_ms(opens_at), epoch_ms(drop_at), beacon)
    if answer == "window_open":
        raise _window_open()
    if answer != "ok":
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event.id}")
    schedule = Schedule(name, opens_at, drop_at, beacon)
    return await run_in_threadpool(reschedule_sale, ctx.engine, event.id, schedule, who)


def _window_open() -> FairdropError:
    return FairdropError(
        ErrorCode.WINDOW_OPEN,
        "the window has opened: its name and times are fixed (rate_per_min, cap, "
        "hold_seconds, pause_message and add_stock still change)",
    )


def _who(request: Request, ctx: WebContext, body: dict[str, Any]) -> Signed:
    by = text_field(body, "by", MAX_BY).strip() if body.get("by") is not None else ""
    return Signed(by, ctx.limits.entrant_address(request))


def change_view(change: SaleChange) -> dict[str, Any]:
    return {
        "field": change.field,
        "old": change.old_value,
        "new": change.new_value,
        "by": change.by,
        "address": change.address,
        "at": iso(change.at),
    }


async def steer_event(request: Request) -> JSONResponse:
    ctx, before = await organiser_sale(request)
    event_id = before.event.id
    body = await read_json_object(request, ctx.settings.max_body_bytes)
    edit, who = _edit(body), _who(request, ctx, body)
    # Checked before anything changes: a refused body must change nothing.
    unknown = sorted(set(edit.add_stock) - before.type_ids())
    if unknown:
        raise FairdropError(ErrorCode.UNKNOWN_TICKET_TYPE, f"no ticket type {unknown[0]}")
    changes = await _reschedule(ctx, before, body, who)
    if edit != SaleEdit():
        changes += await run_in_threadpool(
            steer_sale, ctx.engine, ctx.sync_scripts, event_id, edit, who, MAX_STOCK
        )
    ctx.catalog.forget(event_id)
    record = await ctx.catalog.get(event_id)
    if record is None:  # deleted meanwhile
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    view = event_view(record, await snapshot(ctx.scripts, event_id))
    return JSONResponse({"event": view, "changes": [change_view(c) for c in changes]})


async def delete_event(request: Request) -> JSONResponse:
    """Deletes a sale before its window opens, when nobody holds or bought a ticket of it."""
    ctx, record = await organiser_sale(request)
    event_id = record.event.id
    answer = await delete_sale(ctx.scripts, event_id)
    if answer == "window_open":
        raise FairdropError(
            ErrorCode.WINDOW_OPEN, "the window has opened: the sale can no longer be deleted"
        )
    if answer == "has_buyers":
        raise FairdropError(
            ErrorCode.SALE_HAS_BUYERS,
            "fans hold or bought tickets of this sale (a presale): it cannot be deleted",
        )
    if answer != "ok":
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    # After Redis: if this fails, the clock puts the sale back from the database.
    await run_in_threadpool(delete_sale_rows, ctx.engine, event_id)
    ctx.catalog.forget(event_id)
    return JSONResponse({"deleted": event_id})


async def list_changes(request: Request) -> JSONResponse:
    ctx, record = await organiser_sale(request)
    event_id = record.event.id
    changes = await run_in_threadpool(sale_changes, ctx.engine, event_id)
    return JSONResponse({"changes": [change_view(c) for c in changes]})


routes = [
    Route("/api/events/{event_id}", steer_event, methods=["PATCH"]),
    Route("/api/events/{event_id}", delete_event, methods=["DELETE"]),
    Route("/api/events/{event_id}/changes", list_changes, methods=["GET"]),
]
