"""Fans of a live stack as the web tests drive them: HTTP calls, sockets, waiting.

A :class:`Fan` holds only strings (event id, cookie), so it can be made in one
event loop and used in another; each call opens its own short-lived client.
Every wait here is bounded: a test that waits for something that never comes
fails with what it saw instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from fairdrop.errors import STATUS_FOR, ErrorCode
from fairdrop.tokens import FAN_COOKIE
from tests.live_stack import DEFAULT_TICKET_TYPE, LiveStack
from web.proof_of_work import solve

Message = dict[str, Any]

WAIT_S = 5.0
POLL_S = 0.05
# Made once: httpx otherwise builds a TLS context for every client (~35 ms of
# CPU each), which would dominate these tests' time; every URL here is http.
TLS = ssl.create_default_context()

STATUS_FIELDS = frozenset(
    {
        "t",
        "state",
        "number",
        "ahead",
        "wait_s",
        "admission",
        "hold_id",
        "event_state",
        "serving",
        "remaining",
        "remaining_total",
        "tickets_may_return",
        "paused",
        "opens_at",
        "drop_at",
    }
)


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


def is_message(kind: str, **fields: Any) -> Callable[[Message], bool]:
    """Matches messages of this kind (``t``) whose fields have these values."""
    return lambda m: m.get("t") == kind and all(m.get(k) == v for k, v in fields.items())


def is_status(**fields: Any) -> Callable[[Message], bool]:
    return is_message("status", **fields)


def is_admitted(message: Message) -> bool:
    return message.get("t") == "status" and message.get("admission") is not None


class Socket:
    """One open fan socket and every message it has received."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.seen: list[Message] = []

    async def send(self, text: str) -> None:
        await self.connection.send(text)

    async def next(
        self, matching: Callable[[Message], bool] = lambda m: True, timeout: float = WAIT_S
    ) -> Message:
        """The next message that matches, skipping others; fails after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                raw = await asyncio.wait_for(self.connection.recv(), left)
            except TimeoutError:
                break
            message: Message = json.loads(raw)
            self.seen.append(message)
            if matching(message):
                return message
        raise AssertionError(f"no matching message in {timeout}s; last seen: {self.seen[-3:]}")

    async def close_code(self, timeout: float = WAIT_S) -> int | None:
        """Reads until the server closes the socket; the close code it sent."""
        try:
            await self.next(lambda m: False, timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        raise AssertionError("unreachable: next() returns only a match, and nothing matches")

    async def close(self) -> None:
        await self.connection.close()


class Fan:
    """One fan of one event: a cookie (once joined) and the calls a page makes."""

    def __init__(self, stack: LiveStack, event_id: str, cookie: str = "") -> None:
        self.stack = stack
        self.event_id = event_id
        self.cookie = cookie
        self.sockets: list[Socket] = []

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{FAN_COOKIE}={self.cookie}"} if self.cookie else {}

    def path(self, tail: str = "") -> str:
        return f"/api/events/{self.event_id}{tail}"

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP call as this fan (its cookie, nobody else's)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with client(self.stack) as http:
            return await http.request(method, path, headers=headers, **kwargs)

    async def solution(self) -> str | None:
        """A solved proof-of-work challenge for this fan's next join; None when none is needed."""
        response = await self.request("GET", self.path("/challenge"))
        assert response.status_code == 200, response.text
        challenge: Message = response.json()
        return solve(challenge) if challenge["required"] else None

    async def join(self) -> Message:
        """Joins, solving the sale's proof of work when the server asks for it."""
        response = await self.request("POST", self.path("/join"))
        if response.status_code == STATUS_FOR[ErrorCode.PROOF_OF_WORK_REQUIRED]:
            body = {"altcha": await self.solution()}
            response = await self.request("POST", self.path("/join"), json=body)
        assert response.status_code == 200, response.text
        self.cookie = self.cookie or response.cookies[FAN_COOKIE]
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
        url = self.stack.base_url.replace("http", "ws", 1) + f"/ws/events/{self.event_id}"
        headers = {**self.headers, **kwargs.pop("additional_headers", {})}
        connection = await connect(url, additional_headers=headers, proxy=None, **kwargs)
        socket = Socket(connection)
        self.sockets.append(socket)
        return socket

    async def ask_for(self, token: str, items: list[Message] | None = None) -> httpx.Response:
        """POST a purchase request (one ticket of the event's type unless told)."""
        items = [{"type": ga(self.event_id), "quantity": 1}] if items is None else items
        body = {"admission_token": token, "items": items}
        return await self.request("POST", self.path("/purchases"), json=body)

    async def answer_to(self, request_id: str, timeout: float = WAIT_S) -> Message:
        """Polls a purchase request until the worker has answered it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            response = await self.request("GET", self.path(f"/purchases/{request_id}"))
            assert response.status_code == 200, response.text
            answer: Message = response.json()
            if answer.get("status") != "pending":
                return answer
            await asyncio.sleep(POLL_S)
        raise AssertionError(f"request {request_id} still pending after {timeout}s")

    async def hold(self, quantity: int = 1) -> str:
        """Waits for admission and holds tickets; the hold id."""
        items = [{"type": ga(self.event_id), "quantity": quantity}]
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
        paid = await self.request("POST", self.path(f"/holds/{hold_id}/pay"))
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
