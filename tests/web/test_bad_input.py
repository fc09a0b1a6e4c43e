"""Invariant 7: bad input gets a 4xx JSON error with its documented code, and changes nothing.

"Changes nothing" is checked after a barrier: a purchase request on a separate
sale, answered by the one FIFO worker. Anything the refused call might have
queued has run by then, so the figures compared afterwards are final.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from fairdrop.errors import ErrorCode
from fairdrop.tokens import Admission, Session, Signer
from queue_engine.keys import EVENTS_INDEX, EventKeys
from tests.live_stack import LiveStack
from tests.web.fans import (
    Fan,
    admitted_fans,
    client,
    event_ids,
    expect_error,
    ga,
    is_message,
    open_sale,
    stats,
    ticket_type,
)

GHOST = "no-such-event"
MAX_BODY = 16_384  # Settings.max_body_bytes; checked against the stack below


@dataclass
class World:
    """What every case here looks at: the stack, Redis, a barrier fan and a shop."""

    stack: LiveStack
    client: redis.Redis
    barrier: Fan
    barrier_token: str
    shop: str  # a sale with plenty of stock and time, where each case gets a fan
    ready: list[tuple[Fan, str]]  # shop fans already let in, with their tokens

    @property
    def signer(self) -> Signer:
        return Signer(self.stack.settings.secret_key)

    @property
    def forger(self) -> Signer:
        """Signs well-formed cookies and tokens with a key that is not the stack's."""
        return Signer("forged-" + self.stack.settings.secret_key)

    async def worker_caught_up(self) -> None:
        """Returns once the worker has answered everything queued before now."""
        asked = await self.barrier.ask_for(self.barrier_token)
        assert asked.status_code == 202, asked.text
        await self.barrier.answer_to(asked.json()["request_id"])

    def fingerprint(self, event_id: str) -> dict[str, Any]:
        """Every figure a refused call could have changed (the phase moves by time)."""
        figures = stats(self.stack, event_id)
        figures.pop("state")
        figures["requests"] = self.client.hlen(EventKeys(event_id).requests)
        return figures

    async def assert_unchanged(self, event_id: str, before: dict[str, Any]) -> None:
        await self.worker_caught_up()
        assert self.fingerprint(event_id) == before

    def assert_no_new_event(self, known: list[str], event_id: str = "") -> None:
        """No event was added, neither in the catalogue nor, for ``event_id``, in Redis."""
        assert event_ids(self.stack) == known
        if event_id:
            assert self.client.exists(*EventKeys(event_id).stored_keys) == 0
            assert not self.client.sismember(EVENTS_INDEX, event_id)

    async def shopper(self) -> tuple[Fan, str]:
        """A fan in the shop nobody has used yet, let in: the fan and its admission token."""
        if self.ready:
            return self.ready.pop()
        return (await admitted_fans(self.stack, self.shop, 1))[0]


# Fans let in before the tests start, so the cases need not wait for the clock.
SHOPPERS = 110


@pytest.fixture(scope="module")
def world(live_stack: LiveStack) -> Iterator[World]:
    assert live_stack.settings.max_body_bytes == MAX_BODY
    barrier_sale = open_sale(live_stack, hold_seconds=3_600)
    shop = open_sale(
        live_stack, hold_seconds=3_600, cap=1_000, ticket_types=[ticket_type(stock=1_000)]
    )

    async def let_in() -> tuple[list[tuple[Fan, str]], list[tuple[Fan, str]]]:
        barrier = await admitted_fans(live_stack, barrier_sale, 1)
        return barrier, await admitted_fans(live_stack, shop, SHOPPERS)

    # A module fixture runs outside the tests' event loops.
    [(barrier, token)], ready = asyncio.run(let_in())
    with redis.Redis.from_url(live_stack.settings.redis_url or "") as client:
        yield World(live_stack, client, barrier, token, shop, ready)


def _organiser(stack: LiveStack) -> httpx.AsyncClient:
    return client(stack, stack.organiser_headers)


