"""The fan's websocket: handshake, place, and guarding against floods."""

from __future__ import annotations

import json
import time
from collections import deque
from urllib.parse import urlsplit

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fairdrop.errors import ErrorCode
from queue_engine.joining import join
from web.auth import fan_from_request
from web.context import context_of
from web.live import FanSocket

# Application close codes (4000-4999), mirroring the HTTP status they stand for.
CLOSE_NO_FAN = 4401
CLOSE_UNKNOWN_EVENT = 4404
CLOSE_TOO_LARGE = 1009
CLOSE_POLICY = 1008


def _same_origin(ws: WebSocket) -> bool:
    """Browsers send Origin; a page on another site must not open a fan's socket."""
    origin = ws.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == ws.headers.get("host")


async def _refuse(ws: WebSocket, code: ErrorCode, message: str, close_code: int) -> None:
    await ws.send_text(json.dumps({"t": "error", "code": code.value, "message": message}))
    await ws.close(code=close_code)


async def fan_socket(ws: WebSocket) -> None:
    ctx = context_of(ws)
    event_id = ws.path_params["event_id"]
    if not _same_origin(ws):
        await ws.close(code=CLOSE_POLICY)
        return
    await ws.accept()
    fan_id = fan_from_request(ws, ctx.signer)
    if fan_id is None:
        await _refuse(
            ws, ErrorCode.NO_FAN_ID, "no valid fan id: join the event first", CLOSE_NO_FAN
        )
        return
    if await ctx.catalog.get(event_id) is None:
        await _refuse(ws, ErrorCode.UNKNOWN_EVENT, f"no event {event_id}", CLOSE_UNKNOWN_EVENT)
        return
    # Joining is idempotent: the socket learns the same place the page had.
    sock = FanSocket(ws, fan_id, await join(ctx.scripts, event_id, fan_id))
    room = await ctx.hub.room_for(event_id)
    room.add(sock)
    try:
        await room.send_status(sock)
        await _read_until_closed(
            ws, ctx.settings.max_ws_message_bytes, ctx.settings.max_ws_messages_per_second
        )
    except WebSocketDisconnect:
        pass
    finally:
        room.remove(sock)


async def _read_until_closed(ws: WebSocket, max_bytes: int, max_per_second: int) -> None:
    recent: deque[float] = deque()
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        now = time.monotonic()
        recent.append(now)
        while recent and now - recent[0] > 1.0:
            recent.popleft()
        if len(recent) > max_per_second:
            await _refuse(
                ws,
                ErrorCode.TOO_MANY_MESSAGES,
                f"more than {max_per_second} messages a second",
                CLOSE_POLICY,
            )
            return
        data = message.get("text") or message.get("bytes") or ""
        size = len(data.encode()) if isinstance(data, str) else len(data)
        if size > max_bytes:
            await _refuse(
                ws,
                ErrorCode.MESSAGE_TOO_LARGE,
                f"messages are limited to {max_bytes} bytes",
                CLOSE_TOO_LARGE,
            )
            return
        await _answer(ws, data)


async def _answer(ws: WebSocket, data: str | bytes) -> None:
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        await ws.send_text(
            json.dumps(
                {
                    "t": "error",
                    "code": ErrorCode.MALFORMED_JSON.value,
                    "message": "messages must be JSON objects",
                }
            )
        )
    elif parsed.get("t") == "ping":
        await ws.send_text('{"t":"pong"}')
    else:
        await ws.send_text(
            json.dumps(
                {
                    "t": "error",
                    "code": ErrorCode.INVALID_FIELD.value,
                    "message": 'the only message a page sends is {"t":"ping"}',
                }
            )
        )


routes = [WebSocketRoute("/ws/events/{event_id}", fan_socket)]
