"""The orders export on a live stack (web/export.py, purchase/export.py): one row per ticket.

Fans buy through the stack (anonymous browser sessions); orders of signed-in
buyers are written with the worker's own ``record_paid_order``, since the
sign-in flows that make them are not part of this test. Every cell a
spreadsheet would run as a formula must arrive with a leading ``'``.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
from sqlalchemy import Engine

from fairdrop.errors import ErrorCode
from purchase.db import make_engine
from purchase.export import CHUNK_ROWS, COLUMNS, ticket_rows
from purchase.holds import Hold
from purchase.orders import record_paid_order
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, client, expect_error, ga, open_sale
from tests.web.test_tickets import check_in, door_headers

# A door name a spreadsheet would run: =SUM is harmless, =HYPERLINK or =cmd| less so.
FORMULA_DOOR = "=SUM(1+1)"


@pytest.fixture(scope="module")
def engine(live_stack: LiveStack) -> Iterator[Engine]:
    """The live stack's own database, where the worker writes its orders."""
    engine = make_engine(live_stack.settings)
    yield engine
    engine.dispose()


def _export_path(event_id: str) -> str:
    return f"/api/events/{event_id}/export.csv"


async def _export(
    stack: LiveStack, event_id: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    async with client(stack, stack.organiser_headers if headers is None else headers) as http:
        return await http.get(_export_path(event_id))


async def _rows(stack: LiveStack, event_id: str) -> list[dict[str, str]]:
    """The export's rows by column name, after checking what makes it a download."""
    response = await _export(stack, event_id)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{event_id}-orders.csv"'
    )
    assert response.headers["cache-control"] == "no-store"
    reader = csv.DictReader(io.StringIO(response.text, newline=""))
    assert tuple(reader.fieldnames or ()) == COLUMNS
    return list(reader)


def _escaped(text: str) -> str:
    """What the export must make of a cell (OWASP's list of formula starts)."""
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def _signed_in_order(engine: Engine, event_id: str, buyer: str, quantity: int = 1) -> str:
    """A paid order of a signed-in buyer, written as the worker writes one; its id."""
    hold = Hold(
        id=uuid.uuid4().hex,
        fan_id=uuid.uuid4().hex[:22],
        items=((ga(event_id), quantity),),
        status="confirmed",
        expires_at_ms=0,
        buyer=buyer,
    )
    return record_paid_order(engine, event_id, hold, f"test-{hold.id}", "local").id


async def test_one_row_per_ticket_with_buyer_status_price_and_check_in(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, name="Export night")
    first, second = crowd.fan(event_id), crowd.fan(event_id)
    entrants = [(await first.join())["entrant_id"], (await second.join())["entrant_id"]]
    orders = [await first.buy(2), await second.buy(1)]
    [scanned, *_] = orders[0]["tickets"]
    answer = await check_in(
        live_stack, {"code": scanned["code"]}, door_headers(live_stack, event_id, FORMULA_DOOR)
    )
    assert answer.status_code == 200 and answer.json()["result"] == "valid", answer.text
    cancel = f"/api/events/{event_id}/orders/{orders[1]['order_id']}/cancel"
    async with client(live_stack, live_stack.organiser_headers) as http:
        assert (await http.post(cancel)).status_code == 200

    rows = await _rows(live_stack, event_id)

    expected = {
        _escaped(t["code"]): {
            "order_id": order["order_id"],
            "order_status": status,
            "buyer_kind": "anonymous",
            "buyer": _escaped(entrant),
            "ticket_type_id": ga(event_id),
            "ticket_type": "GA",
            "unit_price_cents": "4000",
            "currency": "EUR",
            "ticket_code": _escaped(t["code"]),
            "checked_in_at": answer.json()["checked_in_at"] if t is scanned else "",
            "checked_in_by": "'" + FORMULA_DOOR if t is scanned else "",
        }
        for order, status, entrant in zip(orders, ("paid", "refunded"), entrants, strict=True)
        for t in order["tickets"]
    }
    times = ("order_created_at", "ticket_created_at")
    got = {r["ticket_code"]: {k: v for k, v in r.items() if k not in times} for r in rows}
    assert len(rows) == 3 and got == expected
    # Oldest order first, and every time in ISO 8601 with its zone.
    assert [r["order_id"] for r in rows] == [orders[0]["order_id"]] * 2 + [orders[1]["order_id"]]
    for row in rows:
        for column in times:
            assert datetime.fromisoformat(row[column]).tzinfo is not None, row


async def test_signed_in_buyers_appear_by_kind_and_formula_cells_are_escaped(
    live_stack: LiveStack, engine: Engine
) -> None:
    event_id = open_sale(live_stack)
    buyers = {
        # Valid addresses may start with "=" or "+": the export must not let them run.
        "email:=1+2@example.com": ("email", "'=1+2@example.com"),
        "email:+fan@example.com": ("email", "'+fan@example.com"),
        "oidc:https://id.example.com 24400320": ("oidc", "https://id.example.com 24400320"),
        "member:m-7": ("member", "m-7"),
        "member:@crew": ("member", "'@crew"),
    }
    order_ids = {buyer: _signed_in_order(engine, event_id, buyer) for buyer in buyers}

    rows = await _rows(live_stack, event_id)

    got = {row["order_id"]: (row["buyer_kind"], row["buyer"]) for row in rows}
    assert got == {order_ids[buyer]: columns for buyer, columns in buyers.items()}


async def test_a_big_event_is_read_and_sent_in_chunks(
    live_stack: LiveStack, engine: Engine
) -> None:
    event_id = open_sale(live_stack)
    tickets = 2 * CHUNK_ROWS + 7
    _signed_in_order(engine, event_id, "member:bulk", quantity=tickets)

    chunks = [len(chunk) for chunk in ticket_rows(engine, event_id)]
    rows = await _rows(live_stack, event_id)

    assert chunks == [CHUNK_ROWS, CHUNK_ROWS, 7]
    assert len(rows) == tickets
    assert len({row["ticket_code"] for row in rows}) == tickets


async def test_an_event_without_orders_has_only_the_header(live_stack: LiveStack) -> None:
    assert await _rows(live_stack, open_sale(live_stack)) == []


async def test_only_the_organiser_exports_and_only_known_events(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack)
    expect_error(await _export(live_stack, "no-such-event"), ErrorCode.UNKNOWN_EVENT)
    strangers = [
        ({}, ErrorCode.UNAUTHORIZED),
        ({"Authorization": "Bearer not-the-token"}, ErrorCode.FORBIDDEN),
        # Door staff check tickets in; they do not read who bought them.
        (door_headers(live_stack, event_id), ErrorCode.FORBIDDEN),
    ]
    for headers, expected in strangers:
        expect_error(await _export(live_stack, event_id, headers), expected)
    async with client(live_stack, live_stack.organiser_headers) as http:
        answer = await http.post(_export_path(event_id))
    expect_error(answer, ErrorCode.METHOD_NOT_ALLOWED)
