"""The organiser's live socket: a sale's figures and their history, pushed.

``/ws/organiser/{event_id}``. A browser cannot put an Authorization header
on a websocket, and a token in the address ends up in logs and history, so
the page sends the organiser token as its first message,
``{"t":"auth","token":"..."}``, within :data:`AUTH_WAIT_S`. A socket that
sends nothing in time or no token is closed with 4401, a wrong token with
4403, each after an ``error`` message; an unknown sale with 4404; Redis out
of reach with 4503 (the page tries again). Past the token, the page may only
ping: a flood (more than the fan socket's messages a second) closes it with
1008, a message over the fan socket's size with 1009.

What it is told: first ``history``, every sample the clock has kept of the
sale (queue_engine/samples.py: one a second, the same list for every web
process) and the figures of ``GET /api/events/{id}/stats`` now, with the
window's and the drop's times; then once a second a ``sample``: the samples
it has not seen and the figures again. Each process reads a sale's newest
samples and figures once a second for all its organiser sockets of that sale
(a :class:`SaleFeed`), never once per socket, and sends the same text to every
socket that has seen the same samples (web/sending.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from enum import StrEnum
from typing import Any

import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from fairdrop.errors import STATUS_FOR, ErrorCode, FairdropError
from queue_engine.sales import snapshot
from queue_engine.samples import read_samples
from web.context import WebContext, context_of
from web.sending import send_all
from web.sockets import (
    CLOSE_POLICY,
    CLOSE_TOO_LARGE,
    flooded,
    message_data,
    same_origin,
    too_large,
)
from web.unavailable import REDIS_DOWN, redis_down
from web.views import stats_view

log = logging.getLogger("fairdrop.organiser_live")

# How long a new socket has to show the token.
AUTH_WAIT_S = 5.0
# A feed reads just after the clock's sample of each second (launch/clock.py
# samples at 0.05 s past it), so a sample reaches the page within a second.
FEED_OFFSET_S = 0.3
# The newest samples a feed reads each second: more than it can miss between
# two reads unless Redis stalled for seconds (the page then skips a few).
FEED_TAIL = 10


class OrganiserMessage(StrEnum):
    """The ``t`` of every message on the organiser's socket."""

    # The page to the server.
    AUTH = "auth"
    PING = "ping"
    # The server to the page.
    HISTORY = "history"
    SAMPLE = "sample"
    ERROR = "error"
    PONG = "pong"


_PONG = orjson.dumps({"t": OrganiserMessage.PONG}).decode()


def figures_of(live: dict[str, Any] | None) -> dict[str, Any] | None:
    """The stats endpoint's figures, and when the window opens and the drop (ms)
    for the page's countdown; None for a sale Redis no longer has."""
    if live is None:
        return None
    return {
        **stats_view(live),
        "opens_at_ms": live.get("opens_at"),
        "drop_at_ms": live.get("drop_at"),
    }


def _second_of(raw: bytes) -> int:
    second = orjson.loads(raw).get("s")
    return second if isinstance(second, int) else 0


def _samples_message(kind: OrganiserMessage, samples: list[bytes], figures: bytes) -> str:
    """The samples go out as stored, spliced in: no decoding and encoding again."""
    head = f'{{"t":"{kind}","now_ms":{int(time.time() * 1000)},"stats":'
    return head + figures.decode() + ',"samples":[' + b",".join(samples).decode() + "]}"


class SaleFeed:
    """This process's organiser sockets of one sale, fed by one read a second."""

    def __init__(self, feeds: OrganiserFeeds, event_id: str) -> None:
        self.feeds = feeds
        self.event_id = event_id
        # Each socket and the second of the newest sample it has.
        self.sockets: dict[WebSocket, int] = {}
        self.reads = 0  # how many times it read the samples (tests)
        self._task: asyncio.Task[None] | None = None

    def add(self, ws: WebSocket, newest_second: int) -> None:
        self.sockets[ws] = newest_second
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"organiser-feed-{self.event_id}")

    def remove(self, ws: WebSocket) -> None:
        self.sockets.pop(ws, None)

    async def _run(self) -> None:
        try:
            while self.sockets:
                now = time.time()
                await asyncio.sleep(int(now) + 1 + FEED_OFFSET_S - now)
                if not self.sockets:
                    break
                try:
                    await self._read_and_push()
                except Exception as exc:  # Redis out of reach: the next second tries again
                    log.warning("organiser feed of %s: %s", self.event_id, exc)
        finally:
            self.feeds.forget(self)

    async def _read_and_push(self) -> None:
        ctx = self.feeds.ctx
        raws, live = await asyncio.gather(
            read_samples(ctx.client, self.event_id, FEED_TAIL),
            snapshot(ctx.scripts, self.event_id),
        )
        self.reads += 1
        seconds = [_second_of(raw) for raw in raws]
        figures = orjson.dumps(figures_of(live))
        # Sockets that have seen the same samples get the same text, encoded once.
        texts: dict[int, str] = {}
        newest = max(seconds, default=0)
        pairs = []
        for ws, seen in self.sockets.items():
            text = texts.get(seen)
            if text is None:
                fresh = [raw for raw, s in zip(raws, seconds, strict=True) if s > seen]
                text = texts[seen] = _samples_message(OrganiserMessage.SAMPLE, fresh, figures)
            pairs.append((ws, text))
            self.sockets[ws] = max(seen, newest)
        send_all(pairs)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class OrganiserFeeds:
    """This process's feeds, one per sale that has an organiser watching here."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.feeds: dict[str, SaleFeed] = {}

    def feed_for(self, event_id: str) -> SaleFeed:
        feed = self.feeds.get(event_id)
        if feed is None:
            feed = self.feeds[event_id] = SaleFeed(self, event_id)
        return feed

    def forget(self, feed: SaleFeed) -> None:
        # A feed ends once its last socket left; a newer one may stand in its place.
        if self.feeds.get(feed.event_id) is feed and not feed.sockets:
            del self.feeds[feed.event_id]


def feeds_of(ws: WebSocket) -> OrganiserFeeds:
    """The process's feeds, made with its first organiser socket (kept on the app)."""
    state = ws.app.state
    feeds: OrganiserFeeds | None = getattr(state, "organiser_feeds", None)
    if feeds is None:
        feeds = state.organiser_feeds = OrganiserFeeds(context_of(ws))
    return feeds


