"""uvicorn's websocket protocol (``websockets-sansio``), holding less per open socket.

A web process holds one of these per fan, for as long as the fan's page is
open, and memory per fan is a target of issue 14 (at most 20 KB, of which
uvicorn's own protocol was about 19). tracemalloc in a web process with
2,000 open sockets (loadtests/ws_open_bench.py) found, per socket, in
uvicorn 0.54's ``WebSocketsSansIOProtocol``:

- about 3.3 KB in its ``asyncio.Queue`` of incoming messages (three deques
  of 760 bytes each, an ``asyncio.Event`` with a fourth, the queue itself),
  and 0.9 KB in the ``asyncio.Event`` that says whether the socket may be
  written (a fifth deque). Both are used through a few methods only; the
  classes below keep what those need, and lists instead of deques;
- 1.6 KB in the protocol's attribute dict: it sets 37 attributes, past the
  30 a shared-key dict holds, so each instance had a dict of its own;
  ``__slots__`` hold them instead;
- about 4 KB in the handshake's request and response (their headers as
  ``websockets.datastructures.Headers``), kept for the socket's life though
  neither is read again once the socket is open: the ASGI scope has its own
  copy of the request's headers. The protocol lets go of both, and the
  websockets parser, whose generator frame held the request, is started
  afresh at the same point (websockets itself swaps its parser so, in
  ``discard``).

Everything else is uvicorn's: the frames it writes and reads, pings,
back-pressure, the close handshake (tests/web/test_socket_protocol.py holds
this class to that). A uvicorn that changes these internals fails those
tests rather than the fans.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import Protocol

T = TypeVar("T")


class Inbox(Generic[T]):
    """What uvicorn's protocol asks of its ``asyncio.Queue``: ``put_nowait``,
    ``get`` and ``empty``; unbounded, first in first out, and a getter
    cancelled once woken passes its wake-up on, as asyncio's does. uvicorn
    pauses reading after each message until the app has taken it, so this
    rarely holds more than one."""

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: list[T] = []
        self._getters: list[asyncio.Future[None]] = []

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        self._wake_one()

    async def get(self) -> T:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                woken = getter.done() and not getter.cancelled()
                self._getters.remove(getter)
                if woken and self._items:
                    self._wake_one()
                raise
            self._getters.remove(getter)
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def _wake_one(self) -> None:
        for getter in self._getters:
            if not getter.done():
                getter.set_result(None)
                return


class Writable:
    """What uvicorn's protocol asks of its ``asyncio.Event`` for the transport's
    write side: ``clear`` (pause_writing), ``set`` (resume_writing, and a lost
    connection) and ``wait`` (before every send). Waiting while set does not
    yield, as with asyncio's: web/sending.py counts on a send to a socket
    with room finishing in one step."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None  # made when one waits

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)  # cancelled before it was set
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, with its state in slots and
    lighter queue and event, letting go of the handshake once done."""

    # Every attribute uvicorn 0.54 sets (tests check none is left in a dict).
    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]
        # Set by handle_connect, let go of below (None: an unset slot raises).
        self.request = None  # type: ignore[assignment]
        self.response = None  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # The request's headers are in the scope; uvicorn never reads it again.
        self.request = None  # type: ignore[assignment]
        conn = self.conn
        # The handshake's parser holds the request in its frame until the
        # socket closes. uvicorn hands the protocol the request's head alone,
        # so the parser now waits at the start of the first frame, where a
        # frame parser started now waits too. (A refused handshake is closing.)
        if not self.close_sent and not conn.reader.buffer and not conn.events:
            conn.parser = Protocol.parse(conn)
            next(conn.parser)

    def start_keepalive(self) -> None:
        # Called once the accept's response is written: it is never read again.
        self.response = None  # type: ignore[assignment]
        super().start_keepalive()
