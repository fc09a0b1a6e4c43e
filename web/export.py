"""The organiser's download of an event's orders: ``GET /api/events/{event_id}/export.csv``.

One row per ticket (purchase/export.py), streamed a chunk at a time as it is
read, so a large event's file never sits in the web process's memory. Every
cell goes through web/csv_cells.py: a door name or an identity such as
``=HYPERLINK(...)`` reaches the spreadsheet as text, not as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from purchase.export import COLUMNS, Cell, ticket_rows
from web.auth import require_organiser
from web.context import context_of
from web.csv_cells import csv_cell


def _csv(rows: Iterable[Sequence[Cell]]) -> str:
    out = io.StringIO()
    # RFC 4180: fields quoted where needed, CRLF line ends.
    csv.writer(out).writerows([csv_cell(value) for value in row] for row in rows)
    return out.getvalue()


def orders_csv(engine: Engine, event_id: str) -> Iterator[str]:
    """The header, then the tickets a chunk at a time."""
    yield _csv([COLUMNS])
    for chunk in ticket_rows(engine, event_id):
        yield _csv(chunk)


async def export_orders(request: Request) -> StreamingResponse:
    ctx = context_of(request)
    require_organiser(request, ctx.settings.organiser_token)
    event_id = request.path_params["event_id"]
    if await ctx.catalog.get(event_id) is None:
        raise FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}")
    # A sync iterator: Starlette reads each piece in the thread pool, off the event loop.
    return StreamingResponse(
        orders_csv(ctx.engine, event_id),
        media_type="text/csv; charset=utf-8",
        headers={
            # Event ids are slugs (web/organiser.py), safe inside the quotes.
            "Content-Disposition": f'attachment; filename="{event_id}-orders.csv"',
            # Names and emails: no shared cache may keep a copy.
            "Cache-Control": "no-store",
        },
    )


routes = [Route("/api/events/{event_id}/export.csv", export_orders, methods=["GET"])]
