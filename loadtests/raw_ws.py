"""A lean websocket opener for the socket-open bench: handshake, first message, hold.

Like loadtests/raw_http.py, it spends as little CPU per socket as it can, so
the figure is the web process's: it writes one pre-built upgrade request per
fan (the fan's cookie in it), checks the 101, reads the first text frame (the
fan's ``status``) and then keeps the socket open, answering pings and
discarding the rest (heartbeats), until told to close. Server frames are never masked, so a frame
is a two-byte head, an optional length and the payload.

A client process is driven over a pipe: ``join`` (fresh fans join over HTTP
and keep their cookies), ``open`` (every fan opens its socket; answered once
each has its first message or failed) and ``close``. The end-to-end hold bench
(loadtests/hold_clients.py) uses the same socket to send its hold and to hear
every later text frame (``on_text``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, cast
from urllib.parse import urlsplit

import uvloop

from fairdrop.protocol import MessageType
from fairdrop.tokens import FAN_COOKIE
from launch.fan_client import FanClient, socket_url
from loadtests.client_processes import raise_file_limit
from loadtests.raw_http import blast, request_bytes

TEXT, PING, PONG = 0x1, 0x9, 0xA
IN_FLIGHT = 64  # handshakes waiting at once per client process
OPEN_TIMEOUT_S = 60.0


def masked(opcode: int, payload: bytes) -> bytes:
    """A client's whole frame: clients must mask, with a fresh key per frame."""
    mask = os.urandom(4)
    size = len(payload)
    # The payload XOR the key repeated, as one big integer: far cheaper than byte by byte.
    key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    body = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")
    if size < 126:
        head = bytes([0x80 | opcode, 0x80 | size])
    elif size < 65_536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + body


class FanSocket(asyncio.Protocol):
    """One fan's socket; ``on_text`` hears every text frame after the first."""

    def __init__(self, upgrade: bytes, on_text: Callable[[bytes], None] | None = None) -> None:
        self.upgrade = upgrade
        self.on_text = on_text
        self.buffer = b""
        self.upgraded = False
        self.first: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.transport.write(self.upgrade)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if self.buffer[9:12] != b"101":
                self._first(f"http_{self.buffer[9:12].decode()}")
                return
            self.upgraded = True
            self.buffer = self.buffer[end + 4 :]
        while self._frame():
            pass

    def _first(self, kind: str) -> None:
        if not self.first.done():
            self.first.set_result(kind)

    def _frame(self) -> bool:
        """Takes one whole frame off the buffer, if there is one."""
        if len(self.buffer) < 2:
            return False
        opcode, length, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(self.buffer[2:4], "big"), 4
        elif length == 127:
            length, start = int.from_bytes(self.buffer[2:10], "big"), 10
        if len(self.buffer) < start + length:
            return False
        payload = self.buffer[start : start + length]
        self.buffer = self.buffer[start + length :]
        if opcode == PING and self.transport is not None:
            # Answered, as a browser does: uvicorn closes a socket whose pings go unanswered.
            self.transport.write(masked(PONG, payload))
        elif opcode == TEXT and not self.first.done():
            try:
                kind = str(json.loads(payload).get("t"))
            except ValueError:
                kind = "not_json"
            self._first(kind)
        elif opcode == TEXT and self.on_text is not None:
            self.on_text(payload)
        return True

    def send_text(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(masked(TEXT, text.encode()))

    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._first("closed")


def upgrade_request(host: str, port: int, path: str, cookie: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Cookie: {cookie}\r\n\r\n"
    ).encode()


async def open_fan_socket(
    client: FanClient, on_text: Callable[[bytes], None], timeout: float = OPEN_TIMEOUT_S
) -> FanSocket:
    """The socket of a fan who has joined through ``client`` (its cookie, its source
    address), once its first message, the fan's status, has arrived."""
    url = urlsplit(socket_url(client.base_url, client.event_id))
    host, port = url.hostname or "127.0.0.1", url.port or 80
    upgrade = upgrade_request(host, port, url.path, f"{FAN_COOKIE}={client.cookie}")
    source = (client.local_address, 0) if client.local_address else None
    loop = asyncio.get_running_loop()
    _, sock = await loop.create_connection(
        lambda: FanSocket(upgrade, on_text), host, port, local_addr=source
    )
    first = await asyncio.wait_for(sock.first, timeout)
    if first != MessageType.STATUS:
        sock.close()
        raise ConnectionError(f"the socket's first message was {first}, not a status")
    return sock


async def _open_one(
    loop: asyncio.AbstractEventLoop,
    upgrade: bytes,
    address: tuple[str, int],
    local_address: str | None,
    gate: asyncio.Semaphore,
    sockets: list[FanSocket],
) -> str:
    async with gate:
        try:
            _, fan = await loop.create_connection(
                lambda: FanSocket(upgrade),
                *address,
                local_addr=(local_address, 0) if local_address else None,
            )
            sockets.append(fan)
            return await asyncio.wait_for(fan.first, OPEN_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            return type(exc).__name__


async def _session(
    conn: Connection, host: str, port: int, event_id: str, count: int, local_address: str | None
) -> None:
    loop = asyncio.get_running_loop()
    raise_file_limit(count + 256)
    join = request_bytes(host, port, f"/api/events/{event_id}/join")
    cookies: list[str] = []
    sockets: list[FanSocket] = []
    while True:
        message = await loop.run_in_executor(None, conn.recv)
        if message[0] == "join":
            tally = await blast(host, port, join, count, 32, local_address, True)
            cookies = tally.cookies
            conn.send({"joined": len(cookies), "statuses": dict(tally.statuses)})
        elif message[0] == "open":
            gate = asyncio.Semaphore(IN_FLIGHT)
            path = f"/ws/events/{event_id}"
            upgrades = [upgrade_request(host, port, path, c) for c in cookies]
            cpu, started = time.process_time(), time.monotonic()
            kinds = await asyncio.gather(
                *(_open_one(loop, u, (host, port), local_address, gate, sockets) for u in upgrades)
            )
            answer: dict[str, Any] = {
                "seconds": time.monotonic() - started,
                "cpu_s": time.process_time() - cpu,
                "first": dict(Counter(kinds)),
                "open": sum(1 for s in sockets if s.transport and not s.transport.is_closing()),
            }
            conn.send(answer)
        else:
            for fan in sockets:
                if fan.transport is not None:
                    fan.transport.close()
            conn.send({"closed": len(sockets)})
            return


def ws_client_main(
    conn: Connection,
    host: str,
    port: int,
    event_id: str,
    count: int,
    local_address: str | None = None,
) -> None:
    """A client process of ``count`` fresh fans: ``join``, ``open``, then ``close``."""
    uvloop.run(_session(conn, host, port, event_id, count, local_address))
