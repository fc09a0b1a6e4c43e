"""A fan's client: the calls a fan's page makes, for everything in Python that plays a fan.

The demo's fans (launch/demo_fans.py) and its scalper's (launch/demo_bots.py),
the web tests' fans (tests/web/fans.py) and the load tests' (loadtests/
fan_user.py under locust, loadtests/hold_clients.py, loadtests/ws_clients.py)
all speak to the server through this module, in two layers:

- without I/O, for any client (locust's gevent one too): the paths and bodies
  of the HTTP calls, the socket's URL and texts, the proof of work solved,
  messages matched, and :class:`FanPage`, what a fan's page does on each
  message (ask for tickets once admitted, pay for a hold, stop);
- on asyncio: :class:`FanClient` (httpx: the challenge, a join with or
  without a proof, purchases, paying, letting go) and :class:`Socket`
  (websockets: sending, the next matching message, the close code).

The messages are fairdrop/protocol.py's. Nothing here imports Redis: the
locust processes import this module after locust itself.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from enum import Enum, auto
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK

from fairdrop.errors import STATUS_FOR, ErrorCode
from fairdrop.protocol import STATUS_FIELD, FanState, Item, MessageType, SignedAdmission
from fairdrop.tokens import FAN_COOKIE
from launch.fan_proof import solution_for

Message = dict[str, Any]
# A purchase's items: fairdrop.protocol's Item, or anything a test sends instead.
Items = Sequence[Mapping[str, object]]

# Made once: httpx otherwise builds a TLS context for every client (~35 ms of
# CPU each), which would dominate a crowd's CPU; the servers here are http.
TLS = ssl.create_default_context()
WAIT_S = 5.0
# States after which a page that asked for nothing has nothing left to do.
LEFT_QUEUE = frozenset({FanState.SOLD_OUT, FanState.TURN_OVER, FanState.DONE})


# --- without I/O ----------------------------------------------------------------


def event_path(event_id: str, tail: str = "") -> str:
    """``/api/events/{event_id}`` and ``tail``: ``/join``, ``/challenge``, ``/purchases``, ..."""
    return f"/api/events/{event_id}{tail}"


def pay_path(event_id: str, hold_id: str) -> str:
    return event_path(event_id, f"/holds/{hold_id}/pay")


def release_path(event_id: str, hold_id: str) -> str:
    return event_path(event_id, f"/holds/{hold_id}/release")


def socket_url(base_url: str, event_id: str) -> str:
    return base_url.rstrip("/").replace("http", "ws", 1) + f"/ws/events/{event_id}"


def cookie_header(cookie: str) -> dict[str, str]:
    """The header that says which fan this is; none for a browser without a session."""
    return {"Cookie": f"{FAN_COOKIE}={cookie}"} if cookie else {}


def items_of(type_id: str, quantity: int = 1) -> list[Item]:
    return [{"type": type_id, "quantity": quantity}]


def purchase_body(token: str, items: Items, discount_code: str = "") -> dict[str, Any]:
    """``POST /purchases``'s body; the socket's ``hold`` message carries the same."""
    body: dict[str, Any] = {"admission_token": token, "items": list(items)}
    if discount_code:
        body["discount_code"] = discount_code
    return body


def hold_text(token: str, items: Items) -> str:
    """The socket's ``hold`` message (a HoldMessage)."""
    return json.dumps({"t": MessageType.HOLD, **purchase_body(token, items)})


def join_body(altcha: str | None) -> dict[str, str] | None:
    """A join's body: the solved proof of work, or nothing."""
    return {"altcha": altcha} if altcha else None


def is_message(kind: MessageType | str, **fields: Any) -> Callable[[Message], bool]:
    """Matches messages of this kind (``t``) whose fields have these values."""
    return lambda m: m.get("t") == kind and all(m.get(k) == v for k, v in fields.items())


def is_status(**fields: Any) -> Callable[[Message], bool]:
    return is_message(MessageType.STATUS, **fields)


def is_admitted(message: Message) -> bool:
    return message.get("t") == MessageType.STATUS and message.get("admission") is not None


class Step(Enum):
    """What a page does after a message (:meth:`FanPage.read`)."""

    WAIT = auto()  # nothing: read on
    ASK = auto()  # admitted: ask for ``want`` tickets with ``admission``
    PAY = auto()  # holding: pay for ``hold_id``
    CONFIRM = auto()  # the provider's payment is pending: confirm it (Stripe.js's part)
    FINISHED = auto()  # nothing more will come for this fan: ``final`` says why


