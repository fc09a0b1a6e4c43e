"""What hostile requests found (issue 11): each answered with its 4xx JSON error, not a 500.

On a live stack on PostgreSQL, which refuses what SQLite lets by (a NUL in
text). Path ids that RQ or the database cannot take, control characters in
any path (HTTP or websocket), lone surrogates in JSON text, a sale whose
dearest order would not fit the order total, and an order the database
refuses after the payment went through (refunded, its tickets back on sale).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import col, select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from fairdrop.errors import ErrorCode, FairdropError
from purchase.db import make_engine, open_session
from purchase.models import Order, StrayPayment, TicketType
from tests.live_stack import LiveStack
from tests.web.fans import (
    Crowd,
    client,
    event_ids,
    expect_error,
    ga,
    is_message,
    open_sale,
    stats,
    ticket_type,
)
from tests.web.test_bad_input import _event_body
from web.catalog import Catalog
from web.organiser import MAX_ORDER_CENTS
from web.validation import text_field

LONE_SURROGATE = "a\ud800b"


@pytest.fixture(scope="module")
def engine(live_stack: LiveStack) -> Iterator[Engine]:
    """The live stack's own database, where the worker writes its orders."""
    engine = make_engine(live_stack.settings)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def sale(live_stack: LiveStack) -> str:
    """A sale the path and body cases aim at: a real event, so only the hostile part is wrong."""
    # Room for every fan the cases make to be let in, for the one that holds.
    return open_sale(
        live_stack, hold_seconds=3_600, cap=1_000, ticket_types=[ticket_type(stock=1_000)]
    )


