"""web/socket_protocol.py: uvicorn's websockets-sansio protocol holding less per socket.

Its queue and event against asyncio's behaviour, then the protocol itself in
a real uvicorn (tests/web/in_process.py) with real clients: messages both
ways, back-pressure on a reader that stops, keepalive pings, the close
handshake, and what it no longer holds once a socket is open.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from fairdrop.settings import Settings
from tests.web.in_process import InProcessServer, serving
from web.socket_protocol import Inbox, LeanWebSocketProtocol, Writable

BIG = 64 * 1024
# Messages of BIG bytes: past what loopback TCP buffers hold, so the
# server's transport passes its high-water mark and uvicorn pauses sends.
FLOOD = 256
PING_S = 0.3
WAIT_S = 10.0

# --- the queue and the event ------------------------------------------------


async def test_the_inbox_hands_out_messages_in_order_and_waits_for_the_next() -> None:
    inbox: Inbox[str] = Inbox()
    inbox.put_nowait("a")
    inbox.put_nowait("b")
    assert not inbox.empty()
    assert [await inbox.get(), await inbox.get()] == ["a", "b"]
    assert inbox.empty()
    getting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not getting.done()
    inbox.put_nowait("c")
    assert await asyncio.wait_for(getting, WAIT_S) == "c"


async def test_a_getter_cancelled_once_woken_passes_the_message_on() -> None:
    """As asyncio.Queue's: the message is not lost with the cancelled getter."""
    inbox: Inbox[str] = Inbox()
    first = asyncio.create_task(inbox.get())
    second = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait("x")  # wakes the first...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, WAIT_S) == "x"
    assert first.cancelled()
    assert inbox.empty()


async def test_a_cancelled_getter_takes_nothing() -> None:
    inbox: Inbox[str] = Inbox()
    getting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    getting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getting
    inbox.put_nowait("y")
    assert await inbox.get() == "y"


async def test_waiting_on_a_writable_socket_takes_no_step() -> None:
    """web/sending.py sends to every socket in one step each, without a task."""
    writable = Writable()
    waiting = writable.wait()
    with pytest.raises(StopIteration):
        waiting.send(None)


async def test_a_paused_socket_waits_until_writing_resumes() -> None:
    writable = Writable()
    writable.clear()
    assert not writable.is_set()
    waiters = [asyncio.create_task(writable.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    writable.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), WAIT_S) == [True, True]
    # A waiter given up on leaves nothing behind for the next pause.
    writable.clear()
    given_up = asyncio.create_task(writable.wait())
    await asyncio.sleep(0)
    given_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await given_up
    assert not writable._waiters
    writable.set()


# --- the protocol in a real uvicorn -----------------------------------------


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes text; "flood" sends FLOOD large messages; "close" closes with 4321."""
    assert scope["type"] == "websocket"
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text == "flood":
            for index in range(FLOOD):
                await send({"type": "websocket.send", "text": f"{index:04d}" + "x" * BIG})
        elif text == "close":
            await send({"type": "websocket.close", "code": 4321})
            return
        else:
            await send({"type": "websocket.send", "text": text})


@pytest.fixture(scope="module")
def server() -> Iterator[InProcessServer]:
    with serving(
        echo_app, Settings(), lifespan="off", ws_ping_interval=PING_S, ws_ping_timeout=PING_S
    ) as running:
        yield running


def url(server: InProcessServer) -> str:
    return f"ws://127.0.0.1:{server.port}/"


async def the_open_one(server: InProcessServer) -> LeanWebSocketProtocol:
    """The one connection open now (a closed one may take a moment to go)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while True:
        open_now = [p for p in server.connections() if not p.transport.is_closing()]
        if len(open_now) == 1:
            protocol: LeanWebSocketProtocol = open_now[0]
            return protocol
        assert loop.time() < deadline, f"{len(open_now)} connections open"
        await asyncio.sleep(0.05)