class FanPage:
    """What a fan's page does on each message, without I/O.

    Asks for ``want`` tickets once let in, and for one when fewer than that
    are left; pays for the hold it gets; is finished when it has its order,
    is refused, or leaves the queue (sold out, its turn over) without having
    asked. Each client makes the calls its own way and keeps its own figures.
    """

    def __init__(self, want: int = 1) -> None:
        self.want = want
        self.number = 0
        self.asked = False
        self.admission: SignedAdmission | None = None
        self.hold_id = ""
        self.hold_expires_ms = 0
        self.confirming = False
        self.tickets = 0
        self.late = False
        # Why the fan is finished: a state it left the queue in, "done" with its
        # order, or the code of what refused it.
        self.final = ""

    def read(self, message: Mapping[str, Any]) -> Step:
        kind = message.get("t")
        if kind == MessageType.STATUS:
            return self._on_status(message)
        if kind == MessageType.HOLD_RESULT:
            return self._on_hold_result(message)
        if kind == MessageType.PAYMENT:
            if not message.get("ok"):
                return self._finished(str(message.get("code")))
            if message.get("pending") and not self.confirming:
                self.confirming = True
                return Step.CONFIRM
            return Step.WAIT
        if kind == MessageType.ORDER:
            if not message.get("ok"):
                return self._finished(str(message.get("code")))
            self.tickets = len(message.get("tickets", []))
            self.late = bool(message.get("late"))
            return self._finished(FanState.DONE.value)
        if kind == MessageType.ERROR:
            return self._finished(str(message.get("code")))
        return Step.WAIT

    def _finished(self, why: str) -> Step:
        self.final = why
        return Step.FINISHED

    def _on_status(self, status: Mapping[str, Any]) -> Step:
        self.number = int(status.get("number") or 0) or self.number
        if self.asked:
            return Step.WAIT
        state = status.get("state")
        admission = status.get("admission")
        if state == FanState.ADMITTED and isinstance(admission, dict):
            self.asked = True
            self.admission = {"token": admission["token"], "deadline_ms": admission["deadline_ms"]}
            return Step.ASK
        if state in LEFT_QUEUE:
            return self._finished(str(state))
        return Step.WAIT

    def _on_hold_result(self, result: Mapping[str, Any]) -> Step:
        if result.get("ok"):
            hold = result["hold"]
            self.hold_id = str(hold["id"])
            self.hold_expires_ms = int(hold["expires_at"])
            return Step.PAY
        if result.get("code") == ErrorCode.NOT_ENOUGH_STOCK and self.want > 1:
            # Take what is left rather than nothing: ask again at the next status.
            self.want = 1
            self.asked = False
            return Step.WAIT
        return self._finished(str(result.get("code")))


# --- on asyncio -------------------------------------------------------------------


def http_client(
    base_url: str, address: str | None = None, timeout: float = 30.0, **kwargs: Any
) -> httpx.AsyncClient:
    """A client for fans, speaking from ``address`` (a loopback address of its own) if given."""
    transport = httpx.AsyncHTTPTransport(local_address=address, verify=TLS)
    return httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport, **kwargs)


def messages_in(frame: str | bytes) -> list[Message]:
    """What one frame says, as a page reads it: its message, and then the fan's
    status when an answer carries one inside (fairdrop/protocol.py FanAnswer)."""
    message: Message = json.loads(frame)
    status = message.get(STATUS_FIELD) if isinstance(message, dict) else None
    if isinstance(status, dict) and message.get("t") != MessageType.STATUS:
        return [message, status]
    return [message]


class NoMatchingMessage(AssertionError):
    """A socket said nothing that matched in time (an AssertionError: tests fail with it)."""