async def _send(
    stack: LiveStack,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    async with client(stack, headers) as http:
        return await http.request(method, path, content=content)


def _json_bytes(body: dict[str, Any]) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape "\ud800", as a hostile
    # client would; httpx's json= could not encode it at all.
    return json.dumps(body).encode()


# --- request ids RQ cannot look up -----------------------------------------


@pytest.mark.parametrize("request_id", ["r%C3%A9", "a.b", "a%20b", "A" * 28, "0" * 29])
async def test_a_request_id_of_another_shape_is_unknown(
    live_stack: LiveStack, crowd: Crowd, sale: str, request_id: str
) -> None:
    """RQ's Job() raised ValueError for ids outside [A-Za-z0-9_-]: a 500."""
    fan = crowd.fan(sale)
    await fan.join()
    response = await fan.request("GET", fan.path(f"/purchases/{request_id}"))
    expect_error(response, ErrorCode.UNKNOWN_REQUEST)


# --- control characters in paths ------------------------------------------

# Every route with an id in its path; {id} is where the hostile id goes,
# {sale} a real sale (so only the one id is wrong).
ID_ROUTES = [
    ("GET", "/api/events/{id}"),
    ("POST", "/api/events/{id}/join"),
    ("POST", "/api/events/{id}/purchases"),
    ("GET", "/api/events/{sale}/purchases/{id}"),
    ("POST", "/api/events/{sale}/holds/{id}/pay"),
    ("POST", "/api/events/{sale}/holds/{id}/release"),
    ("GET", "/api/events/{id}/draw"),
    ("GET", "/api/events/{id}/draw/entrants"),
    ("GET", "/api/events/{id}/stats"),
    ("POST", "/api/events/{id}/pause"),
    ("POST", "/api/events/{id}/access"),
    ("POST", "/api/events/{id}/access-list"),
    ("GET", "/api/events/{id}/access-list.csv"),
    ("GET", "/api/events/{id}/export.csv"),
    ("GET", "/api/events/{id}/orders"),
    ("GET", "/api/events/{id}/check-ins"),
    ("GET", "/api/events/{id}/changes"),
    ("PATCH", "/api/events/{id}"),
    ("DELETE", "/api/events/{id}"),
    ("POST", "/api/events/{sale}/orders/{id}/cancel"),
    ("GET", "/api/events/{id}/presale-links"),
    ("GET", "/api/events/{sale}/presale/{id}"),
    ("POST", "/api/events/{sale}/presale/{id}/holds"),
    ("GET", "/api/events/{id}/door-tokens"),
    ("POST", "/api/events/{sale}/door-tokens/{id}/revoke"),
    ("GET", "/api/tickets/{id}"),
    ("GET", "/e/{id}"),
]


@pytest.mark.parametrize("hostile", ["%00", "a%00b", "a%01b", "a%1Fb", "a%7Fb"])
@pytest.mark.parametrize(("method", "template"), ID_ROUTES)
async def test_a_path_with_a_control_character_is_not_found(
    live_stack: LiveStack, crowd: Crowd, sale: str, method: str, template: str, hostile: str
) -> None:
    """PostgreSQL refuses NUL in text: each of these was a 500 (a 404 on SQLite)."""
    fan = crowd.fan(sale)
    await fan.join()
    headers = {**fan.headers, **live_stack.organiser_headers}
    known = event_ids(live_stack)
    path = template.format(id=hostile, sale=sale)
    response = await _send(live_stack, method, path, headers, b"{}")
    expect_error(response, ErrorCode.NOT_FOUND)
    assert "set-cookie" not in response.headers
    assert event_ids(live_stack) == known


async def test_a_socket_with_a_control_character_is_closed_with_a_frame(
    live_stack: LiveStack, crowd: Crowd, sale: str
) -> None:
    """It was accepted and then dropped with no close frame (the catalogue's query failed)."""
    fan = crowd.fan(sale)
    await fan.join()
    url = live_stack.base_url.replace("http", "ws", 1) + "/ws/events/a%00b"
    async with connect(url, additional_headers=fan.headers, proxy=None) as socket:
        refusal = json.loads(await socket.recv())
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert refusal["t"] == "error" and refusal["code"] == ErrorCode.NOT_FOUND.value, refusal
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


@pytest.mark.parametrize("event_id", ["a\x00b", "\x00", "Not-A-Slug", "e" * 41, "caf\u00e9"])
async def test_the_catalogue_finds_no_event_for_an_id_that_is_not_a_slug(
    engine: Engine, event_id: str
) -> None:
    """Below the path guard: an id that cannot be an event's never reaches the database."""
    assert await Catalog(engine).get(event_id) is None


# --- lone surrogates in JSON text ------------------------------------------


# (method, path, body, who asks, where the refusal says the bad text is)
SURROGATE_CASES: dict[str, tuple[str, str, dict[str, Any], str, str]] = {
    "event name": ("POST", "/api/events", _event_body(name=LONE_SURROGATE), "org", "name"),
    "ticket type name": (
        "POST",
        "/api/events",
        _event_body(ticket_types=[ticket_type(name=LONE_SURROGATE)]),
        "org",
        "ticket_types[0].name",
    ),
    "a key": (
        "POST",
        "/api/events",
        {**_event_body(), LONE_SURROGATE: 1},
        "org",
        "a key of the request body",
    ),
    "door name": (
        "POST",
        "/api/events/{sale}/door-tokens",
        {"door": LONE_SURROGATE},
        "org",
        "door",
    ),
    "presale label": (
        "POST",
        "/api/events/{sale}/presale-links",
        {"label": LONE_SURROGATE, "allowance": 1, "expires_at": "2030-01-01T10:00:00+00:00"},
        "org",
        "label",
    ),
    "check-in door": (
        "POST",
        "/api/door/check-in",
        {"code": "A" * 22, "door": LONE_SURROGATE},
        "org",
        "door",
    ),
    "admission token": (
        "POST",
        "/api/events/{sale}/purchases",
        {"admission_token": LONE_SURROGATE, "items": [{"type": "x", "quantity": 1}]},
        "fan",
        "admission_token",
    ),
    "ticket type asked for": (
        "POST",
        "/api/events/{sale}/purchases",
        {"admission_token": "t", "items": [{"type": LONE_SURROGATE, "quantity": 1}]},
        "fan",
        "items[0].type",
    ),
    "sign-in challenge": (
        "POST",
        "/api/sign-in/email/code",
        {"challenge": LONE_SURROGATE, "code": "123456"},
        "fan",
        "challenge",
    ),
    "email when paying": (
        "POST",
        "/api/events/{sale}/holds/{hold}/pay",
        {"email": LONE_SURROGATE},
        "fan",
        "email",
    ),
}


@pytest.mark.parametrize("case", list(SURROGATE_CASES))
async def test_text_that_is_not_utf8_is_refused_by_name(
    live_stack: LiveStack, crowd: Crowd, sale: str, case: str
) -> None:
    """Python's json takes "\\ud800" into a str nothing can encode: each was a 500."""
    method, template, body, who, where = SURROGATE_CASES[case]
    fan = crowd.fan(sale)
    await fan.join()
    headers = live_stack.organiser_headers if who == "org" else fan.headers
    headers = {**headers, "Content-Type": "application/json"}
    # Paying reads its body only for a live hold of the fan's own.
    hold_id = await fan.hold() if "{hold}" in template else ""
    known = event_ids(live_stack)
    path = template.format(sale=sale, hold=hold_id)
    response = await _send(live_stack, method, path, headers, _json_bytes(body))
    error = expect_error(response, ErrorCode.INVALID_FIELD)
    assert error["message"].startswith(f"{where} must be UTF-8 text"), error
    assert event_ids(live_stack) == known


def test_text_field_refuses_a_lone_surrogate_by_name() -> None:
    """The fan's socket parses its own JSON and reads fields with text_field alone."""
    with pytest.raises(FairdropError) as refused:
        text_field({"name": LONE_SURROGATE}, "name", 200)
    assert refused.value.code == ErrorCode.INVALID_FIELD
    assert refused.value.message.startswith("name must be UTF-8 text")


# --- money -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("types", "accepted"),
    [
        # The case: 22 x 1,000,000.00 = 22,000,000.00, past INTEGER's 21,474,836.47.
        ([ticket_type(price_cents=100_000_000, per_person_limit=22, stock=100)], False),
        ([ticket_type(price_cents=100_000_000, per_person_limit=10, stock=100)], True),
        # Only 10 exist, so nobody can buy 22.
        ([ticket_type(price_cents=100_000_000, per_person_limit=22, stock=10)], True),
        # One fan may buy every type in one order.
        (
            [
                ticket_type(price_cents=100_000_000, per_person_limit=6),
                ticket_type(id="vip", price_cents=100_000_000, per_person_limit=5),
            ],
            False,
        ),
    ],
    ids=["22 at the top price", "10 at the top price", "22 of 10 in stock", "two types"],
)
async def test_a_sale_whose_dearest_order_is_over_the_maximum_is_refused(
    live_stack: LiveStack, types: list[dict[str, Any]], accepted: bool
) -> None:
    known = event_ids(live_stack)
    async with client(live_stack, live_stack.organiser_headers) as http:
        response = await http.post("/api/events", json=_event_body(ticket_types=types))
    if accepted:
        assert response.status_code == 201, response.text
        return
    error = expect_error(response, ErrorCode.INVALID_FIELD)
    assert str(MAX_ORDER_CENTS) in error["message"], error
    assert event_ids(live_stack) == known