def parser_holds_a_request(protocol: LeanWebSocketProtocol) -> bool:
    generator: Any = protocol.conn.parser
    while generator is not None:
        if any(isinstance(v, Request) for v in generator.gi_frame.f_locals.values()):
            return True
        generator = generator.gi_yieldfrom
    return False


async def test_an_open_socket_keeps_its_state_in_slots_and_not_its_handshake(
    server: InProcessServer,
) -> None:
    async with connect(url(server)) as socket:
        await socket.send("hello")
        assert await socket.recv() == "hello"
        protocol = await the_open_one(server)
        assert isinstance(protocol, LeanWebSocketProtocol)
        # Every attribute uvicorn set is in a slot: no dict of its own.
        assert server.call(lambda: dict(vars(protocol))) == {}
        assert isinstance(protocol.queue, Inbox) and isinstance(protocol.writable, Writable)
        assert protocol.request is None and protocol.response is None
        assert not server.call(lambda: parser_holds_a_request(protocol))
        # What the app reads of the handshake is still in its scope.
        assert (b"host", f"127.0.0.1:{server.port}".encode()) in protocol.scope["headers"]


async def test_messages_of_every_size_pass_both_ways(server: InProcessServer) -> None:
    async with connect(url(server), max_size=None) as socket:
        for text in ["", "é" * 10, "y" * 60_000]:
            await socket.send(text)
            assert await socket.recv() == text


async def test_a_reader_that_stops_pauses_the_sender_until_it_reads_again(
    server: InProcessServer,
) -> None:
    # The client's own buffering off: its socket stops reading when it does.
    async with connect(url(server), max_size=None, max_queue=1) as socket:
        await socket.send("flood")
        protocol = await the_open_one(server)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while server.call(protocol.writable.is_set):
            assert loop.time() < deadline, "the server never had to wait to write"
            await asyncio.sleep(0.05)
        received = [await asyncio.wait_for(socket.recv(), WAIT_S) for _ in range(FLOOD)]
        assert [str(text)[:4] for text in received] == [f"{i:04d}" for i in range(FLOOD)]
        assert all(len(text) == 4 + BIG for text in received)
        assert server.call(protocol.writable.is_set)


async def test_a_client_that_answers_pings_stays_open(server: InProcessServer) -> None:
    async with connect(url(server), ping_interval=None) as socket:
        await asyncio.sleep(PING_S * 5)
        await socket.send("still here")
        assert await socket.recv() == "still here"


async def test_a_client_that_never_answers_a_ping_is_closed(server: InProcessServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    assert head.startswith(b"HTTP/1.1 101")
    # Read what the server sends, answering nothing, until it closes.
    received = await asyncio.wait_for(reader.read(), WAIT_S)
    writer.close()
    opcodes = frame_opcodes(received)
    assert 0x9 in opcodes, "no ping arrived"  # a ping...
    assert opcodes[-1] == 0x8  # ...then the close
    close_at = frame_starts(received)[-1]
    assert struct.unpack("!H", received[close_at + 2 : close_at + 4]) == (1011,)


def frame_starts(data: bytes) -> list[int]:
    """Where each of the server's (unmasked, short) frames starts."""
    starts, at = [], 0
    while at + 2 <= len(data):
        starts.append(at)
        at += 2 + (data[at + 1] & 0x7F)
    return starts


def frame_opcodes(data: bytes) -> list[int]:
    return [data[at] & 0x0F for at in frame_starts(data)]


async def test_the_app_closes_with_its_code(server: InProcessServer) -> None:
    async with connect(url(server)) as socket:
        await socket.send("close")
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4321


async def test_a_client_close_reaches_the_app_and_frees_the_connection(
    server: InProcessServer,
) -> None:
    async with connect(url(server)) as socket:
        await socket.send("bye")
        assert await socket.recv() == "bye"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while server.connections():
        assert loop.time() < deadline, "the connection outlived its close"
        await asyncio.sleep(0.05)