class Socket:
    """One open fan socket; :meth:`next` keeps every message it reads in ``seen``.

    ``async for message in socket`` reads the rest as they come, keeping none.
    """

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.seen: list[Message] = []
        self._unread: deque[Message] = deque()  # the rest of the last frame read

    async def _read(self) -> Message:
        if not self._unread:
            self._unread.extend(messages_in(await self.connection.recv()))
        return self._unread.popleft()

    async def send(self, text: str) -> None:
        await self.connection.send(text)

    async def next(
        self, matching: Callable[[Message], bool] = lambda m: True, timeout: float = WAIT_S
    ) -> Message:
        """The next message that matches, skipping others; NoMatchingMessage after ``timeout``.

        A socket the server closed raises websockets' ConnectionClosed.
        """
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = await self._read()
                    self.seen.append(message)
                    if matching(message):
                        return message
        except TimeoutError:
            pass
        raise NoMatchingMessage(f"no matching message in {timeout}s; last seen: {self.seen[-3:]}")

    async def __aenter__(self) -> Socket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Socket:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self._read()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None

    async def close_code(self, timeout: float = WAIT_S) -> int | None:
        """Reads until the server closes the socket; the close code it sent."""
        try:
            await self.next(lambda m: False, timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        raise AssertionError("unreachable: next() returns only a match, and nothing matches")

    async def close(self) -> None:
        await self.connection.close()


class FanClient:
    """One fan of one event: its session cookie (once joined) and the calls its page makes.

    With ``http`` the calls go through that client, which other fans may share:
    each call sends this fan's cookie and nobody else's, and the client's jar
    is emptied after it. Without, each call opens a short-lived client of its
    own, so one fan can be used from any loop. With ``local_address`` its
    short-lived clients and its sockets speak from that address (the demo's
    fans each have a loopback address of their own).
    """

    def __init__(
        self,
        base_url: str,
        event_id: str,
        cookie: str = "",
        *,
        http: httpx.AsyncClient | None = None,
        local_address: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.event_id = event_id
        self.cookie = cookie
        self.http = http
        self.local_address = local_address
        self.timeout = timeout

    @property
    def headers(self) -> dict[str, str]:
        return cookie_header(self.cookie)

    def path(self, tail: str = "") -> str:
        return event_path(self.event_id, tail)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One HTTP call as this fan (its cookie, nobody else's)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if self.http is None:
            async with http_client(self.base_url, self.local_address, self.timeout) as http:
                return await http.request(method, path, headers=headers, **kwargs)
        # Another fan's cookie may be in the shared jar for a moment: never send it.
        headers.setdefault("Cookie", "")
        try:
            return await self.http.request(method, path, headers=headers, **kwargs)
        finally:
            self.http.cookies.clear()

    async def challenge(self) -> Message:
        response = await self.request("GET", self.path("/challenge"))
        challenge: Message = response.raise_for_status().json()
        return challenge

    async def solution(self) -> str | None:
        """A solved challenge for this fan's next join; None when the sale asks for none."""
        return solution_for(await self.challenge())

    async def post_join(self, altcha: str | None = None) -> httpx.Response:
        """Joins (with a solved proof of work, if given); keeps the session a join made."""
        response = await self.request("POST", self.path("/join"), json=join_body(altcha))
        if response.is_success and not self.cookie:
            self.cookie = response.cookies.get(FAN_COOKIE) or ""
        return response

    async def post_join_proving(self) -> httpx.Response:
        """Joins; when the sale asks for a proof of work first (428), solves one and joins again."""
        response = await self.post_join()
        if response.status_code == STATUS_FOR[ErrorCode.PROOF_OF_WORK_REQUIRED]:
            response = await self.post_join(await self.solution())
        return response

    async def ask_for(self, token: str, items: Items, discount_code: str = "") -> httpx.Response:
        """``POST /purchases``: the hold request (202 and its request id)."""
        body = purchase_body(token, items, discount_code)
        return await self.request("POST", self.path("/purchases"), json=body)

    async def purchase_answer(self, request_id: str) -> httpx.Response:
        """``GET /purchases/{request_id}``: the worker's answer, or ``pending``."""
        return await self.request("GET", self.path(f"/purchases/{request_id}"))

    async def pay(self, hold_id: str, email: str | None = None) -> httpx.Response:
        body = {"email": email} if email else None
        return await self.request("POST", pay_path(self.event_id, hold_id), json=body)

    async def release(self, hold_id: str) -> httpx.Response:
        return await self.request("POST", release_path(self.event_id, hold_id))

    async def open_socket(self, **kwargs: Any) -> Socket:
        """The fan's socket (websockets' ``connect`` options in ``kwargs``)."""
        headers = {**self.headers, **kwargs.pop("additional_headers", {})}
        kwargs.setdefault("proxy", None)  # the servers here are on loopback
        if self.local_address is not None:
            kwargs.setdefault("local_addr", (self.local_address, 0))
        url = socket_url(self.base_url, self.event_id)
        return Socket(await connect(url, additional_headers=headers, **kwargs))
