"""fairdrop/protocol.py is the one home of the socket's names, and the code keeps to it:
every code a script sends is an ErrorCode, every code has an HTTP status or is the
worker's own, the page's JavaScript spells the same names, and launch/fan_client.py's
FanPage does what a page does with each message."""

from __future__ import annotations

import re
from pathlib import Path

from fairdrop.errors import HTTP_CODES, STATUS_FOR, WORKER_ONLY, ErrorCode
from fairdrop.protocol import PAGE_MESSAGES, SERVER_MESSAGES, FanState, MessageType
from launch.fan_client import FanPage, Step

ROOT = Path(__file__).resolve().parents[2]
# A Lua script's refusal: refuse('code', ...), return nil, 'code', ... or code = 'code'.
LUA_CODE = re.compile(r"(?:refuse\(|return nil, |code = )'([a-z_]+)'")


def test_every_code_has_an_http_status_or_is_the_workers_own() -> None:
    assert set(STATUS_FOR).isdisjoint(WORKER_ONLY)
    assert set(STATUS_FOR) | WORKER_ONLY == set(ErrorCode)
    assert set(HTTP_CODES) == set(STATUS_FOR)


def test_every_code_the_scripts_send_is_an_error_code() -> None:
    scripts = [
        p for d in ("queue_engine", "buffer", "purchase", "web") for p in (ROOT / d).rglob("*.lua")
    ]
    codes = {code for path in scripts for code in LUA_CODE.findall(path.read_text())}
    assert {"no_stock", "hold_ended", "not_enough_stock", "hold_not_sold"} <= codes
    assert codes - {c.value for c in ErrorCode} == set()


def test_every_kind_of_message_has_its_shape() -> None:
    assert set(SERVER_MESSAGES) | set(PAGE_MESSAGES) == set(MessageType)
    assert set(SERVER_MESSAGES).isdisjoint(PAGE_MESSAGES)


def test_the_page_spells_the_same_names() -> None:
    """static/ cannot import Python: the names it handles are quoted in its scripts."""
    scripts = "\n".join(p.read_text() for p in (ROOT / "static").rglob("*.js"))
    quoted = set(re.findall(r'"([a-z_]+)"', scripts))
    handled = set(SERVER_MESSAGES) - {MessageType.HOLD_QUEUED} | {MessageType.PING}
    assert {str(kind) for kind in handled} - quoted == set()
    assert {state.value for state in FanState} - quoted == set()


def _status(state: str, number: int = 3, **fields: object) -> dict[str, object]:
    return {"t": "status", "state": state, "number": number, "admission": None, **fields}


def test_a_page_asks_once_when_let_in_pays_its_hold_and_ends_with_its_order() -> None:
    page = FanPage(want=2)
    assert page.read(_status("queued")) is Step.WAIT and page.number == 3
    assert page.read({"t": "progress", "serving": 2}) is Step.WAIT
    admitted = _status("admitted", admission={"token": "tok", "deadline_ms": 9})
    assert page.read(admitted) is Step.ASK
    assert page.admission == {"token": "tok", "deadline_ms": 9}
    assert page.read(admitted) is Step.WAIT  # asked already
    held = {"t": "hold_result", "ok": True, "hold": {"id": "h1", "expires_at": 5}}
    assert page.read(held) is Step.PAY and (page.hold_id, page.hold_expires_ms) == ("h1", 5)
    pending = {"t": "payment", "ok": True, "pending": True, "client_secret": "s"}
    assert page.read(pending) is Step.CONFIRM
    assert page.read(pending) is Step.WAIT  # confirmed once
    order = {"t": "order", "ok": True, "tickets": [{}, {}], "late": True}
    assert page.read(order) is Step.FINISHED
    assert (page.final, page.tickets, page.late) == ("done", 2, True)


def test_a_page_takes_one_when_fewer_are_left_and_stops_when_refused() -> None:
    page = FanPage(want=2)
    admitted = _status("admitted", admission={"token": "tok", "deadline_ms": 9})
    assert page.read(admitted) is Step.ASK
    fewer = {"t": "hold_result", "ok": False, "code": "not_enough_stock"}
    assert page.read(fewer) is Step.WAIT and page.want == 1
    assert page.read(admitted) is Step.ASK  # again, for one
    assert page.read({**fewer, "code": "sold_out"}) is Step.FINISHED
    assert page.final == "sold_out"


def test_a_page_that_asked_for_nothing_leaves_with_the_queue() -> None:
    assert FanPage().read(_status("turn_over")) is Step.FINISHED
    page = FanPage()
    assert page.read({"t": "error", "code": "too_many_messages"}) is Step.FINISHED
    assert page.final == "too_many_messages"
    refunded = {"t": "order", "ok": False, "code": "refunded"}
    assert FanPage().read(refunded) is Step.FINISHED
