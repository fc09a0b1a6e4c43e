"""A lean HTTP/1.1 load generator for the front-door benches, and a stub server.

httpx spends about as much CPU per request as the web process it measures,
so a figure taken with it says more about the client than the server. This
client writes pre-built requests on kept-alive connections (as a load
balancer does to its upstreams) and reads back only what a figure needs: the
status, the length of the body and, when asked, the fan's ``Set-Cookie``.
Every request is a fresh fan: no cookie is ever sent.

``stub_server`` answers every request at once with a fixed response: running
the same generator against it gives the generator's own ceiling, measured
apart from the server.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, cast

import uvloop

_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)
_COOKIE = re.compile(rb"\r\nset-cookie: *([^=;\r]+=[^;\r]*)", re.IGNORECASE)
ANSWER_TIMEOUT_S = 30.0
STUB_BODY = b'{"status":"buffered","number":0}'


def request_bytes(host: str, port: int, path: str, method: str = "POST") -> bytes:
    """A join as a browser without a cookie sends it: POST, empty body."""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "User-Agent: fairdrop-bench\r\nAccept: application/json\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    cookies: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)


class _Connection(asyncio.Protocol):
    """One kept-alive connection sending ``request`` until the shared budget runs out."""

    def __init__(self, request: bytes, budget: list[int], tally: Tally, keep: bool) -> None:
        self.request = request
        self.budget = budget
        self.tally = tally
        self.keep_cookies = keep
        self.buffer = b""
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self._next()

    def _next(self) -> None:
        assert self.transport is not None
        if self.budget[0] <= 0:
            self.transport.close()
            return
        self.budget[0] -= 1
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[: end + 2]
            found = _LENGTH.search(head)
            length = int(found.group(1)) if found else 0
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.tally.statuses[int(head[9:12])] += 1
            self.tally.latencies_s.append(time.perf_counter() - self.sent_at)
            if self.keep_cookies:
                cookie = _COOKIE.search(head)
                if cookie:
                    self.tally.cookies.append(cookie.group(1).decode())
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def blast(
    host: str,
    port: int,
    request: bytes,
    count: int,
    connections: int,
    local_address: str | None,
    keep_cookies: bool,
) -> Tally:
    loop = asyncio.get_running_loop()
    budget = [count]
    tally = Tally()
    protocols: list[_Connection] = []
    for _ in range(min(connections, count)):
        _, protocol = await loop.create_connection(
            lambda: _Connection(request, budget, tally, keep_cookies),
            host,
            port,
            local_addr=(local_address, 0) if local_address else None,
        )
        protocols.append(protocol)
    await asyncio.wait_for(
        asyncio.gather(*(p.done for p in protocols)), ANSWER_TIMEOUT_S + count / 20
    )
    return tally


def client_main(
    conn: Connection,
    host: str,
    port: int,
    path: str,
    count: int,
    connections: int,
    local_address: str | None = None,
    keep_cookies: bool = False,
    method: str = "POST",
) -> None:
    """A client process: waits for ``go``, sends ``count`` requests, reports its figures."""
    request = request_bytes(host, port, path, method)
    while True:
        message = conn.recv()
        if message[0] != "go":
            return
        cpu = time.process_time()
        started = time.monotonic()
        tally = uvloop.run(
            blast(host, port, request, count, connections, local_address, keep_cookies)
        )
        answer: dict[str, Any] = {
            "seconds": time.monotonic() - started,
            "cpu_s": time.process_time() - cpu,
            "statuses": dict(tally.statuses),
            "latencies": tally.latencies_s,
            "cookies": tally.cookies,
        }
        conn.send(answer)


class _Stub(asyncio.Protocol):
    response = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(STUB_BODY)).encode() + b"\r\n\r\n" + STUB_BODY
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        # The generator's requests have no body: one blank line ends each.
        self.pending += data
        count = self.pending.count(b"\r\n\r\n")
        if count:
            self.pending = self.pending[self.pending.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(self.response * count)


def stub_server(conn: Connection, host: str) -> None:
    """A process answering every request with one fixed response; sends its port, then serves."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(1024)

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(_Stub, sock=sock)
        conn.send(sock.getsockname()[1])
        async with server:
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    uvloop.run(serve())
