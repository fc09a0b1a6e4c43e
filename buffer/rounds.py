"""Resale rounds: tickets that come back after a sale sold out, drawn the same fair way.

While fans wait in line, a ticket that comes back (put back for resale, a
refund, a hold that ended, more stock) goes to the next of them in order.
Once the sale has sold out and nobody is left in line, giving it to whoever
asks first would give it to whoever polls fastest: a script. So the clock
opens a resale round instead (``round_due`` in queue_engine/lua/_prelude.lua):

1. :func:`open_round`: a fresh seed, its SHA-256 committed and public at once
   with the window's end and the beacon round the draw will mix in, before
   anyone has entered (``open_round.lua``).
2. For ``FAIRDROP_RESALE_ROUND_SECONDS`` every fan who comes, and every fan
   whose turn ended without buying who asks to queue again, enters the
   round's buffer (``join.lua``, ``queue_again.lua``); arriving first in the
   window gives no edge. The window freezes by time in whichever script runs
   first, and the round's block of queue numbers is kept right after every
   number given before, so whoever comes later is behind all of its entrants.
3. :func:`run_round_draw`: the frozen list's digest is published, then, once
   the beacon round is out, the entrants get the numbers of the block in the
   order of the sale's own algorithm (docs/fairness.md, ``buffer/order.py``)
   keyed by the round's seed and beacon value, and the seed is revealed
   (``round_draw.lua``). Admission then lets them in in that order.

A round nobody entered closes the rounds until the sale sells out again: with
no crowd there is nobody to be fair among. Each round's record (commitment,
schedule, digest, seed, beacon value) stays in the ``rounds`` hash, and
anyone can recompute its numbers from what the server publishes
(``fairdrop verify-draw --round N``).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from buffer.beacon import BeaconChain
from buffer.draw import (
    LEASE_MS,
    BeaconOutcome,
    beacon_outcome,
    fast_order_by_keys,
    owner_of,
    read_buffer,
    text_of,
    write_numbers,
)
from buffer.order import (
    ALGORITHM,
    digest_of_ordered,
    draw_key,
    draw_ranking,
    new_seed,
    seed_commitment,
)
from fairdrop.connections import SaleRedis
from fairdrop.settings import Settings
from queue_engine.keys import EventKeys
from queue_engine.scripts import SyncScripts

log = logging.getLogger("fairdrop.rounds")


@dataclass(frozen=True)
class RoundTiming:
    """How long a round's window stays open, and its beacon's margin and wait
    (``FAIRDROP_RESALE_ROUND_SECONDS`` and the sale's beacon settings)."""

    window_seconds: float = 60.0
    beacon_margin_seconds: float = 1.0
    beacon_wait_seconds: float = 20.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RoundTiming:
        return cls(
            settings.resale_round_seconds,
            settings.beacon_margin_seconds,
            settings.beacon_wait_seconds,
        )


def round_beacon(sale_beacon: str, drop_at_ms: int, margin_seconds: float) -> str:
    """The beacon a round mixes in, as JSON: the sale's chain, at the first round
    out after the window closes (plus the margin the sale's draw keeps), or ""
    when the sale draws without a beacon."""
    if not sale_beacon:
        return ""
    chain = BeaconChain.from_json(json.loads(sale_beacon))
    round_ = chain.round_after(drop_at_ms / 1000 + margin_seconds)
    return json.dumps({**chain.as_json(), "round": round_, "round_time": chain.round_time(round_)})


def open_round(scripts: SyncScripts, event_id: str, timing: RoundTiming, now_ms: int = 0) -> int:
    """Opens a resale round on a sale where one is due; its number, or 0 when
    none was (another clock opened it, or the tickets went meanwhile).
    ``now_ms`` 0 is Redis's clock, as for every script; tests pass their own."""
    client = scripts.client
    keys = EventKeys(event_id)
    window_ms = int(timing.window_seconds * 1000)
    # The beacon round comes out after the window closes, by Redis's clock (the
    # scripts') when no time is given: read it here, as the script will.
    opens_at = now_ms or _redis_now_ms(client, event_id)
    sale_beacon = text_of(client.hget(keys.meta, "beacon"))
    beacon = round_beacon(sale_beacon, opens_at + window_ms, timing.beacon_margin_seconds)
    seed = new_seed()
    opened = int(
        scripts.run(
            "open_round",
            event_id,
            now_ms,
            window_ms,
            seed,
            seed_commitment(seed),
            beacon,
            ALGORITHM,
        )
    )
    if opened:
        log.info("sale %s: resale round %d open for %d ms", event_id, opened, window_ms)
    return opened


def _redis_now_ms(client: SaleRedis, event_id: str) -> int:
    seconds, micros = owner_of(client, EventKeys(event_id).meta).time()
    return int(seconds) * 1000 + int(micros) // 1000


@dataclass(frozen=True)
class RoundDrawn:
    round: int
    entrants: int
    first_number: int
    digest: str


def round_record(client: SaleRedis, event_id: str, round_number: int) -> dict[str, Any] | None:
    """A round's public record (never its seed before the draw reveals it)."""
    raw = client.hget(EventKeys(event_id).rounds, str(round_number))
    if raw is None:
        return None
    record: dict[str, Any] = json.loads(text_of(raw))
    return record


def run_round_draw(
    scripts: SyncScripts, event_id: str, beacon_wait_seconds: float = 20.0, now_ms: int = 0
) -> RoundDrawn | None:
    """Draws the sale's frozen resale round; None while there is nothing to do
    yet (another clock holds the lease, or the beacon round is not out).

    Safe to repeat, as the sale's own draw is (buffer/draw.py ``run_draw``):
    the numbers depend only on the round's seed, its beacon value and the
    frozen list, so a second run writes the same ones.
    """
    client = scripts.client
    keys = EventKeys(event_id)
    round_state, number_text = map(text_of, client.hmget(keys.meta, ["round_state", "round"]))
    if round_state != "drawing":
        return None
    n = int(number_text)
    record = round_record(client, event_id, n)
    if record is None:
        raise RuntimeError(f"sale {event_id} has no record of round {n}")
    if "digest" not in record:
        frozen = read_buffer(client, keys, keys.round_buffer)
        scripts.run(
            "round_draw",
            event_id,
            "digest",
            n,
            len(frozen),
            digest_of_ordered(frozen),
            "",
            "",
            now_ms,
        )
        record = round_record(client, event_id, n) or record
    outcome = BeaconOutcome("", "", "")
    if record.get("entrants"):
        waited = beacon_outcome(record.get("beacon") or "", beacon_wait_seconds, time.time())
        if waited is None:
            return None
        outcome = waited
    if not client.set(f"{keys.draw_lease}:round:{n}", uuid.uuid4().hex, nx=True, px=LEASE_MS):
        return None
    seed = text_of(client.hget(keys.rounds, f"seed:{n}"))
    key = draw_key(str(record.get("algorithm") or ALGORITHM), seed, outcome.randomness)
    by_bytes = read_buffer(client, keys, keys.round_buffer)
    ranking, digest = draw_ranking(key, by_bytes, fast_order_by_keys)
    first = int(record["first_number"])
    write_numbers(client, keys, by_bytes, ranking, first)
    scripts.run(
        "round_draw",
        event_id,
        "finish",
        n,
        len(ranking),
        digest,
        outcome.beacon,
        outcome.promise,
        now_ms,
    )
    return RoundDrawn(n, len(ranking), first, digest)
