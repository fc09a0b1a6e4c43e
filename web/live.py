"""Live fan sockets: one Redis subscription per event per process, fanned out.

Every web process holds at most one pub/sub subscription per event (a
:class:`Room`). The clock publishes one ``progress`` message per change (and a
heartbeat); the room encodes it once and sends the same ``progress`` text to
every socket, and the page works out its own "ahead" and wait from its number.
A socket gets its own full ``status`` only when its place changes (its state,
its number after the draw, its admission and token, its hold): on connect, in
the step that changes it (before that step's ``progress``, so the page never
sees a serving counter past its number without its admission), and after each
message with a ``fan`` field (hold results, orders), which goes to that fan's
sockets only. Nothing here polls Redis per fan.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Coroutine, Iterable
from typing import Any

import redis.asyncio
from starlette.websockets import WebSocket, WebSocketState

from fairdrop.tokens import Admission, Signer
from queue_engine.joining import (
    ADDRESS_BUSY,
    NO_SHARE,
    AddressShare,
    Entry,
    Joiner,
    join,
    queue_numbers,
)
from queue_engine.keys import EventKeys
from queue_engine.sales import snapshot
from queue_engine.scripts import AsyncScripts

log = logging.getLogger("fairdrop.live")

SEND_TIMEOUT_S = 5.0
# A room sends the shared progress at most this often, unless the sale's state
# or pause changes. During a burst of holds stock moves every clock tick, and
# each broadcast costs ~25 us of CPU per socket; the latest progress is what
# goes out, so nothing is lost, and heartbeats still arrive within their period
# (a broadcast waits only when the previous one was less than this ago).
MIN_BROADCAST_GAP_S = 0.5
_STALLED_SENDS: set[asyncio.Task[None]] = set()
_NO_NUMBER_YET = {"scheduled", "buffering", "drawing"}


class FanSocket:
    """One open page of one fan, and what the server knows of that fan's place."""

    __slots__ = (
        "address_free_at_ms",
        "admission_token",
        "deadline_ms",
        "fan_id",
        "hold_id",
        "joiner",
        "number",
        "seen_serving",
        "status",
        "tickets",
        "told",
        "ws",
    )

    def __init__(self, ws: WebSocket, entry: Entry, joiner: Joiner) -> None:
        self.ws = ws
        self.fan_id = joiner.fan_id
        # What join.lua needs to place this fan again (queue_engine/joining.py).
        self.joiner = joiner
        self.deadline_ms = 0
        self.apply_entry(entry)
        # The serving counter this socket last knew: the step that moves it past
        # the fan's number is the fan's admission.
        self.seen_serving = entry.serving
        self.admission_token: str | None = None
        # The place this socket's page last heard in a full status (see ``place_of``).
        self.told: tuple[str, int, int, str] | None = None

    def apply_entry(self, entry: Entry) -> None:
        self.status = entry.status
        self.number = entry.number
        # While address_busy, when the room tries again; not an admission deadline.
        self.address_free_at_ms = entry.address_free_at_ms
        if not self.address_free_at_ms:
            self.deadline_ms = max(self.deadline_ms, entry.deadline_ms)
        self.hold_id = entry.hold_id
        self.tickets = entry.tickets

    def see_progress(self, progress: dict[str, Any]) -> None:
        serving = int(progress.get("serving") or 0)
        if self.seen_serving < self.number <= serving and self.deadline_ms == 0:
            # Admitted in the step this progress reports (tick.lua sets the
            # deadline to that step's time plus the hold time).
            self.deadline_ms = int(progress.get("at") or 0) + int(progress.get("hold_ms") or 0)
        self.seen_serving = max(self.seen_serving, serving)

    def apply_fan_message(self, message: dict[str, Any]) -> None:
        """Keep the place up to date with what the worker told this fan."""
        kind = message.get("t")
        hold = message.get("hold")
        if kind == "hold_result" and message.get("ok") and isinstance(hold, dict):
            self.hold_id = str(hold["id"])
            self.deadline_ms = int(hold["expires_at"])
        elif kind == "order" and message.get("ok"):
            self.tickets += len(message.get("tickets", []))
            self.hold_id = ""
            self.deadline_ms = 0
        elif kind == "released" or _ends_hold(message):
            self.hold_id = ""
            self.deadline_ms = 0