async def _call(stack: LiveStack, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with client(stack) as http:
        return await http.request(method, path, **kwargs)


def _raw_http(stack: LiveStack, head: str, body: bytes) -> httpx.Response:
    """Sends bytes httpx would refuse to send (a content-length that lies)."""
    host, port = stack.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        received = b""
        while chunk := conn.recv(65_536):
            received += chunk
    header_block, _, rest = received.partition(b"\r\n\r\n")
    status_line, *header_lines = header_block.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    content = rest[: int(headers["content-length"])]  # only the first answer
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=content)


# --- unknown events ---------------------------------------------------------

FAN_ROUTES = [
    ("GET", ""),
    ("POST", "/join"),
    ("POST", "/purchases"),
    ("GET", "/purchases/0123abcd"),
    ("POST", "/holds/0123abcd/pay"),
    ("POST", "/holds/0123abcd/release"),
    ("GET", "/draw"),
    ("GET", "/draw/entrants"),
]
ORGANISER_ROUTES = [
    ("GET", "/stats"),
    ("POST", "/pause"),
    ("POST", "/resume"),
    ("POST", "/door-tokens"),
    ("GET", "/door-tokens"),
    ("GET", "/export.csv"),
]


@pytest.mark.parametrize(
    ("method", "tail", "organiser"),
    [(m, t, False) for m, t in FAN_ROUTES] + [(m, t, True) for m, t in ORGANISER_ROUTES],
)
async def test_an_unknown_event_is_unknown_on_every_route(
    world: World, method: str, tail: str, organiser: bool
) -> None:
    fan, token = await world.shopper()  # a real fan, so only the event is wrong
    # Joining comes without a cookie, so a cookie handed out would show.
    headers = {} if tail == "/join" else fan.headers
    headers.update(world.stack.organiser_headers if organiser else {})
    body = {"admission_token": token, "items": [{"type": ga(world.shop), "quantity": 1}]}
    known = event_ids(world.stack)
    response = await _call(
        world.stack, method, f"/api/events/{GHOST}{tail}", headers=headers, json=body
    )
    expect_error(response, ErrorCode.UNKNOWN_EVENT)
    assert "set-cookie" not in response.headers
    await world.worker_caught_up()
    world.assert_no_new_event(known, GHOST)


# --- the organiser's token --------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, ErrorCode.UNAUTHORIZED),
        ("Bearer", ErrorCode.UNAUTHORIZED),
        ("Basic b3JnOnNlY3JldA==", ErrorCode.UNAUTHORIZED),
        ("Bearer not-the-token", ErrorCode.FORBIDDEN),
    ],
    ids=["none", "empty", "basic", "wrong"],
)
@pytest.mark.parametrize(
    ("method", "tail"),
    [("POST", None), ("GET", None), *ORGANISER_ROUTES],
)
async def test_organiser_routes_need_the_organisers_token(
    world: World, method: str, tail: str | None, authorization: str | None, code: ErrorCode
) -> None:
    path = "/api/events" if tail is None else f"/api/events/{world.shop}{tail}"
    headers = {} if authorization is None else {"Authorization": authorization}
    new_id = f"sneaky-{time.monotonic_ns()}"
    body = _event_body(id=new_id)
    known, before = event_ids(world.stack), world.fingerprint(world.shop)
    response = await _call(world.stack, method, path, headers=headers, json=body)
    expect_error(response, code)
    world.assert_no_new_event(known, new_id)
    await world.assert_unchanged(world.shop, before)


# --- creating events --------------------------------------------------------


def _event_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "bad input",
        "opens_at": "2030-01-01T10:00:00+00:00",
        "drop_at": "2030-01-01T10:05:00+00:00",
        "rate_per_min": 600,
        "cap": 50,
        "hold_seconds": 60,
        "ticket_types": [ticket_type()],
    }
    body.update(changes)
    return body


