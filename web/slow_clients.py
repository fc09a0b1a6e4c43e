"""uvicorn's HTTP protocol with a deadline and a size cap for each request's head.

uvicorn (0.54 here) has no timeout for reading a request. ``timeout_keep_alive``
is armed only after an answer and cancelled by the next byte that arrives, so
a connection that sends nothing, or one header line every few seconds, stays
open for ever (measured: both still open after 40 s). Its httptools parser,
the one ``uvicorn[standard]`` runs, takes a head of any size (2 MB of headers
were accepted); ``h11_max_incomplete_event_size`` caps only the h11 parser.
An ASGI middleware cannot help: the app first hears of a request once its
head is complete. So ``fairdrop web`` runs uvicorn with this protocol:

- From the moment a connection opens, and again from the first byte after
  each answer, the client has ``head_timeout`` seconds to finish the next
  request's head, else it gets 408 ``request_timeout`` and the connection
  closes (closes only, if it sent nothing at all). An idle kept-alive
  connection is still uvicorn's to close (``timeout_keep_alive``).
- A head over ``max_head_bytes`` gets 431 ``headers_too_large`` and the
  connection closes.
- A request answered before its body finished arriving (413, the 408 of
  ``web/validation.py read_body``, or a refusal that never read the body)
  gets the same deadline for the rest of that body, then the connection
  closes without another answer.

The body's own deadline, while the app reads it, is ``read_body``'s.

Besides, an answer goes out in one write (:class:`OneWritePerPass`): uvicorn
writes an answer's head and its body in two, two system calls and two
packets each. Measured side by side (3 rounds of 4,000 requests, HEAD's code
against this): the web process's CPU per ``/healthz`` fell from 408 to 298 µs
(median); per join the medians moved within the noise (792 to 830 µs on a
first burst, 913 to 830 µs on a second).
"""

from __future__ import annotations

import asyncio
import functools
import json
from http import HTTPStatus
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from fairdrop.errors import STATUS_FOR, ErrorCode, FairdropError
from fairdrop.metrics import count_refusal
from fairdrop.settings import Settings


class HeadTooLarge(Exception):
    """Raised from the parser's callback to stop it at once."""


class OneWritePerPass:
    """The connection's transport as uvicorn's HTTP side sees it: what is
    written in one pass of the event loop goes out in one write, at the end of
    the pass (an answer's head and body, or pipelined answers). Everything
    else is the transport's own. A websocket gets the transport itself."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._parts:
            self._loop.call_soon(self.flush)
        self._parts.append(data)

    def flush(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts.clear()
            if not self.transport.is_closing():
                self.transport.write(data)

    def close(self) -> None:
        self.flush()  # an answer, then the close (Connection: close, a refusal)
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing request heads that are too slow or too large."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        head_timeout: float,
        max_head_bytes: int,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.head_timeout = head_timeout
        self.max_head_bytes = max_head_bytes
        self.head_deadline: asyncio.TimerHandle | None = None
        # True while the connection owes us a request head (or the rest of an
        # answered request's body): from its start and after each answer.
        self.awaiting_head = True
        self.head_bytes = 0
        self.head_too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.writer = OneWritePerPass(transport, self.loop)
        super().connection_made(cast(asyncio.Transport, self.writer))
        self._arm()

    def handle_websocket_upgrade(self) -> None:
        # A websocket writes its own frames, when it chooses: the real transport.
        self.writer.flush()
        self.transport = self.writer.transport
        super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        if self.awaiting_head:
            self._arm()
            if not self._owes_body():
                self.head_bytes += len(data)
        super().data_received(data)
        # Still waiting after this chunk: every byte of it was head.
        if (
            self.awaiting_head
            and self.head_bytes > self.max_head_bytes
            and not self.transport.is_closing()
        ):
            self._refuse_large_head()

    def on_headers_complete(self) -> None:
        self.awaiting_head = False
        self.head_bytes = 0
        self._disarm()
        # A head that arrived whole in one read, its end with it: measured as parsed.
        parsed = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if parsed > self.max_head_bytes:
            # Stops the parser before any app sees the request; uvicorn then
            # answers the parse error with send_400_response, below.
            self.head_too_large = True
            raise HeadTooLarge(parsed)
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self.head_too_large:
            self._refuse_large_head()
        else:
            super().send_400_response(msg)

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if pipelined or self.transport.is_closing():
            return  # the next request's head is already in
        self.awaiting_head = True
        if self._owes_body():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _owes_body(self) -> bool:
        """The current request was answered while its body was still arriving."""
        return self.cycle is not None and self.cycle.more_body

    def _arm(self) -> None:
        if self.head_deadline is None:
            self.head_deadline = self.loop.call_later(self.head_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _too_slow(self) -> None:
        self.head_deadline = None
        if self.transport.is_closing():
            return
        if self._owes_body() or self.head_bytes == 0:
            # It has had its answer, or asked nothing (a browser's spare
            # connection): closing is the answer, as nginx does.
            self.transport.close()
            return
        self._refuse(
            ErrorCode.REQUEST_TIMEOUT,
            f"the request line and headers did not arrive within {self.head_timeout:g} s",
        )

    def _refuse_large_head(self) -> None:
        self._refuse(
            ErrorCode.HEADERS_TOO_LARGE,
            f"the request line and headers are limited to {self.max_head_bytes} bytes",
        )

    def _refuse(self, code: ErrorCode, message: str) -> None:
        """Answers with the JSON error and closes: no app has seen this request."""
        status = STATUS_FOR[code]
        count_refusal(code, status)
        body = json.dumps(FairdropError(code, message).as_body()).encode()
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"x-content-type-options: nosniff",
            b"connection: close",
        ]
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self.transport.close()


def deadline_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """The ``http`` protocol for ``uvicorn.run``, with the settings' deadline and cap.

    uvicorn builds the protocol by calling what it is given with its own
    arguments, so a partial works where it expects a class; unlike a class
    made here, it pickles by reference for ``--workers`` child processes.
    """
    factory = functools.partial(
        DeadlineHttpProtocol,
        head_timeout=settings.head_timeout_seconds,
        max_head_bytes=settings.max_head_bytes,
    )
    return cast(type[asyncio.Protocol], factory)
