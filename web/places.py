"""A fan's place as one of its sockets knows it, and the state its page shows.

The server keeps, per open socket, what it last learnt of the fan's place
(:class:`FanSocket`): the join's entry, the serving counter it last saw, the
worker's answers to this fan. :func:`fan_state` turns that and the sale's
shared progress into the page's :class:`~fairdrop.protocol.FanState`, and
:func:`place_of` is what a full ``status`` tells a page beyond a
``progress`` message (web/rooms.py sends one only when it changes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.websockets import WebSocket

from buffer.arrivals import Entry, Joiner
from fairdrop.errors import ErrorCode
from fairdrop.protocol import EntryStatus, FanState, MessageType, SaleState
from queue_engine.odds import next_admission_ms

# What a page last heard of its place: (state, number, deadline or retry time, hold id).
Place = tuple[FanState, int, int, str]

# The names below run per socket per broadcast: bound once, since looking up an
# enum member on its class costs more than the comparison itself (Python 3.11).
NOT_OPEN, WAITING_ROOM, BUSY = FanState.NOT_OPEN, FanState.WAITING_ROOM, FanState.ADDRESS_BUSY
QUEUED, ADMITTED, TURN_OVER = FanState.QUEUED, FanState.ADMITTED, FanState.TURN_OVER
DONE, SOLD_OUT = FanState.DONE, FanState.SOLD_OUT
SCHEDULED, SALE_SOLD_OUT = SaleState.SCHEDULED, SaleState.SOLD_OUT
JOIN_NOT_OPEN, JOIN_BUSY = EntryStatus.NOT_OPEN, EntryStatus.ADDRESS_BUSY
JOIN_BUFFERED, JOIN_QUEUED = EntryStatus.BUFFERED, EntryStatus.QUEUED
JOIN_SOLD_OUT = EntryStatus.SOLD_OUT


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
        # What join.lua needs to place this fan again (buffer/arrivals.py).
        self.joiner = joiner
        self.deadline_ms = 0
        self.apply_entry(entry)
        # The serving counter this socket last knew: the step that moves it past
        # the fan's number is the fan's admission.
        self.seen_serving = entry.serving
        self.admission_token: str | None = None
        # The place this socket's page last heard in a full status (see ``place_of``).
        self.told: Place | None = None

    def apply_entry(self, entry: Entry) -> None:
        # The join's EntryStatus; the room moves it from buffered to queued after the draw.
        self.status = entry.status
        self.number = entry.number
        # While address_busy, when the room tries again; not an admission deadline.
        self.address_free_at_ms = entry.address_free_at_ms
        if not self.address_free_at_ms:
            self.deadline_ms = max(self.deadline_ms, entry.deadline_ms)
        self.hold_id = entry.hold_id
        self.tickets = entry.tickets

    def place_again(self, entry: Entry) -> None:
        """The place a restored sale gives this fan (web/rejoin.py). What the
        socket knew went with Redis: an admission, its token and deadline, a
        hold; and its page is told the new place in full."""
        self.deadline_ms = 0
        self.admission_token = None
        self.apply_entry(entry)
        self.seen_serving = entry.serving
        self.told = None

    def see_progress(self, progress: Mapping[str, Any]) -> None:
        serving = int(progress.get("serving") or 0)
        if self.seen_serving < self.number <= serving and self.deadline_ms == 0:
            # Admitted in the step this progress reports (tick.lua sets the
            # deadline to that step's time plus the hold time).
            self.deadline_ms = int(progress.get("at") or 0) + int(progress.get("hold_ms") or 0)
        self.seen_serving = max(self.seen_serving, serving)

    def apply_fan_message(self, message: Mapping[str, Any]) -> None:
        """Keep the place up to date with what the worker told this fan."""
        kind = message.get("t")
        hold = message.get("hold")
        if kind == MessageType.HOLD_RESULT and message.get("ok") and isinstance(hold, dict):
            self.hold_id = str(hold["id"])
            self.deadline_ms = int(hold["expires_at"])
        elif kind == MessageType.ORDER and message.get("ok"):
            self.tickets += len(message.get("tickets", []))
            self.hold_id = ""
            self.deadline_ms = 0
        elif kind == MessageType.RELEASED or _ends_hold(message):
            self.hold_id = ""
            self.deadline_ms = 0


def _ends_hold(message: Mapping[str, Any]) -> bool:
    """A failed or cancelled payment let the hold go, or a late payment was refunded."""
    if message.get("ok") is not False:
        return False
    kind = message.get("t")
    return (kind == MessageType.PAYMENT and bool(message.get("released"))) or (
        kind == MessageType.ORDER and message.get("code") == ErrorCode.REFUNDED
    )


def fan_state(sock: FanSocket, progress: Mapping[str, Any], now_ms: int) -> FanState:
    """The state a fan's page shows, from the shared progress and the fan's place."""
    phase = progress.get("state")
    serving = int(progress.get("serving") or 0)
    if sock.status == JOIN_NOT_OPEN or phase == SCHEDULED:
        return NOT_OPEN
    if sock.status == JOIN_BUSY:
        return BUSY
    if sock.number == 0:
        # A fan turned away as sold out holds no place when tickets come back
        # (a resale round, buffer/rounds.py): their page offers to join, and
        # must not say they wait in a draw they are not in.
        if phase == SALE_SOLD_OUT or sock.status == JOIN_SOLD_OUT:
            return SOLD_OUT
        return WAITING_ROOM
    if sock.number > serving:
        return SOLD_OUT if phase == SALE_SOLD_OUT else QUEUED
    # Sold out ends a turn without a hold in the same step as the queue's wait:
    # there is nothing left to buy, and no live hold that could bring any back.
    if sock.hold_id or (sock.deadline_ms > now_ms and phase != SALE_SOLD_OUT):
        return ADMITTED
    if sock.tickets > 0:
        return DONE
    return SOLD_OUT if phase == SALE_SOLD_OUT else TURN_OVER


def place_of(sock: FanSocket, state: FanState) -> Place:
    """What a full status tells a page that a ``progress`` message cannot: with
    address_busy, when the room tries to place it again."""
    if state == ADMITTED:
        return (state, sock.number, sock.deadline_ms, sock.hold_id)
    if state == BUSY:
        return (state, sock.number, sock.address_free_at_ms, sock.hold_id)
    return (state, sock.number, 0, sock.hold_id)


def next_admission_of(progress: Mapping[str, Any]) -> int | None:
    """When the clock lets the next fan in at the rate, from its progress (tick.lua's bucket)."""
    return next_admission_ms(
        float(progress.get("tokens") or 0),
        int(progress.get("tokens_at") or 0),
        int(progress.get("rate_per_min") or 0),
    )


def shared_fields(progress: Mapping[str, Any]) -> str:
    """The part of every status message that is the same for all fans, encoded once
    (a JSON object's members, without its braces)."""
    remaining: dict[str, int] = progress.get("remaining") or {}
    total = sum(remaining.values())
    serving = int(progress.get("serving") or 0)
    # SaleFigures's fields (tests/web/test_live_socket.py holds the two to each other).
    fields = {
        "event_state": progress.get("state"),
        "serving": progress.get("serving"),
        "drawn": int(progress.get("drawn") or 0),
        "remaining": remaining,
        "remaining_total": total,
        "tickets_may_return": total == 0 and int(progress.get("held") or 0) > 0,
        "paused": bool(progress.get("paused")),
        "pause_message": progress.get("pause_message") or "",
        "opens_at": progress.get("opens_at"),
        "drop_at": progress.get("drop_at"),
        "rate_per_min": progress.get("rate_per_min"),
        # The fan's odds and wait (queue_engine/odds.py).
        "in_room": max(0, int(progress.get("last_number") or 0) - serving)
        + int(progress.get("shopping") or 0),
        "held": int(progress.get("held") or 0),
        "choosing": int(progress.get("choosing") or 0),
        "choosing_long": int(progress.get("choosing_long") or 0),
        "buyers": int(progress.get("buyers") or 0),
        "per_buyer": progress.get("per_buyer") or 0,
        "per_buyer_sd": progress.get("per_buyer_sd") or 0,
        "most_per_fan": int(progress.get("most_per_fan") or 1),
        "hold_return_share": progress.get("hold_return_share") or 0,
        "next_admit_ms": next_admission_of(progress),
        "admit_limit": progress.get("admit_limit") or "",
        "round": int(progress.get("round") or 0),
        "round_state": progress.get("round_state") or "",
        "round_drop_at": int(progress.get("round_drop_at") or 0),
        "round_entered": int(progress.get("round_entered") or 0),
    }
    return json.dumps(fields, separators=(",", ":"))[1:-1]
