"""The organiser's list (access policy ``list``): import, download, personal links.

An import goes CSV (web/access_csv.py) -> entrant ids (one per person and
event, fairdrop/tokens.py) -> the database record (purchase/access_entries.py)
-> the sale in Redis (set_allowances.lua), which join.lua and hold.lua check.
People on the list by organiser-issued id sign in with a personal link.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import MEMBER, member_identity
from purchase.access_entries import ListRow, listed, store_list
from queue_engine.sales import set_allowances_async
from web.access_csv import MAX_CSV_BYTES, read_list
from web.auth import require_organiser
from web.catalog import EventRecord
from web.context import WebContext, context_of
from web.csv_cells import csv_cell
from web.rate_limits import Action
from web.session_routes import sign_in_as
from web.validation import invalid, read_body


async def _organiser_event(request: Request) -> tuple[WebContext, EventRecord]:
    ctx = context_of(request)
    require_organiser(request, ctx.settings.organiser_token)
    event_id = request.path_params["event_id"]
    record = await ctx.catalog.get(event_id)
    if record is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    return ctx, record


def _replace(request: Request) -> bool:
    mode = request.query_params.get("mode", "replace")
    if mode not in {"replace", "add"}:
        raise invalid("mode must be replace (the default: the list is the whole list) or add")
    return mode == "replace"


async def import_list(request: Request) -> JSONResponse:
    """Replaces (or adds to) the event's list; allowances change, purchases stay."""
    ctx, record = await _organiser_event(request)
    replace = _replace(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "text/csv":
        raise FairdropError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            "send the list as text/csv (a header row, then people)",
        )
    event_id = record.event.id
    people = read_list(await read_body(request, MAX_CSV_BYTES), event_id)
    rows = [
        ListRow(
            ctx.signer.entrant_id(event_id, p.identity),
            p.identity.kind,
            p.identity.subject,
            p.allowance,
        )
        for p in people
    ]
    # The record first: if Redis then fails, importing again puts the same list in both.
    counts = await run_in_threadpool(store_list, ctx.engine, event_id, rows, replace)
    on_list = await set_allowances_async(
        ctx.scripts, event_id, {row.entrant_id: row.allowance for row in rows}, replace
    )
    if on_list < 0:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id} in Redis")
    return JSONResponse(
        {
            "event_id": event_id,
            "added": counts.added,
            "updated": counts.updated,
            "removed": counts.removed,
            "total": counts.total,
            "emails": sum(1 for p in people if p.identity.kind != MEMBER),
            "ids": sum(1 for p in people if p.identity.kind == MEMBER),
        }
    )


def personal_link(ctx: WebContext, event_id: str, member_id: str) -> str:
    return (
        f"{ctx.settings.public_base_url}/sign-in/pass/{ctx.signer.sign_pass(event_id, member_id)}"
    )


def _stamp(value: datetime) -> str:
    return value.isoformat()


async def download_list(request: Request) -> Response:
    """The list as CSV, with each id's personal link, for the organiser to send out."""
    ctx, record = await _organiser_event(request)
    event_id = record.event.id
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["email", "id", "allowance", "personal_link", "created_at", "updated_at"])
    for entry in await run_in_threadpool(listed, ctx.engine, event_id):
        member = entry.kind == MEMBER
        writer.writerow(
            [
                csv_cell("" if member else entry.subject),
                csv_cell(entry.subject if member else ""),
                entry.allowance,
                personal_link(ctx, event_id, entry.subject) if member else "",
                _stamp(entry.created_at),
                _stamp(entry.updated_at),
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{event_id}-list.csv"'},
    )


async def open_personal_link(request: Request) -> Response:
    """Signs the browser in as the id the link names, then opens the event's page."""
    ctx = context_of(request)
    await ctx.limits.spend(request, Action.SIGN_IN)
    event_id, member_id = ctx.signer.check_pass(request.path_params["token"])
    try:
        identity = member_identity(event_id, member_id)
    except ValueError as exc:
        raise FairdropError(ErrorCode.INVALID_LINK, "this personal link is not valid") from exc
    if await ctx.catalog.get(event_id) is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    response = RedirectResponse(f"/e/{event_id}", status_code=303)
    sign_in_as(response, ctx, identity)
    return response


routes = [
    Route("/api/events/{event_id}/access-list", import_list, methods=["POST"]),
    Route("/api/events/{event_id}/access-list.csv", download_list, methods=["GET"]),
    Route("/sign-in/pass/{token}", open_personal_link, methods=["GET"]),
]