def _ends_hold(message: dict[str, Any]) -> bool:
    """A failed or cancelled payment let the hold go, or a late payment was refunded."""
    if message.get("ok") is not False:
        return False
    kind = message.get("t")
    return (kind == "payment" and bool(message.get("released"))) or (
        kind == "order" and message.get("code") == "refunded"
    )


def fan_state(sock: FanSocket, progress: dict[str, Any], now_ms: int) -> str:
    """The state a fan's page shows, from the shared progress and the fan's place."""
    phase = str(progress.get("state"))
    serving = int(progress.get("serving") or 0)
    if sock.status == "not_open" or phase == "scheduled":
        return "not_open"
    if sock.status == ADDRESS_BUSY:
        return ADDRESS_BUSY
    if sock.number == 0:
        return "sold_out" if phase == "sold_out" else "waiting_room"
    if sock.number > serving:
        return "sold_out" if phase == "sold_out" else "queued"
    if sock.hold_id or sock.deadline_ms > now_ms:
        return "admitted"
    if sock.tickets > 0:
        return "done"
    return "sold_out" if phase == "sold_out" else "turn_over"


def wait_seconds(ahead: int, rate_per_min: int) -> int:
    """The wait for ``ahead`` fans at this rate, rounded half up in whole integers.

    static/queue.js computes the same from each ``progress`` message, so the
    page and a full status never disagree by a rounding mode.
    """
    return (ahead * 60 + rate_per_min // 2) // rate_per_min


def place_of(sock: FanSocket, state: str) -> tuple[str, int, int, str]:
    """What a full status tells a page that a ``progress`` message cannot: with
    address_busy, when the room tries to place it again."""
    when = {"admitted": sock.deadline_ms, ADDRESS_BUSY: sock.address_free_at_ms}.get(state, 0)
    return (state, sock.number, when, sock.hold_id)


def shared_fields(progress: dict[str, Any]) -> str:
    """The part of every status message that is the same for all fans, encoded once."""
    remaining: dict[str, int] = progress.get("remaining") or {}
    total = sum(remaining.values())
    fields = {
        "event_state": progress.get("state"),
        "serving": progress.get("serving"),
        "remaining": remaining,
        "remaining_total": total,
        "tickets_may_return": total == 0 and int(progress.get("held") or 0) > 0,
        "paused": bool(progress.get("paused")),
        "opens_at": progress.get("opens_at"),
        "drop_at": progress.get("drop_at"),
        "rate_per_min": progress.get("rate_per_min"),
    }
    return json.dumps(fields, separators=(",", ":"))[1:-1]


class Room:
    """All of this process's sockets for one event, fed by one subscription."""

    def __init__(self, hub: LiveHub, event_id: str) -> None:
        self.hub = hub
        self.event_id = event_id
        self.sockets: set[FanSocket] = set()
        self.by_fan: dict[str, set[FanSocket]] = {}
        self.progress: dict[str, Any] = {}
        self._shared = ""
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._broadcast_at = 0.0  # loop time of the last shared progress
        self._broadcast_key: tuple[Any, bool] = (None, False)  # its _sale_key()
        self._deferred: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name=f"room-{self.event_id}")
        # Subscribe before the first snapshot, so no change falls between them.
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)
        first = await snapshot(self.hub.scripts, self.event_id)
        if first is not None and not self.progress:
            self._set_progress(first)

    async def stop(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def add(self, sock: FanSocket) -> None:
        self.sockets.add(sock)
        self.by_fan.setdefault(sock.fan_id, set()).add(sock)

    def remove(self, sock: FanSocket) -> None:
        self.sockets.discard(sock)
        peers = self.by_fan.get(sock.fan_id)
        if peers is not None:
            peers.discard(sock)
            if not peers:
                del self.by_fan[sock.fan_id]

    def _set_progress(self, progress: dict[str, Any]) -> None:
        self.progress = progress
        self._shared = shared_fields(progress)

    def progress_message(self, now_ms: int) -> str:
        """The one message every socket without a change of place gets."""
        return '{"t":"progress",' + self._shared + f',"now_ms":{now_ms}}}'

    async def _listen(self) -> None:
        channel = EventKeys(self.event_id).channel
        while True:
            pubsub = self.hub.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                self._subscribed.set()
                async for message in pubsub.listen():
                    await self._on_message(message["data"])
            except asyncio.CancelledError:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            except Exception:  # keep the room alive across Redis hiccups
                log.exception("subscription to %s failed; resubscribing", channel)
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(1)

    async def _on_message(self, data: bytes | str) -> None:
        try:
            message: dict[str, Any] = json.loads(data)
        except ValueError:
            return
        fan_id = message.get("fan")
        if isinstance(fan_id, str):
            await self._to_fan(fan_id, message)
        elif message.get("t") == "progress":
            await self._on_progress(message)

    async def _to_fan(self, fan_id: str, message: dict[str, Any]) -> None:
        socks = list(self.by_fan.get(fan_id, ()))
        if not socks:
            return
        for sock in socks:
            sock.apply_fan_message(message)
        encoded = json.dumps({k: v for k, v in message.items() if k != "fan"})
        _send_all((s, encoded) for s in socks)
        # The place changed too (holding, done): say so in the same breath.
        await self._send_status(socks)

    async def _on_progress(self, progress: dict[str, Any]) -> None:
        self._set_progress(progress)
        phase = progress.get("state")
        if phase != "scheduled":
            await self._join_early_arrivals()
        if phase not in _NO_NUMBER_YET:
            await self._learn_drawn_numbers()
        now_ms = int(time.time() * 1000)
        moved = self._places_changed_by(progress, now_ms)
        # Their own status first: it carries the admission this step made.
        self._tell(moved, now_ms)
        self._broadcast_soon()

    def _broadcast_soon(self) -> None:
        """The shared progress to every socket now, or the latest one once the gap is over."""
        loop = asyncio.get_running_loop()
        wait = self._broadcast_at + MIN_BROADCAST_GAP_S - loop.time()
        if self._sale_key() != self._broadcast_key or wait <= 0:
            self._broadcast()
        elif self._deferred is None:
            self._deferred = loop.call_later(wait, self._broadcast)

    def _sale_key(self) -> tuple[Any, bool]:
        """What must reach fans at once, never held back by the broadcast gap."""
        return self.progress.get("state"), bool(self.progress.get("paused"))

    def _broadcast(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        self._broadcast_at = asyncio.get_running_loop().time()
        self._broadcast_key = self._sale_key()
        shared = self.progress_message(int(time.time() * 1000))
        _send_all((s, shared) for s in self.sockets if s.told is not None)

    def _places_changed_by(self, progress: dict[str, Any], now_ms: int) -> list[FanSocket]:
        """The sockets whose place this progress changes; each is marked to skip its broadcast."""
        serving = int(progress.get("serving") or 0)
        # Queued behind the counter (or waiting for the draw) in a sale still
        # selling: nothing to tell but the shared progress. The bulk of the fans
        # take this branch, so it stays a few comparisons.
        steady = progress.get("state") not in {"sold_out", "scheduled"}
        moved = []
        for sock in self.sockets:
            told = sock.told
            if steady and told is not None:
                if told[0] == "queued" and sock.number > serving:
                    continue
                if told[0] == "waiting_room" and sock.number == 0:
                    continue
            sock.see_progress(progress)
            if told is None or place_of(sock, fan_state(sock, progress, now_ms)) != told:
                moved.append(sock)
                sock.told = None  # told below, after its own status
        return moved

    async def _join_early_arrivals(self) -> None:
        """Pages opened before the window now join it, as if they had just arrived;
        and pages that waited for their address's share try again once it is due."""
        now_ms = int(time.time() * 1000)
        for sock in self.sockets.copy():
            if sock.status == "not_open" or 0 < sock.address_free_at_ms <= now_ms:
                entry = await join(self.hub.scripts, self.event_id, sock.joiner, self.hub.share)
                sock.apply_entry(entry)

    async def _learn_drawn_numbers(self) -> None:
        waiting = [s for s in self.sockets if s.number == 0 and s.status == "buffered"]
        if not waiting:
            return
        numbers = await queue_numbers(self.hub.client, self.event_id, [s.fan_id for s in waiting])
        for sock, number in zip(waiting, numbers, strict=True):
            if number:
                sock.number = number
                sock.status = "queued"

    def status_message(self, sock: FanSocket, now_ms: int) -> str:
        state = fan_state(sock, self.progress, now_ms)
        serving = int(self.progress.get("serving") or 0)
        ahead = max(0, sock.number - serving - 1) if sock.number else None
        rate = int(self.progress.get("rate_per_min") or 0)
        wait_s = None
        if state == "queued" and rate > 0 and not self.progress.get("paused"):
            wait_s = wait_seconds(ahead or 0, rate)
        elif state == ADDRESS_BUSY:
            # Until this page's next try for a place (its address's share).
            wait_s = max(1, math.ceil((sock.address_free_at_ms - now_ms) / 1000))
        admission = None
        if state == "admitted":
            if sock.admission_token is None:
                sock.admission_token = self.hub.signer.sign_admission(
                    Admission(self.event_id, sock.fan_id, sock.number, sock.deadline_ms)
                )
            admission = {"token": sock.admission_token, "deadline_ms": sock.deadline_ms}
        own = {
            "t": "status",
            "state": state,
            "number": sock.number,
            "ahead": ahead,
            "wait_s": wait_s,
            "admission": admission,
            "hold_id": sock.hold_id,
            # The server's clock, so a page with a wrong clock still counts down right.
            "now_ms": now_ms,
        }
        return json.dumps(own, separators=(",", ":"))[:-1] + "," + self._shared + "}"

    async def _send_status(self, socks: list[FanSocket]) -> None:
        if not self.progress:
            return
        self._tell(socks, int(time.time() * 1000))

    def _tell(self, socks: list[FanSocket], now_ms: int) -> None:
        """Each socket's full status, and what it now knows of its place."""
        _send_all((s, self.status_message(s, now_ms)) for s in socks)
        for sock in socks:
            sock.told = place_of(sock, fan_state(sock, self.progress, now_ms))

    async def send_status(self, sock: FanSocket) -> None:
        """The socket's full status: the first message on connect, complete on its own."""
        await self._send_status([sock])


def _send_all(pairs: Iterable[tuple[FanSocket, str]]) -> None:
    """Sends each text, one socket after another, without a task per socket.

    A send to a socket whose buffer has room completes without waiting (uvicorn
    writes the frame to the transport at once), so the loop starts each send
    itself and only a send that has to wait (a slow reader whose buffer is
    full) gets a task of its own. Per-socket tasks cost more CPU than the sends
    (py-spy: task creation and ``wait_for`` were a third of a broadcast).
    """
    for sock, text in pairs:
        if sock.ws.client_state != WebSocketState.CONNECTED:
            continue
        sending = sock.ws.send_text(text)
        try:
            waiting_on = sending.send(None)
        except StopIteration:
            continue
        except Exception:  # a gone client: its own handler cleans up
            continue
        task = asyncio.ensure_future(_finish_send(sending, waiting_on))
        # The loop keeps only weak references to tasks.
        _STALLED_SENDS.add(task)
        task.add_done_callback(_STALLED_SENDS.discard)


async def _finish_send(sending: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Drives a send that had to wait, as a task would; gives up after SEND_TIMEOUT_S."""
    sent = False
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            while not sent:
                if isinstance(waiting_on, asyncio.Future):
                    # What a task does with a future its coroutine yields.
                    waiting_on._asyncio_future_blocking = False
                    await asyncio.wait([waiting_on])
                else:  # a bare yield: give the loop one turn
                    await asyncio.sleep(0)
                try:
                    waiting_on = sending.send(None)
                except StopIteration:
                    sent = True
    except Exception:  # a slow or gone client must not hold up the others
        pass
    finally:
        if not sent:
            sending.close()


class LiveHub:
    """This process's rooms, created on the first socket of an event."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        scripts: AsyncScripts,
        signer: Signer,
        share: AddressShare = NO_SHARE,
    ) -> None:
        self.client = client
        self.scripts = scripts
        self.signer = signer
        # Each address's share of new anonymous entrants (web/rate_limits.py).
        self.share = share
        self.rooms: dict[str, Room] = {}
        self._lock = asyncio.Lock()

    async def room_for(self, event_id: str) -> Room:
        room = self.rooms.get(event_id)
        if room is not None:
            return room
        async with self._lock:
            room = self.rooms.get(event_id)
            if room is None:
                room = Room(self, event_id)
                await room.start()
                self.rooms[event_id] = room
        return room

    def socket_count(self) -> int:
        return sum(len(r.sockets) for r in self.rooms.values())

    async def close(self) -> None:
        for room in self.rooms.values():
            await room.stop()
        self.rooms.clear()
