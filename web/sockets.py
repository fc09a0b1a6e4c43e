"""The fan's websocket: handshake, place, and guarding against floods."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.routing import Match, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from fairdrop.errors import STATUS_FOR, ErrorCode, FairdropError
from fairdrop.metrics import FAN_SOCKETS
from fairdrop.protocol import ErrorMessage, MessageType
from fairdrop.settings import Settings
from web.auth import session_of
from web.catalog import EventRecord
from web.context import WebContext, context_of
from web.edge import from_this_site, origin_of
from web.fans import ask_for_tickets, enter_sale
from web.places import FanSocket
from web.rate_limits import Action
from web.unavailable import DATABASE_DOWN, REDIS_DOWN, database_down, redis_down
from web.validation import CONTROL

# Application close codes (4000-4999), mirroring the HTTP status they stand for.
CLOSE_NO_FAN = 4401
CLOSE_UNKNOWN_EVENT = 4404
# A refusal of the join itself closes with 4000 + its HTTP status: 4401 sign in,
# 4403 not on the list (or a blocked address), 4428 prove the browser first
# (web/proof_of_work.py), 4429 too many sockets or connects (web/rate_limits.py).
CLOSE_TOO_LARGE = 1009
CLOSE_POLICY = 1008


def same_origin(ws: WebSocket, settings: Settings) -> bool:
    """Browsers send Origin; a page on another site must not open a fan's socket.

    The same rule as the edge's for state-changing requests (web/edge.py), so a
    proxy that rewrites Host still lets the site's own pages in.
    """
    origin = ws.headers.get("origin")
    host = ws.headers.get("host", "")
    return origin is None or from_this_site(origin, host, origin_of(settings.public_base_url))


def flooded(recent: list[float], now: float, max_per_second: int) -> bool:
    """Notes a message come at ``now``: whether over ``max_per_second`` came within a second.

    ``recent`` is the socket's own list of its last second's times: a list,
    not a deque (a deque is 760 bytes even empty, and it lives as long as
    the socket); it holds at most max_per_second + 1 of them.
    """
    recent.append(now)
    while now - recent[0] > 1.0:
        del recent[0]
    return len(recent) > max_per_second


def message_data(message: Mapping[str, Any]) -> str | bytes:
    """The text or bytes of an ASGI websocket.receive message."""
    return message.get("text") or message.get("bytes") or ""


def too_large(data: str | bytes, max_bytes: int) -> FairdropError | None:
    """The refusal of a message over ``max_bytes``, or None."""
    size = len(data.encode()) if isinstance(data, str) else len(data)
    if size <= max_bytes:
        return None
    return FairdropError(ErrorCode.MESSAGE_TOO_LARGE, f"messages are limited to {max_bytes} bytes")


async def _refuse(ws: WebSocket, code: ErrorCode, message: str, close_code: int) -> None:
    await ws.send_text(_error(code, message))
    await ws.close(code=close_code)


async def _refuse_for(ws: WebSocket, refused: FairdropError) -> None:
    await _refuse(ws, refused.code, refused.message, 4000 + STATUS_FOR[refused.code])


async def fan_socket(ws: WebSocket) -> None:
    """A fan's socket, for its whole life.

    A socket's life is spent awaiting its next message, and every frame that
    awaits with it is memory held per open socket (issue 14: at most 20 KB a
    fan in all). So the setup is awaited in a call that returns
    (:func:`_enter`: the session and the join's entry go with it), only this
    frame, :func:`_follow_sale`'s and the read loop's wait for the socket's
    close, and the app calls this ahead of Starlette's middleware and router
    (:class:`FanSocketsFirst`).
    """
    ctx = context_of(ws)
    if not same_origin(ws, ctx.settings):
        await ws.close(code=CLOSE_POLICY)
        return
    await ws.accept()
    try:
        entered = await _enter(ws, ctx, ws.path_params["event_id"])
        if entered is not None:  # else refused, and closed
            await _follow_sale(ws, ctx, *entered)
    except REDIS_DOWN:  # the page reconnects after this close, as after any 4503
        await _refuse_for(ws, redis_down())
    except DATABASE_DOWN:
        await _refuse_for(ws, database_down())


async def _enter(
    ws: WebSocket, ctx: WebContext, event_id: str
) -> tuple[EventRecord, FanSocket, str] | None:
    """The fan's session, sale, limits and place: the socket's sale, its
    FanSocket and its key among the open sockets (to close it with); or None
    once the socket is refused."""
    session = session_of(ws, ctx.signer)
    if session is None:
        await _refuse(
            ws, ErrorCode.NO_FAN_ID, "no valid session: join the event first", CLOSE_NO_FAN
        )
        return None
    record = await ctx.catalog.get(event_id)
    if record is None:
        await _refuse(ws, ErrorCode.UNKNOWN_EVENT, f"no event {event_id}", CLOSE_UNKNOWN_EVENT)
        return None
    try:
        # The blocklist and the connect limits (the fan's, then the address's),
        # then a place among the address's sockets open in this process.
        fan_id = ctx.signer.entrant_id(event_id, session.identity)
        address = await ctx.limits.spend(ws, Action.CONNECT, fan_id)
        socket_key = ctx.limits.open_socket(address)
    except FairdropError as refused:
        await _refuse_for(ws, refused)
        return None
    try:
        # Joining is idempotent: the socket learns the same place the page had,
        # through the same policy check as the join call.
        joiner, entry = await enter_sale(ctx, record, session, ws)
    except FairdropError as refused:
        ctx.limits.close_socket(socket_key)
        await _refuse_for(ws, refused)
        return None
    except BaseException:
        ctx.limits.close_socket(socket_key)
        raise
    # Past its address's share (address_busy), the socket waits: its room
    # places it once the address may place one more (web/rooms.py).
    return record, FanSocket(ws, entry, joiner), socket_key


async def _follow_sale(
    ws: WebSocket, ctx: WebContext, record: EventRecord, sock: FanSocket, socket_key: str
) -> None:
    """The fan's place, then every change of it, until the socket closes."""
    try:
        room = await ctx.hub.room_for(record.event.id)
        room.add(sock)
        FAN_SOCKETS.inc()
        try:
            await room.send_status(sock)
            await _read_until_closed(ws, ctx, record, sock.fan_id)
        except WebSocketDisconnect:
            pass
        finally:
            room.remove(sock)
            FAN_SOCKETS.dec()
    finally:
        ctx.limits.close_socket(socket_key)


async def _read_until_closed(
    ws: WebSocket, ctx: WebContext, record: EventRecord, fan_id: str
) -> None:
    """Each message the page sends, answered; a flood or an oversized message closes the socket."""
    max_bytes = ctx.settings.max_ws_message_bytes
    max_per_second = ctx.settings.max_ws_messages_per_second
    recent: list[float] = []
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        if flooded(recent, time.monotonic(), max_per_second):
            await _refuse(
                ws,
                ErrorCode.TOO_MANY_MESSAGES,
                f"more than {max_per_second} messages a second",
                CLOSE_POLICY,
            )
            return
        data = message_data(message)
        if (refused := too_large(data, max_bytes)) is not None:
            await _refuse(ws, refused.code, refused.message, CLOSE_TOO_LARGE)
            return
        await _answer(ws, data, ctx, record, fan_id)


def _error(code: ErrorCode, message: str) -> str:
    error: ErrorMessage = {"t": MessageType.ERROR, "code": code, "message": message}
    return json.dumps(error)


_PONG = json.dumps({"t": MessageType.PONG}, separators=(",", ":"))


async def _answer(
    ws: WebSocket,
    data: str | bytes,
    ctx: WebContext,
    record: EventRecord,
    fan_id: str,
) -> None:
    """A page pings; a client in a hurry asks for tickets here instead of over HTTP.

    A refused message is answered with an error and leaves the socket open:
    nothing was changed, and the fan may try again.
    """
    try:
        # orjson: every hold on a socket passes here (a quarter of json's time).
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        # orjson refuses some JSON the json module reads (an escaped lone
        # surrogate, "\ud800"): read as before, so the answer names the field
        # that is wrong (an admission token: invalid_token), not the JSON.
        try:
            parsed = json.loads(data)
        except (ValueError, RecursionError):
            parsed = None
    if not isinstance(parsed, dict):
        await ws.send_text(_error(ErrorCode.MALFORMED_JSON, "messages must be JSON objects"))
    elif parsed.get("t") == MessageType.PING:
        await ws.send_text(_PONG)
    elif parsed.get("t") == MessageType.HOLD:
        try:
            request_id = await ask_for_tickets(ctx, ws, record, fan_id, parsed)
        except FairdropError as refused:
            await ws.send_text(_error(refused.code, refused.message))
        except REDIS_DOWN:  # nothing was asked: the fan may ask again, the socket stays
            await ws.send_text(_error(ErrorCode.UNAVAILABLE, redis_down().message))
        else:
            # A request id is hex (web/hold_batches.py): spliced in, not encoded.
            await ws.send_text(_HOLD_QUEUED_START + request_id + '"}')
    else:
        await ws.send_text(
            _error(
                ErrorCode.INVALID_FIELD,
                'a page sends {"t":"ping"} or {"t":"hold","admission_token":...,"items":[...]}',
            )
        )


# HoldQueuedMessage, up to its request id.
_HOLD_QUEUED_START = '{"t":"' + MessageType.HOLD_QUEUED + '","request_id":"'


FAN_SOCKET = WebSocketRoute("/ws/events/{event_id}", fan_socket)
routes = [FAN_SOCKET]


class FanSocketsFirst(Starlette):
    """The app, with the fan's socket served before Starlette's middleware and router.

    A handler awaits for as long as its socket is open, and so does every
    layer it was called through: Starlette's error and exception middleware
    (the latter twice, once more around the route), the router, the route,
    our own middleware (web/app.py). Their frames, closures and a second
    WebSocket object were about 5.5 KB per open socket (tracemalloc; the
    target is 20 KB a fan in all, loadtests/RESULTS.md). None of them
    does anything for this socket: Edge and Starlette's error middleware pass
    websockets through, the session middleware's cookie is not the fan's,
    and :func:`fan_socket` answers its own errors. A path with a control
    character still takes the long way, to be refused (web/app.py
    RefuseControlCharacters). Every other request costs one more call.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not CONTROL.search(scope["path"]):
            match, child_scope = FAN_SOCKET.matches(scope)
            if match is Match.FULL:
                scope["app"] = self  # as Starlette sets it: context_of reads it
                scope.update(child_scope)
                await fan_socket(WebSocket(scope, receive, send))
                return
        await super().__call__(scope, receive, send)
