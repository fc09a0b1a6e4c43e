"""web/tickets.py and web/door.py on a live stack: the ticket page's data, its QR code, check-in.

Every check-in case asks "did anything change?" through the ticket API
afterwards: a refused call must leave the ticket as it was. Door tokens
(one event's doors only, revoked, forged) are tests/web/test_door_tokens.py's.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import segno

from fairdrop.errors import ErrorCode
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, client, expect_error, open_sale
from web.tickets import QR_ERROR_LEVEL

CHECK_IN = "/api/door/check-in"
# secrets.token_urlsafe(16): 128 random bits in 22 URL-safe characters.
UNGUESSABLE = re.compile(r"[A-Za-z0-9_-]{22,}")
# A well-formed code no ticket has.
NOBODYS_CODE = "A" * 22
SVG = "{http://www.w3.org/2000/svg}"


def new_door_token(stack: LiveStack, event_id: str, door: str | None = None) -> dict[str, Any]:
    """A door token the organiser makes for this event (and door): the API's answer."""
    body = {} if door is None else {"door": door}
    response = httpx.post(
        f"{stack.base_url}/api/events/{event_id}/door-tokens",
        json=body,
        headers=stack.organiser_headers,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def door_headers(stack: LiveStack, event_id: str, door: str | None = None) -> dict[str, str]:
    """Door staff of this event (at this door): a new door token as a bearer header."""
    return {"Authorization": f"Bearer {new_door_token(stack, event_id, door)['token']}"}


async def bought_codes(stack: LiveStack, crowd: Crowd, quantity: int = 1) -> list[str]:
    """Codes of tickets a fan has just paid for, on a new sale named "ticket night"."""
    event_id = open_sale(stack, name="ticket night")
    order = await crowd.fan(event_id).buy(quantity)
    return [ticket["code"] for ticket in order["tickets"]]


async def ticket(stack: LiveStack, code: str) -> dict[str, Any]:
    async with client(stack) as http:
        response = await http.get(f"/api/tickets/{code}")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def check_in(stack: LiveStack, body: Any, headers: dict[str, str] | None = None) -> Any:
    """POST /api/door/check-in, as the organiser (whose token works at every door) unless told."""
    async with client(stack, stack.organiser_headers if headers is None else headers) as http:
        return await http.post(CHECK_IN, json=body)


async def test_a_fan_who_paid_can_read_each_ticket_by_its_code(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack, name="ticket night")
    order = await crowd.fan(event_id).buy(2)
    codes = [t["code"] for t in order["tickets"]]
    assert len(set(codes)) == 2 and all(UNGUESSABLE.fullmatch(c) for c in codes), codes
    for code in codes:
        assert await ticket(live_stack, code) == {
            "code": code,
            "event_id": event_id,
            "event_name": "ticket night",
            "ticket_type_id": f"{event_id}.ga",
            "ticket_type": "GA",
            "order_id": order["order_id"],
            "order_status": "paid",
            "valid": True,
            "listed": False,
            "voided": False,
            "checked_in_at": None,
            "checked_in_by": None,
        }


def _dark_modules(svg: bytes) -> tuple[set[tuple[int, int]], int]:
    """(row, column) of every dark module segno drew, and the drawing's width in modules.

    segno draws each row's dark modules as horizontal "h" runs along one path.
    """
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("class") == "segno", root.attrib
    group = root.find(f"{SVG}g")
    assert group is not None
    scale = re.fullmatch(r"scale\((\d+)\)", group.get("transform", ""))
    assert scale is not None, group.attrib
    width = round(float(root.get("width", "0")) / int(scale[1]))
    [line] = [p for p in group.iter(f"{SVG}path") if p.get("class") == "qrline"]
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", line.get("d", "")):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark.update((int(y), int(x) + i) for i in range(int(a)))
            x += float(a)
    return dark, width


def _expected_modules(code: str, width: int) -> set[tuple[int, int]]:
    """segno's own matrix for ``code``, placed inside a quiet zone as wide on every side."""
    matrix = segno.make_qr(code, error=QR_ERROR_LEVEL).matrix
    border = (width - len(matrix)) // 2
    return {
        (r + border, c + border) for r, row in enumerate(matrix) for c, v in enumerate(row) if v
    }


async def test_the_qr_code_is_segnos_drawing_of_exactly_the_ticket_code(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    [code] = await bought_codes(live_stack, crowd)
    async with client(live_stack) as http:
        response = await http.get(f"/api/tickets/{code}/qr.svg")
        unknown = await http.get(f"/api/tickets/{NOBODYS_CODE}/qr.svg")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    drawn, width = _dark_modules(response.content)
    assert drawn == _expected_modules(code, width)
    # The comparison tells codes apart: a code one character off has other modules.
    other = code[:-1] + ("B" if code[-1] != "B" else "C")
    assert drawn != _expected_modules(other, width)
    # No QR codes of arbitrary strings: only of tickets.
    expect_error(unknown, ErrorCode.UNKNOWN_TICKET)


async def test_a_ticket_checks_in_once_then_says_when_and_where(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    [code] = await bought_codes(live_stack, crowd)
    event_id = (await ticket(live_stack, code))["event_id"]
    # A door token of the event that names no door: the page's door name is recorded.
    first = await check_in(
        live_stack, {"code": code, "door": "north"}, door_headers(live_stack, event_id)
    )
    assert first.status_code == 200, first.text
    valid = first.json()
    assert (valid["result"], valid["code"], valid["checked_in_by"]) == ("valid", code, "north")
    assert (valid["event_name"], valid["ticket_type"]) == ("ticket night", "GA")
    # Later, at another door, with the organiser's token (it works at doors too).
    again = await check_in(live_stack, {"code": code, "door": "south"})
    assert again.status_code == 200, again.text
    used = again.json()
    assert used["result"] == "already_used"
    assert (used["checked_in_at"], used["checked_in_by"]) == (valid["checked_in_at"], "north")
    seen = await ticket(live_stack, code)
    assert (seen["checked_in_at"], seen["checked_in_by"]) == (valid["checked_in_at"], "north")


async def test_twenty_doors_scanning_one_ticket_at_once_let_it_in_once(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    [code] = await bought_codes(live_stack, crowd)
    event_id = (await ticket(live_stack, code))["event_id"]
    async with client(live_stack, door_headers(live_stack, event_id)) as http:
        answers = await asyncio.gather(
            *(http.post(CHECK_IN, json={"code": code, "door": f"door-{i}"}) for i in range(20))
        )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    results = [a.json() for a in answers]
    [winner] = [r for r in results if r["result"] == "valid"]
    losers = [r for r in results if r["result"] != "valid"]
    assert len(losers) == 19 and {r["result"] for r in losers} == {"already_used"}
    # Every door that lost names the one door that won, and its moment.
    assert {(r["checked_in_by"], r["checked_in_at"]) for r in losers} == {
        (winner["checked_in_by"], winner["checked_in_at"])
    }
    seen = await ticket(live_stack, code)
    assert seen["checked_in_by"] == winner["checked_in_by"]


async def test_unknown_and_malformed_codes_are_refused(live_stack: LiveStack) -> None:
    answer = await check_in(live_stack, {"code": NOBODYS_CODE, "door": "north"})
    expect_error(answer, ErrorCode.UNKNOWN_TICKET)
    async with client(live_stack) as http:
        expect_error(await http.get(f"/api/tickets/{NOBODYS_CODE}"), ErrorCode.UNKNOWN_TICKET)
        for malformed in ("short", "A" * 65, "has%20space" + "A" * 16, "dots." + "A" * 20):
            response = await http.get(f"/api/tickets/{malformed}")
            expect_error(response, ErrorCode.INVALID_FIELD)


async def test_bad_check_in_bodies_change_nothing(live_stack: LiveStack, crowd: Crowd) -> None:
    [code] = await bought_codes(live_stack, crowd)
    invalid: list[Any] = [
        {"code": code},
        {"door": "north"},
        {"code": code, "door": ""},
        {"code": code, "door": "   "},
        {"code": code, "door": "x" * 65},
        {"code": code, "door": "north\x00"},
        {"code": code, "door": 7},
        {"code": [code], "door": "north"},
        {"code": 12345678901234567890, "door": "north"},
        {"code": code + "\n", "door": "north"},
        {"code": "not a code!", "door": "north"},
        [code, "north"],
        "north",
    ]
    for body in invalid:
        expect_error(await check_in(live_stack, body), ErrorCode.INVALID_FIELD)
    event_id = (await ticket(live_stack, code))["event_id"]
    async with client(live_stack, door_headers(live_stack, event_id)) as http:
        for raw in (b"{", b"\xff", b"[" * 10_000):
            response = await http.post(
                CHECK_IN, content=raw, headers={"Content-Type": "application/json"}
            )
            expect_error(response, ErrorCode.MALFORMED_JSON)
        huge = {"code": code, "door": "north", "padding": "x" * 20_000}
        expect_error(await http.post(CHECK_IN, json=huge), ErrorCode.BODY_TOO_LARGE)
        expect_error(await http.get(CHECK_IN), ErrorCode.METHOD_NOT_ALLOWED)
    assert (await ticket(live_stack, code))["checked_in_at"] is None