async def test_an_order_the_database_refuses_is_refunded_and_its_tickets_return(
    live_stack: LiveStack, crowd: Crowd, engine: Engine
) -> None:
    """No paid hold is left without an order or a refund (invariant 6).

    A price no sale can be made with any more stands in for any write a retry
    cannot fix: the total of two is past BIGINT, so the order's insert fails
    with a DataError every time. The worker used to retry it until RQ gave up,
    the payment kept and the tickets sold to nobody.
    """
    event_id = open_sale(live_stack, ticket_types=[ticket_type(stock=10)])
    fan = crowd.fan(event_id)
    await fan.join()
    socket = await fan.open_socket()
    hold_id = await fan.hold(2)
    with open_session(engine) as session:
        session.execute(
            update(TicketType).where(col(TicketType.id) == ga(event_id)).values(price_cents=2**62)
        )
        session.commit()

    paid = await fan.request("POST", fan.path(f"/holds/{hold_id}/pay"))

    assert paid.status_code == 202, paid.text
    answer = await socket.next(is_message("order"))
    assert answer["ok"] is False and answer["code"] == "refunded", answer
    assert answer["reason"] == "order_not_recorded" and answer["refund_ref"], answer
    with open_session(engine) as session:
        assert session.exec(select(Order).where(Order.hold_id == hold_id)).all() == []
        strays = session.exec(select(StrayPayment).where(StrayPayment.hold_id == hold_id)).all()
    assert [(s.reason, s.refund_ref) for s in strays] == [
        ("order_not_recorded", answer["refund_ref"])
    ]
    figures = stats(live_stack, event_id)
    assert (figures["sold"], figures["held"], figures["remaining_total"]) == (0, 0, 10)


async def test_a_socket_hold_with_a_lone_surrogate_token_is_refused_and_the_socket_lives(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    [fan] = await crowd.joined(open_sale(live_stack), 1)
    socket = await fan.open_socket()
    # Escaped in the JSON text: the server's json.loads makes a lone surrogate of it.
    await socket.send('{"t":"hold","admission_token":"a\\ud800b","items":[]}')
    refused = await socket.next(is_message("error"))
    assert refused["code"] == ErrorCode.INVALID_TOKEN
    await socket.send('{"t":"ping"}')
    assert (await socket.next(is_message("pong")))["t"] == "pong"
