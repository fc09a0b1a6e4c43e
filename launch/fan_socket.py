"""A fan's socket that reconnects as the fan's page does (static/queue_connection.js).

When a web process dies, its fans' sockets close without a close frame
(1006). The page then opens a new one after a growing delay, through the load
balancer, to whichever process answers, and the server's first ``status`` on
the new socket gives the fan its place again: nothing else is re-sent. This
client does the same, with shorter delays (tests and benches wait for it),
and remembers each socket's close code and which web process answered
(nginx's ``X-Upstream``, launch/nginx.py), so a test can see where a fan's
sockets landed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from launch.fan_client import WAIT_S, FanClient, Message, Socket

# The page waits 1, 2, 5 then 10 s; a test cannot wait that long for many fans.
RECONNECT_DELAYS_S = (0.1, 0.25, 0.5, 1.0)
# Close codes after which the page does not reconnect (web/sockets.py): no
# session, no such sale, no proof of work yet.
FINAL_CLOSE_CODES = frozenset({4401, 4404, 4428})
UPSTREAM_HEADER = "X-Upstream"


class ReconnectingSocket:
    """A fan's live socket, opened again after each close the page would reopen after.

    ``seen`` keeps every message of every socket; ``upstreams`` each socket's
    ``X-Upstream`` ("" when nothing names it); ``closes`` each close code
    (None: closed without a close frame, as when the process dies).
    """

    def __init__(
        self,
        fan: FanClient,
        delays: tuple[float, ...] = RECONNECT_DELAYS_S,
        attempts: int = 30,
        **connect: Any,
    ) -> None:
        self.fan = fan
        self.delays = delays
        self.attempts = attempts
        self.connect = connect
        self.socket: Socket | None = None
        self.seen: list[Message] = []
        self.upstreams: list[str] = []
        self.closes: list[int | None] = []

    @property
    def reconnects(self) -> int:
        return max(0, len(self.upstreams) - 1)

    async def open(self) -> ReconnectingSocket:
        """Opens the socket, trying again (with the delays) while nothing accepts it."""
        for attempt in range(self.attempts):
            try:
                socket = await self.fan.open_socket(**self.connect)
            except (OSError, InvalidHandshake, TimeoutError):
                # Refused, or a 502/503 from the balancer while it finds a live process.
                await asyncio.sleep(self.delays[min(attempt, len(self.delays) - 1)])
                continue
            socket.seen = self.seen
            self.socket = socket
            response = socket.connection.response
            self.upstreams.append(response.headers.get(UPSTREAM_HEADER, "") if response else "")
            return self
        raise ConnectionError(f"no socket after {self.attempts} attempts")

    async def next(
        self, matching: Callable[[Message], bool] = lambda m: True, timeout: float = WAIT_S
    ) -> Message:
        """The next matching message, reconnecting (within ``timeout``) when the socket closes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.socket is None:
                await self.open()
            assert self.socket is not None
            try:
                return await self.socket.next(matching, max(0.0, deadline - loop.time()))
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                self.closes.append(code)
                self.socket = None
                if code in FINAL_CLOSE_CODES:
                    raise

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
            self.socket = None


async def retrying_once(
    call: Callable[[], Awaitable[httpx.Response]],
) -> tuple[httpx.Response, httpx.Response | None]:
    """A fan's HTTP call, made again once if the first failed on the server's side (5xx).

    Returns the answer the fan ends with and the failed first one (None when
    the first was answered). A call the server never answered counts as failed.
    """
    first: httpx.Response | None
    try:
        first = await call()
    except httpx.TransportError as error:
        first = httpx.Response(599, text=f"no answer: {error!r}")
    if first.status_code < 500:
        return first, None
    return await call(), first
