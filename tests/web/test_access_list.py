"""The organiser's list on a live stack (web/access_list.py, join.lua, hold.lua).

A ``list`` sale lets in only the people the organiser imported: by email
(signed in with it) or by organiser-issued id (signed in by their personal
link). One person is one entrant on any number of devices; the allowance caps
what they buy in all; a corrected list changes allowances and keeps what was
bought. Every malformed list is refused whole and changes nothing.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from fairdrop.errors import ErrorCode
from fairdrop.identity import email_identity
from fairdrop.tokens import FAN_COOKIE, Signer
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, client, expect_error, ga, open_sale, ticket_type

CSV = {"Content-Type": "text/csv"}


def _list_sale(stack: LiveStack, per_person_limit: int = 4) -> str:
    return open_sale(
        stack, access="list", ticket_types=[ticket_type(per_person_limit=per_person_limit)]
    )


async def _import(
    stack: LiveStack, event_id: str, text: str | bytes, mode: str = "", **kwargs: Any
) -> httpx.Response:
    headers = {**stack.organiser_headers, **CSV, **kwargs.pop("headers", {})}
    query = f"?mode={mode}" if mode else ""
    content = text.encode() if isinstance(text, str) else text
    async with client(stack, headers) as http:
        return await http.post(
            f"/api/events/{event_id}/access-list{query}", content=content, **kwargs
        )


async def _listed(stack: LiveStack, event_id: str) -> list[dict[str, str]]:
    async with client(stack, stack.organiser_headers) as http:
        response = await http.get(f"/api/events/{event_id}/access-list.csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


async def _open_link(stack: LiveStack, link: str) -> str:
    """Opens a personal link like a browser; the session cookie it sets."""
    async with client(stack) as http:
        response = await http.get(link.removeprefix(stack.base_url))
    assert response.status_code == 303, response.text
    cookie: str = response.cookies[FAN_COOKIE]
    return cookie


def _link_for(rows: list[dict[str, str]], member_id: str) -> str:
    [row] = [r for r in rows if r["id"] == member_id]
    return row["personal_link"]


def _signed_in_as(stack: LiveStack, address: str) -> str:
    """A session cookie for an address, as the email sign-in would set it (the
    sign-in itself is tests/web/test_email_sign_in.py's)."""
    signer = Signer(stack.settings.secret_key)
    return signer.sign_session(signer.new_session(email_identity(address), 3600))


async def test_only_the_people_on_the_list_enter_one_place_each(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = _list_sale(live_stack)
    listing = "\ufeffemail,id,allowance\r\nAnna.B@Gmail.com,,2\r\n,EMP-7,1\r\n\r\n"
    answer = await _import(live_stack, event_id, listing)
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"event_id": event_id} == {
        "event_id": event_id,
        "added": 2,
        "updated": 0,
        "removed": 0,
        "total": 2,
        "emails": 1,
        "ids": 1,
    }
    rows = await _listed(live_stack, event_id)
    assert [(r["email"], r["id"], r["allowance"]) for r in rows] == [
        ("annab@gmail.com", "", "2"),
        ("", "EMP-7", "1"),
    ]

    # A browser nobody signed in: refused before it gets a place.
    stranger = crowd.fan(event_id)
    expect_error(await stranger.request("POST", stranger.path("/join")), ErrorCode.SIGN_IN_REQUIRED)
    # Signed in, but with an address that is not on the list.
    outsider = crowd.fan(event_id, _signed_in_as(live_stack, "someone@example.com"))
    expect_error(await outsider.request("POST", outsider.path("/join")), ErrorCode.NOT_ON_LIST)

    # The same person on two devices (two spellings of one gmail box) is one entrant.
    phone = await crowd.fan(event_id, _signed_in_as(live_stack, "anna.b+tickets@gmail.com")).join()
    laptop = await crowd.fan(event_id, _signed_in_as(live_stack, "ANNAB@googlemail.com")).join()
    assert phone["entrant_id"] == laptop["entrant_id"]
    assert phone["number"] == laptop["number"] > 0

    # The personal link signs its holder in as the id, on any device, to one place.
    link = _link_for(rows, "EMP-7")
    first = await crowd.fan(event_id, await _open_link(live_stack, link)).join()
    second = await crowd.fan(event_id, await _open_link(live_stack, link)).join()
    assert first["entrant_id"] == second["entrant_id"] != phone["entrant_id"]
    assert first["number"] == second["number"] != phone["number"]


async def test_a_personal_link_of_another_event_or_forged_lets_nobody_in(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    ours, theirs = _list_sale(live_stack), _list_sale(live_stack)
    for event_id in (ours, theirs):
        assert (await _import(live_stack, event_id, "id\nEMP-1\n")).status_code == 200
    their_link = _link_for(await _listed(live_stack, theirs), "EMP-1")
    cookie = await _open_link(live_stack, their_link)
    # EMP-1 of the other event is nobody here, although an EMP-1 is on our list too.
    visitor = crowd.fan(ours, cookie)
    expect_error(await visitor.request("POST", visitor.path("/join")), ErrorCode.SIGN_IN_REQUIRED)

    forged = Signer("not-the-key").sign_pass(ours, "EMP-1")
    async with client(live_stack) as http:
        response = await http.get(f"/sign-in/pass/{forged}")
        tampered = await http.get(f"/sign-in/pass/{their_link.rsplit('/', 1)[1]}x")
    for refused in (response, tampered):
        expect_error(refused, ErrorCode.INVALID_LINK)
        assert FAN_COOKIE not in refused.cookies


async def test_the_allowance_caps_a_fan_and_a_corrected_list_keeps_what_was_bought(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = _list_sale(live_stack)
    assert (await _import(live_stack, event_id, "id,allowance\nA1,1\nB2,1\n")).status_code == 200
    rows = await _listed(live_stack, event_id)
    b2 = crowd.fan(event_id, await _open_link(live_stack, _link_for(rows, "B2")))
    assert len((await b2.buy(1))["tickets"]) == 1

    a1 = crowd.fan(event_id, await _open_link(live_stack, _link_for(rows, "A1")))
    await a1.join()
    token = await a1.admission_token()
    two = [{"type": ga(event_id), "quantity": 2}]
    asked = await a1.ask_for(token, two)
    refused = await a1.answer_to(asked.json()["request_id"])
    assert (refused["ok"], refused["code"]) == (False, "limit_exceeded")

    # Corrected: A1 may have 3 now, B2 is off the list, C3 is new.
    corrected = await _import(live_stack, event_id, "id,allowance\nA1,3\nC3,1\n")
    assert corrected.json() | {"event_id": ""} == {
        "event_id": "",
        "added": 1,
        "updated": 1,
        "removed": 1,
        "total": 2,
        "emails": 0,
        "ids": 2,
    }
    held = await a1.answer_to((await a1.ask_for(token, two)).json()["request_id"])
    assert held["ok"], held
    # B2 cannot come back, but the ticket B2 bought stands.
    expect_error(await b2.request("POST", b2.path("/join")), ErrorCode.NOT_ON_LIST)
    async with client(live_stack, live_stack.organiser_headers) as http:
        orders = (await http.get(f"/api/events/{event_id}/orders")).json()["orders"]
    assert [order["status"] for order in orders] == ["paid"]


def _many(rows: int) -> str:
    return "id\n" + "".join(f"P{i}\n" for i in range(rows))


BAD_LISTS: dict[str, tuple[bytes | str, ErrorCode]] = {
    "empty": ("", ErrorCode.INVALID_FIELD),
    "only a header": ("email,allowance\n", ErrorCode.INVALID_FIELD),
    "unknown column": ("email,name\na@example.com,Anna\n", ErrorCode.INVALID_FIELD),
    "no email or id column": ("allowance\n2\n", ErrorCode.INVALID_FIELD),
    "column twice": ("email,email\na@example.com,b@example.com\n", ErrorCode.INVALID_FIELD),
    "short row": ("email,allowance\na@example.com\n", ErrorCode.INVALID_FIELD),
    "both email and id": ("email,id\na@example.com,E1\n", ErrorCode.INVALID_FIELD),
    "neither": ("email,id,allowance\n,,2\n", ErrorCode.INVALID_FIELD),
    "not an address": ("email\nnot-an-address\n", ErrorCode.INVALID_FIELD),
    "formula as id": ('id\n=HYPERLINK("http://evil")\n', ErrorCode.INVALID_FIELD),
    "allowance zero": ("id,allowance\nE1,0\n", ErrorCode.INVALID_FIELD),
    "allowance huge": ("id,allowance\nE1,1000\n", ErrorCode.INVALID_FIELD),
    "allowance text": ("id,allowance\nE1,two\n", ErrorCode.INVALID_FIELD),
    "duplicate id": ("id\nE1\nE2\nE1\n", ErrorCode.INVALID_FIELD),
    "duplicate after normalising": (
        "email\nann.a@gmail.com\nANNA+x@gmail.com\n",
        ErrorCode.INVALID_FIELD,
    ),
    "not utf-8": (b"email\n\xff\xfe@example.com\n", ErrorCode.INVALID_FIELD),
    "nul in a cell": ("id\nE\x001\n", ErrorCode.INVALID_FIELD),
    "100k rows": (_many(100_000), ErrorCode.BODY_TOO_LARGE),
    "50,001 rows": (_many(50_001), ErrorCode.INVALID_FIELD),
}


@pytest.mark.parametrize("case", list(BAD_LISTS))
async def test_a_malformed_list_is_refused_whole_and_changes_nothing(
    live_stack: LiveStack, case: str
) -> None:
    event_id = _list_sale(live_stack)
    assert (await _import(live_stack, event_id, "id\nKEPT\n")).status_code == 200
    before = await _listed(live_stack, event_id)
    body, code = BAD_LISTS[case]
    if code is ErrorCode.BODY_TOO_LARGE and len(body) <= 5 * 1024 * 1024:
        code = ErrorCode.INVALID_FIELD  # under the byte limit: the row limit refuses it
    expect_error(await _import(live_stack, event_id, body), code)
    assert await _listed(live_stack, event_id) == before


async def test_who_may_import_and_how(live_stack: LiveStack) -> None:
    event_id = _list_sale(live_stack)
    good = "id\nE1\n"
    expect_error(
        await _import(live_stack, event_id, good, headers={"Content-Type": "text/plain"}),
        ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    )
    expect_error(await _import(live_stack, event_id, good, mode="merge"), ErrorCode.INVALID_FIELD)
    expect_error(await _import(live_stack, "no-such-event", good), ErrorCode.UNKNOWN_EVENT)
    async with client(live_stack, CSV) as http:
        anonymous = await http.post(f"/api/events/{event_id}/access-list", content=good)
    expect_error(anonymous, ErrorCode.UNAUTHORIZED)
    wrong = await _import(live_stack, event_id, good, headers={"Authorization": "Bearer nope"})
    expect_error(wrong, ErrorCode.FORBIDDEN)
    assert await _listed(live_stack, event_id) == []
    # add keeps who is there; replace (the default) is the whole list.
    await _import(live_stack, event_id, good)
    await _import(live_stack, event_id, "id\nE2\n", mode="add")
    assert [r["id"] for r in await _listed(live_stack, event_id)] == ["E1", "E2"]


async def test_an_address_a_spreadsheet_would_run_is_escaped_in_the_download(
    live_stack: LiveStack,
) -> None:
    # Valid addresses (RFC 5322 allows = + - in the local part) that a
    # spreadsheet would take for formulas.
    addresses = ["=1+2@example.com", "+1-2@example.com", "-2+3@example.com"]
    event_id = _list_sale(live_stack)
    answer = await _import(live_stack, event_id, "email\n" + "\n".join(addresses) + "\n")
    assert answer.status_code == 200, answer.text
    cells = sorted(row["email"] for row in await _listed(live_stack, event_id))
    assert cells == sorted("'" + address for address in addresses)


async def test_the_access_policy_changes_until_the_window_opens(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    later = live_stack.create_event(opens_at="2099-01-01T00:00:00Z", drop_at="2099-01-01T00:10:00Z")
    assert later["access"] == "open"
    async with client(live_stack, live_stack.organiser_headers) as http:
        path = f"/api/events/{later['id']}/access"
        changed = await http.post(path, json={"access": "list"})
        assert changed.status_code == 200, changed.text
        assert changed.json()["access"] == "list"
        expect_error(await http.post(path, json={"access": "members"}), ErrorCode.INVALID_FIELD)
        public = await http.get(f"/api/events/{later['id']}")
        assert public.json()["access"] == "list"
        # Open now: fixed from here on, and an anonymous browser gets in.
        running = open_sale(live_stack)
        expect_error(
            await http.post(f"/api/events/{running}/access", json={"access": "list"}),
            ErrorCode.WINDOW_OPEN,
        )
        assert (await http.get(f"/api/events/{running}")).json()["access"] == "open"
    fan = crowd.fan(running)
    assert (await fan.join())["number"] > 0