async def close_feeds(state: Any) -> None:
    """Stops the process's feeds (the app's shutdown), if it had any."""
    feeds: OrganiserFeeds | None = getattr(state, "organiser_feeds", None)
    for feed in list(feeds.feeds.values()) if feeds is not None else []:
        await feed.stop()


def _error(code: ErrorCode, message: str) -> str:
    return orjson.dumps({"t": OrganiserMessage.ERROR, "code": code, "message": message}).decode()


async def _refuse(ws: WebSocket, refused: FairdropError, close_code: int = 0) -> None:
    """An error message, then the close: 4000 + the error's HTTP status unless named."""
    await ws.send_text(_error(refused.code, refused.message))
    await ws.close(code=close_code or 4000 + STATUS_FOR[refused.code])


_SEND_TOKEN = 'send {"t":"auth","token":"<organiser token>"} as the first message'


async def _authenticated(ws: WebSocket, ctx: WebContext) -> bool:
    """Reads the first message: True once it held the organiser token, else
    the socket is refused (and closed) and False."""
    try:
        message = await asyncio.wait_for(ws.receive(), AUTH_WAIT_S)
    except TimeoutError:
        message = None
    if message is not None and message["type"] == "websocket.disconnect":
        return False
    data = message_data(message) if message is not None else ""
    if (refused := too_large(data, ctx.settings.max_ws_message_bytes)) is not None:
        await _refuse(ws, refused, CLOSE_TOO_LARGE)
        return False
    try:
        parsed = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        parsed = None
    asked = parsed if isinstance(parsed, dict) else {}
    token = asked.get("token")
    if message is None or not isinstance(token, str) or asked.get("t") != OrganiserMessage.AUTH:
        late = f" within {AUTH_WAIT_S:g} seconds" if message is None else ""
        await _refuse(ws, FairdropError(ErrorCode.UNAUTHORIZED, _SEND_TOKEN + late))
        return False
    expected = ctx.settings.organiser_token
    # Constant-time, as for the bearer token (web/auth.py); an unset token matches nothing.
    if not (expected and hmac.compare_digest(token.encode(), expected.encode())):
        await _refuse(ws, FairdropError(ErrorCode.FORBIDDEN, "organiser token is not valid"))
        return False
    return True


async def organiser_socket(ws: WebSocket) -> None:
    """An organiser's socket, for its whole life."""
    ctx = context_of(ws)
    if not same_origin(ws, ctx.settings):  # the fan socket's rule
        await ws.close(code=CLOSE_POLICY)
        return
    await ws.accept()
    if not await _authenticated(ws, ctx):
        return
    event_id = ws.path_params["event_id"]
    try:
        raws, live = await asyncio.gather(
            read_samples(ctx.client, event_id), snapshot(ctx.scripts, event_id)
        )
    except REDIS_DOWN:  # 4503: the page tries again, as the fan's page does
        await _refuse(ws, redis_down())
        return
    if live is None:
        await _refuse(ws, FairdropError(ErrorCode.UNKNOWN_EVENT, f"no event {event_id}"))
        return
    figures = orjson.dumps(figures_of(live))
    await ws.send_text(_samples_message(OrganiserMessage.HISTORY, raws, figures))
    feed = feeds_of(ws).feed_for(event_id)
    feed.add(ws, _second_of(raws[-1]) if raws else 0)
    try:
        await _read_until_closed(ws, ctx)
    except WebSocketDisconnect:
        pass
    finally:
        feed.remove(ws)


async def _read_until_closed(ws: WebSocket, ctx: WebContext) -> None:
    """The page only pings; a flood or an oversized message closes the socket."""
    max_per_second = ctx.settings.max_ws_messages_per_second
    recent: list[float] = []
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        if flooded(recent, time.monotonic(), max_per_second):
            flood = f"more than {max_per_second} messages a second"
            await _refuse(ws, FairdropError(ErrorCode.TOO_MANY_MESSAGES, flood), CLOSE_POLICY)
            return
        data = message_data(message)
        if (refused := too_large(data, ctx.settings.max_ws_message_bytes)) is not None:
            await _refuse(ws, refused, CLOSE_TOO_LARGE)
            return
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(data)
            if isinstance(parsed, dict) and parsed.get("t") == OrganiserMessage.PING:
                await ws.send_text(_PONG)
                continue
        await ws.send_text(_error(ErrorCode.INVALID_FIELD, 'the page only sends {"t":"ping"}'))


ORGANISER_SOCKET = WebSocketRoute("/ws/organiser/{event_id}", organiser_socket)
routes = [ORGANISER_SOCKET]
