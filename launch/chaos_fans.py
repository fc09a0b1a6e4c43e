"""The chaos demo's fan: the demo's simulated fan (launch/demo_fans.py) with the
patience of the real fan page (static/queue_connection.js, queue_holds.js,
queue_messages.js) through faults.

- A call that meets a dead web process (a dropped connection, nginx's 502) or
  a server error while Redis fails over or PostgreSQL is down is tried again
  a while, as the fan clicks again.
- A socket that closes is opened again after a moment, through nginx, to
  whichever web process (``ReopeningSocket``); the number each status says is kept, so a fan whose
  place changed across reconnects shows in ``fans_lost_place``.
- On each reconnect the page catches up on what it missed: the answer to a
  hold request still unanswered (``GET .../purchases/{id}``), and once the
  status says ``done`` the order itself (``GET .../orders/mine``). A hold
  answer not heard within HOLD_POLL_AFTER_S is asked for too, socket or not.
- An ``unavailable`` error on the socket (Redis or PostgreSQL out of reach)
  finishes nothing: the socket closes and is opened again.
- A pay click refused because the hold is no longer held (an earlier click
  got through before its answer was lost) waits for the order the same way.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from fairdrop.errors import ErrorCode
from fairdrop.protocol import FanState, MessageType
from launch.demo_fans import SimulatedFan
from launch.fan_client import FanClient, Items, Socket, event_path

# How long a call is tried again through a fault before the fan gives up on it:
# longer than the longest fault (PostgreSQL's outage, 30 s by default).
PATIENCE_S = 120.0
RETRY_EVERY_S = 0.5
RETRY_STATUSES = frozenset({500, 502, 503, 504})
# The page's reconnect delay (its first steps; it backs off further).
RECONNECT_S = 0.5
# How long a page waits for an order it knows is coming (a paid hold whose
# order waits for PostgreSQL), asking every ORDER_POLL_S.
ORDER_WAIT_S = 120.0
ORDER_POLL_S = 1.0
ANSWER_POLL_S = 0.25
# static/queue_holds.js: an answer not heard on the socket this long after the
# request is asked for (a room resubscribing after a failover misses what was
# published meanwhile; pub/sub keeps nothing).
HOLD_POLL_AFTER_S = 5.0
HOLD_NOT_HELD = 409


class PatientClient(FanClient):
    """A fan's calls, each tried again while it meets a fault; keeps the ids of the
    hold requests the server took (202), for the holds-lost check."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_ids: list[str] = []
        # When each was taken: the page asks for an answer it has not heard in HOLD_POLL_AFTER_S.
        self.asked_at: dict[str, float] = {}
        self.sockets_opened = 0

    async def open_socket(self, **kwargs: Any) -> Socket:
        """The fan's socket, opened again whenever it closes (see ReopeningSocket)."""
        return ReopeningSocket(self, await self.connect())

    async def connect(self) -> Socket:
        """One socket, tried again a while the process nginx chose is dying."""
        deadline = time.monotonic() + PATIENCE_S
        while True:
            try:
                socket = await super().open_socket()
            except (OSError, InvalidHandshake, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(RECONNECT_S)
                continue
            self.sockets_opened += 1
            return socket

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + PATIENCE_S
        while True:
            try:
                response = await super().request(method, path, **kwargs)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            else:
                if response.status_code not in RETRY_STATUSES or time.monotonic() > deadline:
                    return response
            await asyncio.sleep(RETRY_EVERY_S)

    async def ask_for(self, token: str, items: Items, discount_code: str = "") -> httpx.Response:
        response = await super().ask_for(token, items, discount_code)
        if response.status_code == 202:
            request_id = str(response.json()["request_id"])
            self.request_ids.append(request_id)
            self.asked_at[request_id] = time.monotonic()
        return response

    async def answer(self, request_id: str) -> dict[str, Any]:
        """The worker's answer to a hold request, waited for while it is pending."""
        deadline = time.monotonic() + PATIENCE_S
        while True:
            body: dict[str, Any] = (await self.purchase_answer(request_id)).json()
            if body.get("status") != "pending" or time.monotonic() > deadline:
                return body
            await asyncio.sleep(ANSWER_POLL_S)

    async def order(self, wait_s: float = ORDER_WAIT_S) -> dict[str, Any] | None:
        """The fan's latest order, asked for until it is written or ``wait_s`` passed."""
        deadline = time.monotonic() + wait_s
        while True:
            response = await self.request("GET", event_path(self.event_id, "/orders/mine"))
            orders = response.json().get("orders", []) if response.is_success else []
            if orders:
                latest: dict[str, Any] = orders[-1]
                return latest
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(ORDER_POLL_S)


class ReopeningSocket(Socket):
    """A fan's socket as its page keeps it: when it closes (its web process died,
    the server shut it), the next read opens another through nginx, until the
    page itself closes it."""

    def __init__(self, client: PatientClient, first: Socket) -> None:
        super().__init__(first.connection)
        self.client = client
        self._closed = False

    async def __anext__(self) -> dict[str, Any]:
        while True:
            try:
                return await super().__anext__()
            except (StopAsyncIteration, ConnectionClosed, OSError):
                if self._closed:
                    raise StopAsyncIteration from None
            await asyncio.sleep(RECONNECT_S)
            self.connection = (await self.client.connect()).connection

    async def close(self) -> None:
        self._closed = True
        await super().close()


class ChaosFan(SimulatedFan):
    """One fan who reconnects and catches up as the fan page does (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        old = self.client
        self.patient = PatientClient(
            old.base_url, old.event_id, old.cookie, local_address=old.local_address
        )
        self.client = self.patient
        # Every queue number a status told this fan, over all its sockets.
        self.numbers: set[int] = set()
        self._answered: set[str] = set()
        # The socket the page last caught up on (PatientClient.sockets_opened).
        self._caught_up_on = 0
        # The kind, state and number of the last message the page read.
        self.last_message: dict[str, Any] = {}
        self._catching_up = False

    @property
    def sockets_opened(self) -> int:
        return self.patient.sockets_opened

    @property
    def request_ids(self) -> list[str]:
        return self.patient.request_ids

    def lost_place(self) -> bool:
        """Told two different numbers, or never finished (no final state)."""
        return len(self.numbers) > 1 or not self.outcome.final_state

    def last_known(self) -> dict[str, Any]:
        """Where the fan's page stood: for a run where it never finished."""
        page = self.page
        return {
            "numbers": sorted(self.numbers),
            "last_message": self.last_message,
            "asked": page.asked,
            "hold_id": page.hold_id,
            "confirming": page.confirming,
            "final": page.final,
            "sockets_opened": self.sockets_opened,
            "hold_requests": len(self.request_ids),
            "errors": self.outcome.errors[:2],
        }

    async def _on_message(self, message: dict[str, Any], socket: Socket) -> bool:
        self.last_message = {k: message[k] for k in ("t", "state", "number") if k in message}
        kind = message.get("t")
        if kind == MessageType.ERROR and message.get("code") == ErrorCode.UNAVAILABLE:
            # Redis or PostgreSQL out of reach: the server closes (4503) and the
            # page opens the socket again (static/queue_connection.js).
            return False
        if not self._catching_up:
            overdue = await self._overdue_answer()
            if overdue is not None and await self._catch_up(overdue, socket):
                return True
        if kind == MessageType.HOLD_RESULT:
            request_id = str(message.get("request_id") or "")
            if request_id in self._answered:
                return False  # the page heard it already, by asking
            self._answered.add(request_id)
        if kind == MessageType.STATUS:
            number = int(message.get("number") or 0)
            if number:
                self.numbers.add(number)
            if self._caught_up_on != self.patient.sockets_opened:
                self._caught_up_on = self.patient.sockets_opened
                missed = await self._missed(message)
                if missed is not None and await self._catch_up(missed, socket):
                    return True
        try:
            return await super()._on_message(message, socket)
        except httpx.HTTPStatusError as refused:
            if refused.response.status_code != HOLD_NOT_HELD or not self.page.hold_id:
                raise
            # Paid by an earlier click whose answer was lost, or ended: the order says which.
            order = await self.patient.order()
            if order is None:
                code = refused.response.json().get("code")
                ended = {"t": MessageType.PAYMENT, "ok": False, "code": code}
                return await super()._on_message(ended, socket)
            return await super()._on_message({"t": MessageType.ORDER, **order}, socket)

    async def _catch_up(self, missed: dict[str, Any], socket: Socket) -> bool:
        """Reads a message the page asked for, as if the socket had brought it;
        without asking again for what is missing while it does."""
        self._catching_up = True
        try:
            return await self._on_message(missed, socket)
        finally:
            self._catching_up = False

    async def _overdue_answer(self) -> dict[str, Any] | None:
        """The answer to the page's hold request once it is overdue, as the page polls."""
        if not self.page.asked or self.page.hold_id or not self.request_ids:
            return None
        request_id = self.request_ids[-1]
        waited = time.monotonic() - self.patient.asked_at.get(request_id, time.monotonic())
        if request_id in self._answered or waited < HOLD_POLL_AFTER_S:
            return None
        answer: dict[str, Any] = (await self.patient.purchase_answer(request_id)).json()
        if answer.get("status") == "pending":
            return None
        return {"t": MessageType.HOLD_RESULT, **answer}

    async def _missed(self, status: dict[str, Any]) -> dict[str, Any] | None:
        """What the page asks for after a (re)connect: the message it may have missed."""
        outstanding = [r for r in self.request_ids if r not in self._answered]
        if self.page.asked and not self.page.hold_id and outstanding:
            answer = await self.patient.answer(outstanding[-1])
            if answer.get("status") != "pending":
                return {"t": MessageType.HOLD_RESULT, **answer}
        if status.get("state") == FanState.DONE and not self.outcome.final_state:
            order = await self.patient.order()
            if order is not None:
                return {"t": MessageType.ORDER, **order}
        return None
