"""A room: all of one web process's sockets for one event, fed by one subscription.

The clock publishes one progress per change (and a heartbeat) on the event's
channel; the room encodes the shared part once and sends the same
``progress`` text to every socket. A socket gets its own full ``status`` only
when its place changes (web/places.py), and the worker's answers to a fan go
to that fan's sockets only, each with its new status inside (one frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from buffer.arrivals import AddressShare, join, queue_numbers
from fairdrop.connections import AsyncSaleRedis
from fairdrop.protocol import (
    BEFORE_NUMBERS,
    FAN_FIELD,
    FANS_FIELD,
    STATUS_FIELD,
    FanPlace,
    MessageType,
    SaleState,
    SignedAdmission,
)
from fairdrop.tokens import Admission, Signer
from queue_engine.keys import EventKeys
from queue_engine.odds import admission_wait_s
from queue_engine.sales import snapshot
from queue_engine.scripts import AsyncScripts
from web.places import (
    ADMITTED,
    BUSY,
    JOIN_BUFFERED,
    JOIN_NOT_OPEN,
    JOIN_QUEUED,
    QUEUED,
    WAITING_ROOM,
    FanSocket,
    fan_state,
    next_admission_of,
    place_of,
    shared_fields,
)
from web.rejoin import RestoreWatch, join_again
from web.sending import send_all
from web.subscription import channel_messages

log = logging.getLogger("fairdrop.live")

# A room sends the shared progress at most this often, unless the sale's state
# or pause changes. During a burst of holds stock moves every clock tick, and
# each broadcast costs ~20 us of CPU per socket (most of it the socket's write
# system call); the latest progress is what goes out, so nothing is lost, and
# heartbeats still arrive within their period (a broadcast waits only when the
# previous one was less than the gap ago).
MIN_BROADCAST_GAP_S = 0.5
# A large room spaces its broadcasts further, so that they take at most this
# share of the process's time: the holds and admissions, which go to one fan
# each and never wait for a gap, keep the rest. Measured on the end-to-end hold
# bench (py-spy): broadcasts were 13-20 % of a web process's CPU with 3,000 sockets.
BROADCAST_SHARE = 0.1
# ... but never further apart than this: every fan must hear from the room
# within the heartbeat period (2 s, the clock's heartbeat 1.8 s), and a
# broadcast waits at most the gap after the one before.
MAX_BROADCAST_GAP_S = 1.5
# How often a room being stopped cancels its listener again.
STOP_RECHECK_S = 0.5
# How every progress message starts: the shared figures follow.
_PROGRESS_START = '{"t":"' + MessageType.PROGRESS + '",'
# Phases in which a queued fan's place moves only with the shared counter.
_UNSTEADY = frozenset({SaleState.SOLD_OUT, SaleState.SCHEDULED})
# What a broadcast may not wait for (Room._sale_key): state, paused, nothing left, round state.
SaleKey = tuple[Any, bool, bool, Any]


@dataclass(frozen=True)
class RoomServices:
    """What a room needs from its process: Redis, the scripts, the signer, the share."""

    client: AsyncSaleRedis
    scripts: AsyncScripts
    signer: Signer
    # Each address's share of new anonymous entrants (web/rate_limits.py).
    share: AddressShare


def _to_sockets(pairs: Iterable[tuple[FanSocket, str]]) -> None:
    send_all((sock.ws, text) for sock, text in pairs)


class Room:
    """All of this process's sockets for one event, fed by one subscription."""

    def __init__(self, services: RoomServices, event_id: str) -> None:
        self.services = services
        self.event_id = event_id
        self.sockets: set[FanSocket] = set()
        # A tuple, not a set: a fan has one socket or a few, and an empty set
        # alone is 216 bytes per fan (a one-item tuple 48).
        self.by_fan: dict[str, tuple[FanSocket, ...]] = {}
        self.progress: dict[str, Any] = {}
        self._shared = ""
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._broadcast_at = 0.0  # loop time of the last shared progress
        self._gap = MIN_BROADCAST_GAP_S  # from the last broadcast's cost (BROADCAST_SHARE)
        self._broadcast_key: SaleKey = (None, False, False, None)  # its _sale_key()
        self._deferred: asyncio.TimerHandle | None = None
        self._restores = RestoreWatch(services.client, event_id)  # web/rejoin.py

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name=f"room-{self.event_id}")
        # Subscribe before the first snapshot, so no change falls between them.
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)
        await self._restores.prime()
        first = await snapshot(self.services.scripts, self.event_id)
        if first is not None and not self.progress:
            self._set_progress(first)

    async def stop(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
        task = self._task
        if task is not None:
            # Cancelled again until it ends: a cancel that lands inside
            # redis-py's timed read can be swallowed there, and one wait
            # for the task then hung the room's stop for good (seen in a
            # failover test).
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=STOP_RECHECK_S)
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def add(self, sock: FanSocket) -> None:
        # The step that let this fan in may have gone by while its socket was
        # joining: seen now, or its first status would say "your turn has
        # ended" before the turn began (and a page that believes it leaves).
        if self.progress:
            sock.see_progress(self.progress)
        self.sockets.add(sock)
        self.by_fan[sock.fan_id] = (*self.by_fan.get(sock.fan_id, ()), sock)

    def remove(self, sock: FanSocket) -> None:
        self.sockets.discard(sock)
        peers = tuple(s for s in self.by_fan.get(sock.fan_id, ()) if s is not sock)
        if peers:
            self.by_fan[sock.fan_id] = peers
        else:
            self.by_fan.pop(sock.fan_id, None)

    def _set_progress(self, progress: dict[str, Any]) -> None:
        self.progress = progress
        self._shared = shared_fields(progress)

    def progress_message(self, now_ms: int) -> str:
        """The one message every socket without a change of place gets (ProgressMessage)."""
        return _PROGRESS_START + self._shared + f',"now_ms":{now_ms}}}'

    async def _listen(self) -> None:
        channel = EventKeys(self.event_id).channel
        while True:
            # Sharded or plain by queue_engine/notify.py's rule (web/subscription.py).
            messages = channel_messages(self.services.client, channel, self._subscribed)
            try:
                async for data in messages:
                    await self._on_message(data)
                log.info("subscription to %s ended by the server; resubscribing", channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep the room alive across Redis hiccups and failovers
                log.exception("subscription to %s failed; resubscribing", channel)
                await asyncio.sleep(1)
            finally:
                await messages.aclose()

    async def _on_message(self, data: bytes | str) -> None:
        try:
            # orjson: every hold's answer passes here (and is encoded again below).
            message: dict[str, Any] = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        fan_id = message.get(FAN_FIELD)
        batch = message.get(FANS_FIELD)
        if isinstance(fan_id, str):
            self._to_fan(fan_id, message)
        elif isinstance(batch, list):
            # A worker's answers to many fans at once (queue_engine/notify.py),
            # most of them another process's fans: those are skipped unencoded.
            for each in batch:
                fan_id = each.get(FAN_FIELD) if isinstance(each, dict) else None
                if isinstance(fan_id, str) and fan_id in self.by_fan:
                    self._to_fan(fan_id, each)
        elif message.get("t") == MessageType.PROGRESS:
            await self._on_progress(message)

    def _to_fan(self, fan_id: str, message: dict[str, Any]) -> None:
        """The worker's answer to this fan's sockets, its new status inside (FanAnswer).

        One frame where there were two (the answer, then the status): each is
        a write system call, the largest part of a send's cost.
        """
        socks = list(self.by_fan.get(fan_id, ()))
        if not socks:
            return
        for sock in socks:
            sock.apply_fan_message(message)
        encoded = orjson.dumps({k: v for k, v in message.items() if k != FAN_FIELD}).decode()
        if not self.progress:  # no place to tell before the sale's first progress
            _to_sockets((s, encoded) for s in socks)
            return
        # The place changed too (holding, done): said in the same frame.
        start = encoded[:-1] + ("," if len(encoded) > 2 else "") + f'"{STATUS_FIELD}":'
        self._tell(socks, int(time.time() * 1000), start)

    async def _on_progress(self, progress: dict[str, Any]) -> None:
        self._set_progress(progress)
        if await self._restores.restored():  # Redis lost the sale: places again
            services = self.services
            await join_again(services.scripts, self.event_id, services.share, self.sockets)
        phase = progress.get("state")
        if phase != SaleState.SCHEDULED:
            await self._join_early_arrivals()
        if phase not in BEFORE_NUMBERS:
            await self._learn_drawn_numbers()
        now_ms = int(time.time() * 1000)
        moved = self._places_changed_by(progress, now_ms)
        # Their own status first: it carries the admission this step made.
        self._tell(moved, now_ms)
        self._broadcast_soon()

    def _broadcast_soon(self) -> None:
        """The shared progress to every socket now, or the latest one once the gap is over."""
        loop = asyncio.get_running_loop()
        wait = self._broadcast_at + self._gap - loop.time()
        if self._sale_key() != self._broadcast_key or wait <= 0:
            self._broadcast()
        elif self._deferred is None:
            self._deferred = loop.call_later(wait, self._broadcast)

    def _sale_key(self) -> SaleKey:
        """What must reach fans at once, never held back by the broadcast gap: the
        state, a pause, the moment nothing is left to hold (a fan whose turn
        it is learns at once that everything left is in other fans' baskets),
        and a resale round opening or closing (its window is seconds long)."""
        progress = self.progress
        nothing_left = not any((progress.get("remaining") or {}).values())
        round_state = progress.get("round_state")
        return progress.get("state"), bool(progress.get("paused")), nothing_left, round_state

    def _broadcast(self) -> None:
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        self._broadcast_at = asyncio.get_running_loop().time()
        self._broadcast_key = self._sale_key()
        shared = self.progress_message(int(time.time() * 1000))
        started = time.perf_counter()
        send_all((s.ws, shared) for s in self.sockets if s.told is not None)
        cost = time.perf_counter() - started
        self._gap = min(MAX_BROADCAST_GAP_S, max(MIN_BROADCAST_GAP_S, cost / BROADCAST_SHARE))

    def _places_changed_by(self, progress: dict[str, Any], now_ms: int) -> list[FanSocket]:
        """The sockets whose place this progress changes; each is marked to skip its broadcast."""
        serving = int(progress.get("serving") or 0)
        # Queued behind the counter (or waiting for the draw) in a sale still
        # selling: nothing to tell but the shared progress. The bulk of the fans
        # take this branch, so it stays a few comparisons.
        steady = progress.get("state") not in _UNSTEADY
        moved = []
        for sock in self.sockets:
            told = sock.told
            if steady and told is not None:
                if told[0] == QUEUED and sock.number > serving:
                    continue
                if told[0] == WAITING_ROOM and sock.number == 0:
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
        services = self.services
        # Picked first (the set may change while a join is awaited), and only
        # these: every progress passes here, so no copy of every socket.
        due = [
            sock
            for sock in self.sockets
            if sock.status == JOIN_NOT_OPEN or 0 < sock.address_free_at_ms <= now_ms
        ]
        for sock in due:
            sock.apply_entry(
                await join(services.scripts, self.event_id, sock.joiner, services.share)
            )

    async def _learn_drawn_numbers(self) -> None:
        waiting = [s for s in self.sockets if s.number == 0 and s.status == JOIN_BUFFERED]
        if not waiting:
            return
        numbers = await queue_numbers(
            self.services.client, self.event_id, [s.fan_id for s in waiting]
        )
        for sock, number in zip(waiting, numbers, strict=True):
            if number:
                sock.number = number
                sock.status = JOIN_QUEUED

    def status_message(self, sock: FanSocket, now_ms: int) -> str:
        """The socket's StatusMessage: its own place, then the shared figures encoded once."""
        state = fan_state(sock, self.progress, now_ms)
        serving = int(self.progress.get("serving") or 0)
        ahead = max(0, sock.number - serving - 1) if sock.number else None
        rate = int(self.progress.get("rate_per_min") or 0)
        wait_s = None
        if state == QUEUED and rate > 0 and not self.progress.get("paused"):
            next_admit = next_admission_of(self.progress)
            wait_s = admission_wait_s(ahead or 0, next_admit, rate, now_ms)
        elif state == BUSY:
            # Until this page's next try for a place (its address's share).
            wait_s = max(1, math.ceil((sock.address_free_at_ms - now_ms) / 1000))
        admission: SignedAdmission | None = None
        if state == ADMITTED:
            if sock.admission_token is None:
                sock.admission_token = self.services.signer.sign_admission(
                    Admission(self.event_id, sock.fan_id, sock.number, sock.deadline_ms)
                )
            admission = {"token": sock.admission_token, "deadline_ms": sock.deadline_ms}
        own: FanPlace = {
            "t": MessageType.STATUS,
            "state": state,
            "number": sock.number,
            "ahead": ahead,
            "wait_s": wait_s,
            "admission": admission,
            "hold_id": sock.hold_id,
            "now_ms": now_ms,
        }
        return orjson.dumps(own).decode()[:-1] + "," + self._shared + "}"

    async def _send_status(self, socks: list[FanSocket]) -> None:
        if not self.progress:
            return
        self._tell(socks, int(time.time() * 1000))

    def _tell(self, socks: list[FanSocket], now_ms: int, answer_start: str = "") -> None:
        """Each socket's full status, and what it now knows of its place.

        With ``answer_start`` (an answer's JSON object, open, up to its status
        field) the status goes inside that answer.
        """
        end = "}" if answer_start else ""
        _to_sockets((s, answer_start + self.status_message(s, now_ms) + end) for s in socks)
        for sock in socks:
            sock.told = place_of(sock, fan_state(sock, self.progress, now_ms))

    async def send_status(self, sock: FanSocket) -> None:
        """The socket's full status: the first message on connect, complete on its own."""
        await self._send_status([sock])