def _without(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.pop(name)


def _type_change(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body["ticket_types"][0].update(changes)


def _type_without(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body["ticket_types"][0].pop(name)


BAD_EVENTS: dict[str, Callable[[dict[str, Any]], None] | dict[str, Any]] = {
    "drop before opening": {"drop_at": "2030-01-01T09:59:59+00:00"},
    "no name": _without("name"),
    "blank name": {"name": "   "},
    "long name": {"name": "n" * 201},
    "no opens_at": _without("opens_at"),
    "no drop_at": _without("drop_at"),
    "no ticket types": _without("ticket_types"),
    "no rate": _without("rate_per_min"),
    "date not a date": {"opens_at": "next tuesday"},
    "date as a number": {"opens_at": 1_893_492_000},
    "date without zone": {"opens_at": "2030-01-01T10:00:00"},
    "rate as a string": {"rate_per_min": "600"},
    "cap as a bool": {"cap": True},
    "hold as a float": {"hold_seconds": 60.5},
    "hold too short": {"hold_seconds": 4},
    "hold too long": {"hold_seconds": 3_601},
    "zero cap": {"cap": 0},
    "negative rate": {"rate_per_min": -1},
    "huge cap": {"cap": 10**30},
    "bad event id": {"id": "Not_A_Slug"},
    "empty event id": {"id": ""},
    "long event id": {"id": "e" * 41},
    "event id not a string": {"id": 7},
    "bad seed": {"seed": "not-hex"},
    # Nobody picks the draw's seed, not even with a well-formed one (docs/fairness.md).
    "chosen seed": {"seed": "0f" * 32},
    "ticket types empty": {"ticket_types": []},
    "ticket types not a list": {"ticket_types": {"id": "ga"}},
    "ticket type not an object": {"ticket_types": ["ga"]},
    "too many ticket types": {"ticket_types": [ticket_type(id=f"t{i}") for i in range(21)]},
    "duplicate ticket types": {"ticket_types": [ticket_type(), ticket_type(name="GA again")]},
    "lower-case currency": _type_change(currency="eur"),
    "long currency": _type_change(currency="EURO"),
    "currency as a number": _type_change(currency=978),
    "mixed currencies": {"ticket_types": [ticket_type(), ticket_type(id="vip", currency="USD")]},
    "no stock": _type_without("stock"),
    "zero stock": _type_change(stock=0),
    "stock as a string": _type_change(stock="10"),
    "fractional price": _type_change(price_cents=39.99),
    "negative price": _type_change(price_cents=-1),
    "limit as a bool": _type_change(per_person_limit=True),
    "bad type id": _type_change(id="GA!"),
}


@pytest.mark.parametrize("case", list(BAD_EVENTS))
async def test_a_bad_event_is_refused_and_not_created(world: World, case: str) -> None:
    event_id = f"bad-{time.monotonic_ns()}"
    body = _event_body(id=event_id)
    change = BAD_EVENTS[case]
    if callable(change):
        change(body)
    else:
        body.update(deepcopy(change))
    known = event_ids(world.stack)
    async with _organiser(world.stack) as http:
        response = await http.post("/api/events", json=body)
    expect_error(response, ErrorCode.INVALID_FIELD)
    world.assert_no_new_event(known, str(body.get("id") or event_id))


# Raw bodies say they are JSON: a body of another type is refused before it is read (415).
JSON_BODY = {"Content-Type": "application/json"}
BROKEN_BODIES = {
    "malformed JSON": (b'{"name": "x",', ErrorCode.MALFORMED_JSON),
    "not UTF-8": (b'{"name": "\xff\xfe"}', ErrorCode.MALFORMED_JSON),
    "a list": (b"[]", ErrorCode.INVALID_FIELD),
    "a string": (b'"event"', ErrorCode.INVALID_FIELD),
    "a number": (b"42", ErrorCode.INVALID_FIELD),
    "null": (b"null", ErrorCode.INVALID_FIELD),
    "empty": (b"", ErrorCode.INVALID_FIELD),
}


@pytest.mark.parametrize("case", list(BROKEN_BODIES))
async def test_a_body_that_is_not_an_event_object_is_refused(world: World, case: str) -> None:
    content, code = BROKEN_BODIES[case]
    known = event_ids(world.stack)
    async with _organiser(world.stack) as http:
        response = await http.post("/api/events", content=content, headers=JSON_BODY)
    expect_error(response, code)
    world.assert_no_new_event(known)


async def test_an_event_id_can_be_used_once(world: World) -> None:
    event_id = f"once-{time.monotonic_ns()}"
    async with _organiser(world.stack) as http:
        first = await http.post("/api/events", json=_event_body(id=event_id))
        assert first.status_code == 201, first.text
        known, before = event_ids(world.stack), world.fingerprint(event_id)
        again = _event_body(id=event_id, name="impostor", ticket_types=[ticket_type(stock=99)])
        expect_error(await http.post("/api/events", json=again), ErrorCode.EVENT_EXISTS)
        public = (await http.get(f"/api/events/{event_id}")).json()
    assert public["name"] == "bad input"
    assert public["ticket_types"][0]["stock"] == 10
    assert event_ids(world.stack) == known
    await world.assert_unchanged(event_id, before)


# Each of these once got "500 Internal Server Error" in text/plain (or, for the
# last, an event that its own OpenAPI pattern forbids) instead of a 4xx refusal.
SERVER_ERRORS = {
    "deep nesting": (
        b"[" * 15_000,
        "web/validation.py read_json_object catches ValueError and UnicodeDecodeError "
        "but not the RecursionError json.loads raises on deeply nested input: 500",
    ),
    "year past 9999": (
        _event_body(opens_at="9999-12-31T23:00:00-02:00"),
        "web/validation.py datetime_field: astimezone(UTC) raises OverflowError for "
        "9999-12-31T23:00-02:00 (and year-1 dates east of UTC): 500",
    ),
    "NUL in a name": (
        _event_body(name="drop\u0000night"),
        "web/validation.py text_field accepts U+0000, which PostgreSQL text "
        "cannot store: the insert fails with 500",
    ),
    "newline after an id": (
        _event_body(id="trailing-newline\n"),
        "web/validation.py SLUG uses re.match with '$', which also matches before a "
        "final newline: id 'trailing-newline\\n' is accepted (201) and the event created",
    ),
}


@pytest.mark.parametrize("case", list(SERVER_ERRORS))
async def test_inputs_that_break_the_server(world: World, case: str) -> None:
    payload = SERVER_ERRORS[case][0]
    known = event_ids(world.stack)
    async with _organiser(world.stack) as http:
        if isinstance(payload, bytes):
            response = await http.post("/api/events", content=payload, headers=JSON_BODY)
        else:
            response = await http.post("/api/events", json=payload)
    assert response.status_code < 500, response.text
    expected = ErrorCode.MALFORMED_JSON if isinstance(payload, bytes) else ErrorCode.INVALID_FIELD
    expect_error(response, expected)
    world.assert_no_new_event(known)


# --- bodies over the size limit ---------------------------------------------


def _oversized() -> bytes:
    return b'{"name": "' + b"x" * MAX_BODY + b'"}'


async def _streamed(content: bytes) -> AsyncIterator[bytes]:
    """Sent chunked, with no content-length: the server can only count."""
    for start in range(0, len(content), 1_000):
        yield content[start : start + 1_000]


SIZE_CASES = ["truthful length", "no length (streamed)", "length says more", "length says less"]


async def _send_sized(
    world: World, path: str, headers: dict[str, str], case: str
) -> httpx.Response:
    """POSTs a body over the limit, declaring its length as ``case`` says."""
    if case == "truthful length":
        return await _call(world.stack, "POST", path, headers=headers, content=_oversized())
    if case == "no length (streamed)":
        return await _call(
            world.stack, "POST", path, headers=headers, content=_streamed(_oversized())
        )
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines.append("Content-Type: application/json")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if case == "length says more":  # a small body claiming to be huge
        lines.append(f"Content-Length: {MAX_BODY * 10}")
        return await asyncio.to_thread(_raw_http, world.stack, "\n".join(lines) + "\n", b"{}")
    # A huge body claiming to be small: only the declared bytes are the body.
    lines.append("Content-Length: 100")
    return await asyncio.to_thread(_raw_http, world.stack, "\n".join(lines) + "\n", _oversized())


def _size_code(case: str) -> ErrorCode:
    # What follows a short content-length is not part of the request, so the
    # body read is a truncated JSON document.
    return ErrorCode.MALFORMED_JSON if case == "length says less" else ErrorCode.BODY_TOO_LARGE


@pytest.mark.parametrize("case", SIZE_CASES)
async def test_an_oversized_event_body_is_refused(world: World, case: str) -> None:
    known = event_ids(world.stack)
    response = await _send_sized(world, "/api/events", world.stack.organiser_headers, case)
    expect_error(response, _size_code(case))
    world.assert_no_new_event(known)


@pytest.mark.parametrize("case", SIZE_CASES)
async def test_an_oversized_purchase_body_is_refused(world: World, case: str) -> None:
    fan, _ = await world.shopper()
    before = world.fingerprint(world.shop)
    response = await _send_sized(world, fan.path("/purchases"), fan.headers, case)
    expect_error(response, _size_code(case))
    await world.assert_unchanged(world.shop, before)


# --- purchase requests ------------------------------------------------------


def _item(**changes: Any) -> Callable[[str], list[dict[str, Any]]]:
    return lambda event_id: [{"type": ga(event_id), "quantity": 1, **changes}]


BAD_ITEMS: dict[str, tuple[Callable[[str], Any], ErrorCode]] = {
    "quantity as a string": (_item(quantity="1"), ErrorCode.INVALID_FIELD),
    "quantity as a bool": (_item(quantity=True), ErrorCode.INVALID_FIELD),
    "quantity as a float": (_item(quantity=1.5), ErrorCode.INVALID_FIELD),
    "negative quantity": (_item(quantity=-1), ErrorCode.INVALID_FIELD),
    "zero quantity": (_item(quantity=0), ErrorCode.INVALID_FIELD),
    "quantity over 100": (_item(quantity=101), ErrorCode.INVALID_FIELD),
    "huge quantity": (_item(quantity=10**30), ErrorCode.INVALID_FIELD),
    "no quantity": (lambda e: [{"type": ga(e)}], ErrorCode.INVALID_FIELD),
    "no type": (lambda e: [{"quantity": 1}], ErrorCode.INVALID_FIELD),
    "type as a number": (_item(type=1), ErrorCode.INVALID_FIELD),
    "no items": (lambda e: None, ErrorCode.INVALID_FIELD),
    "empty items": (lambda e: [], ErrorCode.INVALID_FIELD),
    "items not a list": (lambda e: {"type": ga(e), "quantity": 1}, ErrorCode.INVALID_FIELD),
    "item not an object": (lambda e: [[ga(e), 1]], ErrorCode.INVALID_FIELD),
    "too many items": (
        lambda e: [{"type": f"{e}.t{i}", "quantity": 1} for i in range(11)],
        ErrorCode.INVALID_FIELD,
    ),
    "duplicate types": (lambda e: _item()(e) * 2, ErrorCode.INVALID_FIELD),
    "unknown type": (_item(type="nope"), ErrorCode.UNKNOWN_TICKET_TYPE),
    "type id without the event": (_item(type="ga"), ErrorCode.UNKNOWN_TICKET_TYPE),
    "another event's type": (_item(type=ga("another-event")), ErrorCode.UNKNOWN_TICKET_TYPE),
}


async def _hold_over_socket(fan: Fan, body: dict[str, Any]) -> dict[str, Any]:
    """Sends a hold message on a new socket of the fan; the error or receipt it got."""
    socket = await fan.open_socket()
    try:
        await socket.send(json.dumps({"t": "hold", **body}))
        answer = await socket.next(lambda m: m.get("t") in {"error", "hold_queued"})
        # Refused or not, the socket stays open for the next message.
        await socket.send('{"t":"ping"}')
        await socket.next(is_message("pong"))
    finally:
        await socket.close()
    return answer


@pytest.mark.parametrize("over", ["http", "socket"])
@pytest.mark.parametrize("case", list(BAD_ITEMS))
async def test_bad_items_are_refused_and_nothing_is_held(
    world: World, case: str, over: str
) -> None:
    make_items, code = BAD_ITEMS[case]
    fan, token = await world.shopper()
    body: dict[str, Any] = {"admission_token": token}
    if (items := make_items(world.shop)) is not None:
        body["items"] = items
    before = world.fingerprint(world.shop)
    if over == "http":
        expect_error(await fan.request("POST", fan.path("/purchases"), json=body), code)
    else:
        answer = await _hold_over_socket(fan, body)
        assert (answer["t"], answer["code"]) == ("error", code.value), answer
    await world.assert_unchanged(world.shop, before)


@pytest.mark.parametrize("case", list(BROKEN_BODIES))
async def test_a_purchase_body_that_is_not_an_object_is_refused(world: World, case: str) -> None:
    content, code = BROKEN_BODIES[case]
    if case == "empty":
        code = ErrorCode.NOT_ADMITTED  # {} is read; it has no admission token
    fan, _ = await world.shopper()
    before = world.fingerprint(world.shop)
    sent = await fan.request("POST", fan.path("/purchases"), content=content, headers=JSON_BODY)
    expect_error(sent, code)
    await world.assert_unchanged(world.shop, before)


def _session(world: World, fan: Fan) -> Session:
    session = world.signer.session_from_cookie(fan.cookie)
    assert session is not None
    return session


def _fan_id(world: World, fan: Fan) -> str:
    """The fan's entrant id in its event, as the server derives it."""
    return world.signer.entrant_id(fan.event_id, _session(world, fan).identity)


def _forged_cookie(world: World, fan: Fan) -> str:
    return world.forger.sign_session(_session(world, fan))


def _admission(
    world: World,
    fan: Fan,
    *,
    expires_in_ms: int,
    event_id: str = "",
    signer: Signer | None = None,
) -> str:
    """An admission token for this fan, for any event, expiry and key we like."""
    expires = int(time.time() * 1000) + expires_in_ms
    admission = Admission(event_id or fan.event_id, _fan_id(world, fan), 1, expires)
    return (signer or world.signer).sign_admission(admission)


# Each builds (cookie to send, admission token to send) from the admitted fan,
# its token and a second admitted fan.
TokenCase = Callable[[World, Fan, str, str], tuple[str, Any]]
BAD_TOKENS: dict[str, tuple[TokenCase, ErrorCode]] = {
    "no cookie": (lambda w, f, t, o: ("", t), ErrorCode.NO_FAN_ID),
    "forged cookie": (lambda w, f, t, o: (_forged_cookie(w, f), t), ErrorCode.NO_FAN_ID),
    "no token": (lambda w, f, t, o: (f.cookie, None), ErrorCode.NOT_ADMITTED),
    "token not a string": (lambda w, f, t, o: (f.cookie, 12345), ErrorCode.NOT_ADMITTED),
    "forged token": (
        lambda w, f, t, o: (f.cookie, _admission(w, f, expires_in_ms=60_000, signer=w.forger)),
        ErrorCode.INVALID_TOKEN,
    ),
    "fan cookie as token": (lambda w, f, t, o: (f.cookie, f.cookie), ErrorCode.INVALID_TOKEN),
    "expired token": (
        lambda w, f, t, o: (f.cookie, _admission(w, f, expires_in_ms=-1_000)),
        ErrorCode.TOKEN_EXPIRED,
    ),
    "another fan's token": (lambda w, f, t, o: (f.cookie, o), ErrorCode.FOREIGN_TOKEN),
    "another event's token": (
        lambda w, f, t, o: (
            f.cookie,
            _admission(w, f, event_id=w.barrier.event_id, expires_in_ms=60_000),
        ),
        ErrorCode.FOREIGN_TOKEN,
    ),
}


async def _token_case(world: World, case: str) -> tuple[Fan, str, str, dict[str, Any], ErrorCode]:
    """A fresh shopper, its own token, and the cookie and body the case sends instead."""
    make, code = BAD_TOKENS[case]
    fan, token = await world.shopper()
    _, other_token = await world.shopper()
    cookie, sent_token = make(world, fan, token, other_token)
    body: dict[str, Any] = {"items": [{"type": ga(world.shop), "quantity": 1}]}
    if sent_token is not None:
        body["admission_token"] = sent_token
    return fan, token, cookie, body, code


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_a_purchase_needs_this_fans_live_admission(world: World, case: str) -> None:
    fan, token, cookie, body, code = await _token_case(world, case)
    before = world.fingerprint(world.shop)
    sender = Fan(world.stack, world.shop, cookie)
    expect_error(await sender.request("POST", fan.path("/purchases"), json=body), code)
    await world.assert_unchanged(world.shop, before)
    # The fan's own token still works: the refusal was about what was sent.
    asked = await fan.ask_for(token)
    assert (await fan.answer_to(asked.json()["request_id"]))["ok"] is True


async def test_a_purchase_before_admission_is_refused(world: World) -> None:
    event_id = world.stack.create_event()["id"]  # still in the buffer window
    fan = Fan(world.stack, event_id)
    assert (await fan.join())["status"] == "buffered"
    before = world.fingerprint(event_id)
    expect_error(await fan.ask_for(""), ErrorCode.NOT_ADMITTED)
    await world.assert_unchanged(event_id, before)


# --- holds and requests of other fans ---------------------------------------


async def test_only_the_holder_can_pay_or_release_a_hold(world: World) -> None:
    owner, _ = await world.shopper()
    hold_id = await owner.hold()
    stranger, _ = await world.shopper()
    nobody = Fan(world.stack, world.shop)
    before = world.fingerprint(world.shop)
    for action in ("pay", "release"):
        path = owner.path(f"/holds/{hold_id}/{action}")
        expect_error(await stranger.request("POST", path), ErrorCode.HOLD_NOT_YOURS)
        expect_error(await nobody.request("POST", path), ErrorCode.NO_FAN_ID)
        unknown = owner.path(f"/holds/{'0' * 32}/{action}")
        expect_error(await owner.request("POST", unknown), ErrorCode.UNKNOWN_HOLD)
    await world.assert_unchanged(world.shop, before)

    # Still the owner's, still live: paying it sells the ticket.
    paid = await owner.request("POST", owner.path(f"/holds/{hold_id}/pay"))
    assert paid.status_code == 202, paid.text
    await world.worker_caught_up()
    after_sale = world.fingerprint(world.shop)
    assert after_sale["sold"] == before["sold"] + 1
    for action in ("pay", "release"):  # a confirmed hold is over
        path = owner.path(f"/holds/{hold_id}/{action}")
        expect_error(await owner.request("POST", path), ErrorCode.HOLD_EXPIRED)
    await world.assert_unchanged(world.shop, after_sale)


async def test_a_purchase_request_is_only_its_fans(world: World) -> None:
    owner, token = await world.shopper()
    asked = await owner.ask_for(token)
    request_id = asked.json()["request_id"]
    answer = await owner.answer_to(request_id)
    stranger, _ = await world.shopper()
    path = owner.path(f"/purchases/{request_id}")
    expect_error(await stranger.request("GET", path), ErrorCode.UNKNOWN_REQUEST)
    expect_error(await Fan(world.stack, world.shop).request("GET", path), ErrorCode.NO_FAN_ID)
    assert await owner.answer_to(request_id) == answer


async def test_a_request_id_never_issued_is_unknown(world: World) -> None:
    fan, _ = await world.shopper()
    response = await fan.request("GET", fan.path("/purchases/never-issued"))
    expect_error(response, ErrorCode.UNKNOWN_REQUEST)


# --- the same requests over the fan's socket ---------------------------------

# A socket without a valid fan cookie is refused at the handshake (test_live_socket).
SOCKET_TOKEN_CASES = [c for c in BAD_TOKENS if c not in {"no cookie", "forged cookie"}]


@pytest.mark.parametrize("case", SOCKET_TOKEN_CASES)
async def test_a_hold_over_the_socket_needs_this_fans_live_admission(
    world: World, case: str
) -> None:
    fan, _, _, body, code = await _token_case(world, case)
    before = world.fingerprint(world.shop)
    answer = await _hold_over_socket(fan, body)
    assert answer == {"t": "error", "code": code.value, "message": answer["message"]}
    await world.assert_unchanged(world.shop, before)


async def test_a_hold_over_the_socket_is_answered_on_it(world: World) -> None:
    fan, token = await world.shopper()
    before = world.fingerprint(world.shop)
    socket = await fan.open_socket()
    items = [{"type": ga(world.shop), "quantity": 1}]
    await socket.send(json.dumps({"t": "hold", "admission_token": token, "items": items}))
    queued = await socket.next(is_message("hold_queued"))
    result = await socket.next(is_message("hold_result", request_id=queued["request_id"]))
    assert result["ok"] is True, result
    assert result["hold"]["items"] == [[ga(world.shop), 1]]
    # The same answer is there to poll, and the stock moved by exactly one.
    polled = await fan.answer_to(queued["request_id"])
    assert polled["hold"] == result["hold"]
    after = world.fingerprint(world.shop)
    assert (after["held"], after["requests"]) == (before["held"] + 1, before["requests"] + 1)
    # Asking again while holding is refused by the worker, and changes nothing more.
    await socket.send(json.dumps({"t": "hold", "admission_token": token, "items": items}))
    again = await socket.next(is_message("hold_queued"))
    refused = await socket.next(is_message("hold_result", request_id=again["request_id"]))
    assert (refused["ok"], refused["code"]) == (False, "hold_exists")
    assert world.fingerprint(world.shop)["held"] == after["held"]
    await socket.close()


async def test_the_entrant_list_waits_for_the_draw(world: World) -> None:
    event_id = world.stack.create_event()["id"]
    before = world.fingerprint(event_id)
    response = await _call(world.stack, "GET", f"/api/events/{event_id}/draw/entrants")
    expect_error(response, ErrorCode.DRAW_NOT_DONE)
    await world.assert_unchanged(event_id, before)


# --- paths and methods ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/nope"),
        ("GET", "/nope"),
        ("POST", "/api/events/some-event/nope"),
        ("GET", "/api/events/some-event/holds/h1"),
        ("GET", "/static/nope.js"),
        ("GET", "/ws/events/some-event"),  # a websocket route, not an HTTP one
    ],
)
async def test_an_unknown_path_is_a_json_404(world: World, method: str, path: str) -> None:
    expect_error(await _call(world.stack, method, path), ErrorCode.NOT_FOUND)


WRONG_METHODS = [
    ("PUT", "/api/events"),
    ("PUT", "/api/events/{shop}"),
    ("GET", "/api/events/{shop}/join"),
    ("GET", "/api/events/{shop}/purchases"),
    ("POST", "/api/events/{shop}/stats"),
    ("GET", "/api/events/{shop}/pause"),
    ("DELETE", "/api/events/{shop}/holds/h1/pay"),
    ("POST", "/api/events/{shop}/draw"),
    ("POST", "/openapi.json"),
]


@pytest.mark.parametrize(("method", "path"), WRONG_METHODS)
async def test_a_wrong_method_is_a_json_405(world: World, method: str, path: str) -> None:
    before = world.fingerprint(world.shop)
    response = await _call(
        world.stack,
        method,
        path.format(shop=world.shop),
        headers=world.stack.organiser_headers,
        json={},
    )
    expect_error(response, ErrorCode.METHOD_NOT_ALLOWED)
    await world.assert_unchanged(world.shop, before)


async def test_a_405_says_which_methods_are_allowed(world: World) -> None:
    response = await _call(world.stack, "GET", f"/api/events/{world.shop}/join")
    expect_error(response, ErrorCode.METHOD_NOT_ALLOWED)
    assert response.headers.get("allow") == "POST"


async def test_the_longest_allowed_ids_make_an_event(world: World) -> None:
    """Event and type ids of 40 characters each once overflowed the type id column (500)."""
    body = _event_body(id="e" * 40, ticket_types=[ticket_type(id="t" * 40)])
    async with _organiser(world.stack) as http:
        response = await http.post("/api/events", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["ticket_types"][0]["id"] == "e" * 40 + "." + "t" * 40


async def test_the_stripe_webhook_is_refused_where_stripe_is_not_set_up(
    live_stack: LiveStack,
) -> None:
    # The default stack pays locally: a Stripe event, signed or not, changes nothing.
    async with client(live_stack) as http:
        answer = await http.post(
            "/api/payments/stripe/webhook",
            content=b'{"id": "evt_1", "type": "payment_intent.succeeded"}',
            headers={"Stripe-Signature": "t=1,v1=00"},
        )
    expect_error(answer, ErrorCode.PAYMENTS_NOT_CONFIGURED)
