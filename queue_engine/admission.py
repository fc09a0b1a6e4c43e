"""Ordered admission: one clock step per sale (tick.lua)."""

from __future__ import annotations

from dataclasses import dataclass

from queue_engine.notify import sharded_pubsub
from queue_engine.scripts import SyncScripts

# Bounds on one step keep every script call short even at a million fans.
MAX_ADMIT_PER_STEP = 500
MAX_EXPIRE_PER_STEP = 500


@dataclass(frozen=True)
class TickResult:
    state: str
    serving: int
    admitted: int
    expired_holds: int
    expired_admissions: int
    published: bool
    # A resale round should open (buffer/rounds.py), and the open round's state
    # ('buffering', 'drawing', '' for none).
    round_due: bool = False
    round_state: str = ""


def admit_next_batch(
    scripts: SyncScripts, event_id: str, heartbeat_ms: int, now_ms: int = 0
) -> TickResult:
    sharded = 1 if sharded_pubsub(scripts.client) else 0
    raw = scripts.run(
        "tick", event_id, now_ms, MAX_ADMIT_PER_STEP, MAX_EXPIRE_PER_STEP, heartbeat_ms, sharded
    )
    state = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
    if state == "unknown_event":  # deleted (or lost) since the clock listed it: a short reply
        return TickResult(state, 0, 0, 0, 0, False)
    round_state = raw[7].decode() if isinstance(raw[7], bytes) else str(raw[7])
    return TickResult(
        state,
        int(raw[1]),
        int(raw[2]),
        int(raw[3]),
        int(raw[4]),
        bool(raw[5]),
        bool(raw[6]),
        round_state,
    )
