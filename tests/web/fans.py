"""Fans of a live stack as the web tests drive them: HTTP calls, sockets, waiting.

A :class:`Fan` is launch/fan_client.py's client with the tests' own waits and
checks. It holds only strings (event id, cookie), so it can be made in one
event loop and used in another; each call opens its own short-lived client.
Every wait here is bounded: a test that waits for something that never comes
fails with what it saw instead of hanging.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from fairdrop.errors import STATUS_FOR, ErrorCode
from fairdrop.protocol import SERVER_MESSAGES, Item
from launch.fan_client import (
    TLS,
    WAIT_S,
    FanClient,
    Items,
    Message,
    Socket,
    is_admitted,
    is_message,
    is_status,
)
from tests.live_stack import DEFAULT_TICKET_TYPE, LiveStack

__all__ = ["TLS", "WAIT_S", "Message", "Socket", "is_admitted", "is_message", "is_status"]

POLL_S = 0.05


def open_sale(stack: LiveStack, **overrides: Any) -> str:
    """A sale whose window has closed: fans who join now are queued in arrival order."""
    now = datetime.now(UTC)
    times = {
        "opens_at": (now - timedelta(seconds=2)).isoformat(),
        "drop_at": (now - timedelta(seconds=1)).isoformat(),
    }
    event_id: str = stack.create_event(**{**times, **overrides})["id"]
    return event_id


def ticket_type(**changes: Any) -> dict[str, Any]:
    """A ticket type for ``create_event``'s body: its default one, with changes."""
    return {**DEFAULT_TICKET_TYPE, **changes}


def ga(event_id: str) -> str:
    """The id of the one ticket type ``create_event`` makes."""
    return f"{event_id}.ga"


def in_protocol(message: Message) -> bool:
    """The message is one fairdrop/protocol.py says the server sends: a known kind,
    every field it must have, none it does not know, and a known error code."""
    shape = SERVER_MESSAGES.get(str(message.get("t")))
    if shape is None:
        return False
    required: frozenset[str] = shape.__required_keys__  # type: ignore[attr-defined]
    optional: frozenset[str] = shape.__optional_keys__  # type: ignore[attr-defined]
    code = message.get("code")
    return required <= set(message) <= required | optional and (
        code is None or code in set(ErrorCode)
    )


def expect_error(response: httpx.Response, code: ErrorCode) -> dict[str, str]:
    """The response is the documented 4xx JSON refusal with this code."""
    assert response.status_code == STATUS_FOR[code], (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, str] = body["error"]
    assert set(error) == {"code", "message"}, body
    assert error["code"] == code.value, body
    assert isinstance(error["message"], str) and error["message"], body
    return error


def client(stack: LiveStack, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.base_url, headers=headers, timeout=WAIT_S, verify=TLS)


def stats(stack: LiveStack, event_id: str) -> Message:
    response = httpx.get(
        f"{stack.base_url}/api/events/{event_id}/stats",
        headers=stack.organiser_headers,
        timeout=WAIT_S,
        verify=TLS,
    )
    assert response.status_code == 200, response.text
    figures: Message = response.json()
    return figures


def event_ids(stack: LiveStack) -> list[str]:
    response = httpx.get(
        f"{stack.base_url}/api/events", headers=stack.organiser_headers, timeout=WAIT_S, verify=TLS
    )
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()["events"]]


class Fan(FanClient):
    """One fan of one event: a cookie (once joined) and the calls a page makes."""

    def __init__(self, stack: LiveStack, event_id: str, cookie: str = "") -> None:
        super().__init__(stack.base_url, event_id, cookie, timeout=WAIT_S)
        self.stack = stack
        self.sockets: list[Socket] = []

    async def join(self) -> Message:
        """Joins, solving the sale's proof of work when the server asks for it; the entry."""
        response = await self.post_join_proving()
        assert response.status_code == 200, response.text
        entry: Message = response.json()
        return entry

    async def admission_token(self, timeout: float = WAIT_S) -> str:
        """Joins, then asks again until the fan is let in; the admission token."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        entry: Message = {}
        while loop.time() < deadline:
            entry = await self.join()
            if entry["admission"]:
                token: str = entry["admission"]["token"]
                return token
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"not admitted within {timeout}s: {entry}")

    async def open_socket(self, **kwargs: Any) -> Socket:
        socket = await super().open_socket(**kwargs)
        self.sockets.append(socket)
        return socket

    async def ask_for(
        self, token: str, items: Items | None = None, discount_code: str = ""
    ) -> httpx.Response:
        """POST a purchase request (one ticket of the event's type unless told)."""
        items = [{"type": ga(self.event_id), "quantity": 1}] if items is None else items
        return await super().ask_for(token, items, discount_code)

    async def answer_to(self, request_id: str, timeout: float = WAIT_S) -> Message:
        """Polls a purchase request until the worker has answered it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            response = await self.purchase_answer(request_id)
            assert response.status_code == 200, response.text
            answer: Message = response.json()
            if answer.get("status") != "pending":
                return answer
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"request {request_id} still pending after {timeout}s")

    async def hold(self, quantity: int = 1) -> str:
        """Waits for admission and holds tickets; the hold id."""
        items: list[Item] = [{"type": ga(self.event_id), "quantity": quantity}]
        asked = await self.ask_for(await self.admission_token(), items)
        assert asked.status_code == 202, asked.text
        answer = await self.answer_to(asked.json()["request_id"])
        assert answer["ok"], answer
        hold_id: str = answer["hold"]["id"]
        return hold_id

    async def buy(self, quantity: int = 1) -> Message:
        """Waits for admission, holds and pays; the order the worker sends (with ticket codes)."""
        await self.join()
        socket = await self.open_socket()
        hold_id = await self.hold(quantity)
        paid = await self.pay(hold_id)
        assert paid.status_code == 202, paid.text
        order = await socket.next(is_message("order"))
        assert order["ok"] is True, order
        return order

    async def close(self) -> None:
        for socket in self.sockets:
            await socket.close()


async def admitted_fans(stack: LiveStack, event_id: str, count: int) -> list[tuple[Fan, str]]:
    """``count`` fans who joined in this order and have been let in, with their tokens."""
    fans = [Fan(stack, event_id) for _ in range(count)]
    for fan in fans:
        await fan.join()
    return [(fan, await fan.admission_token()) for fan in fans]


class Crowd:
    """Makes fans for one test and closes all their sockets at the end."""

    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack
        self.fans: list[Fan] = []

    def fan(self, event_id: str, cookie: str = "") -> Fan:
        fan = Fan(self.stack, event_id, cookie)
        self.fans.append(fan)
        return fan

    async def joined(self, event_id: str, count: int) -> list[Fan]:
        """``count`` new fans who have joined, one after the other (in this order)."""
        fans = [self.fan(event_id) for _ in range(count)]
        for fan in fans:
            await fan.join()
        return fans

    async def close(self) -> None:
        for fan in self.fans:
            await fan.close()
