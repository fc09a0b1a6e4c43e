"""Recomputes a resale round's published draw (``fairdrop verify-draw URL --round N``).

A resale round (buffer/rounds.py) is drawn as the sale is, under its own seed
committed when the round opened, and numbers a block starting at its
``first_number``. This checks, from public GETs alone as buffer/verify.py does
for the sale: the round's seed against its commitment (and the one the caller
saw when the round opened), that the beacon is the sale's chain at a round
after the window closed and that its value is drand's, the entrant digest,
and every number of the block; and, given a fan's receipt of an entry in the
round (fairdrop/receipts.py, version 2), that it is signed, names this round's
commitment and beacon round, and that the entry is in the block (at its signed
number, if it has one).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from buffer.beacon import BeaconError
from buffer.order import ALGORITHM, ALGORITHMS
from buffer.verify import (
    PublishedDraw,
    Verdict,
    VerifyError,
    beacon_value,
    check_published_draw,
    entrant_lines,
    get_json,
    receipt_in_list,
    receipt_to_check,
)

# What makes two beacons the same drand chain.
_CHAIN = ("chain_hash", "public_key", "scheme", "period", "genesis_time")


def round_url(draw_url: str, round_number: int) -> str:
    """The round's document, from the sale's draw document's URL."""
    return f"{draw_url.rstrip('/')}/rounds/{round_number}"


def _beacon_mismatch(sale: dict[str, Any], info: dict[str, Any]) -> str | None:
    """Why the round's beacon cannot be trusted before its value is checked, or None:
    it must be on the sale's chain (a chain of the operator's own would let it pick
    the value) and at a round that did not exist until the round's window closed."""
    beacon, sale_beacon = info.get("beacon"), sale.get("beacon")
    if not isinstance(beacon, dict):
        return None
    if not isinstance(sale_beacon, dict):
        return "the round has a beacon but the sale's draw has none"
    if any(beacon.get(part) != sale_beacon.get(part) for part in _CHAIN):
        return "the round's beacon is not on the sale's drand chain"
    drop_at = datetime.fromisoformat(str(info["drop_at"])).timestamp()
    if not int(beacon["round_time"]) > drop_at:
        return f"beacon round {beacon['round']} was out before the round's window closed"
    return None


def _round_mismatch(
    sale: dict[str, Any], info: dict[str, Any], round_number: int, expected: str | None
) -> str | None:
    """Why the round document cannot be this round of this sale, or None."""
    if info.get("round") != round_number or info.get("event_id") != sale.get("event_id"):
        return f"the document is not round {round_number} of event {sale.get('event_id')}"
    if expected is not None and expected.strip().lower() != info["seed_hash"]:
        return f"the round's seed hash {info['seed_hash']} is not the expected {expected.strip()}"
    if info["algorithm"] not in ALGORITHMS:
        return f"unknown draw algorithm {info['algorithm']!r}"
    return _beacon_mismatch(sale, info)


def verify_round(
    url: str,
    round_number: int,
    expect_seed_hash: str | None = None,
    receipt: object = None,
    receipt_key: str | None = None,
    timeout: float = 60.0,
) -> Verdict:
    """``url`` is the sale's draw document (http://host/api/events/<id>/draw);
    ``expect_seed_hash`` the round's commitment as the caller saw it when it opened;
    ``receipt`` a fan's receipt of an entry in this round (parsed JSON), checked
    with ``receipt_key`` (hex) or else the key the server serves.
    Raises VerifyError when there is nothing to verify at all, and when the
    receipt is of another draw (the message says which to check)."""
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        sale = get_json(client, url, "event draw")
        if "seed_hash" not in sale or "algorithm" not in sale:
            raise VerifyError(f"{url} is not a fairdrop draw document")
        facts: dict[str, Any] = {"round": round_number}
        # Before the round is asked for: a receipt of another round says which
        # to check, even when the one asked for does not exist.
        checked, unchecked = receipt_to_check(client, url, receipt, receipt_key, round_number)
        if unchecked:
            return Verdict(False, 0, unchecked, facts)
        info = get_json(client, round_url(url, round_number), f"round {round_number}")
        if "seed_hash" not in info or "algorithm" not in info:
            raise VerifyError(f"{round_url(url, round_number)} is not a fairdrop round document")
        facts |= {"algorithm": info.get("algorithm"), "event_id": info.get("event_id")}
        try:
            mismatch = _round_mismatch(sale, info, round_number, expect_seed_hash)
        except (KeyError, ValueError, TypeError) as exc:
            mismatch = f"the round's beacon or schedule is malformed: {exc!r}"
        if mismatch:
            return Verdict(False, 0, mismatch, facts)
        if not info.get("drawn"):
            return Verdict(False, 0, f"round {round_number} has not been drawn yet", facts)
        published = entrant_lines(client, str(info["entrants_url"]))
    if len(published) != info.get("entrants"):
        return Verdict(False, len(published), "the entrant list is incomplete", facts)
    randomness = ""
    if info["algorithm"] == ALGORITHM and published:
        try:
            randomness, facts["promise"] = beacon_value(info)
        except (BeaconError, KeyError, ValueError, TypeError) as exc:
            return Verdict(False, len(published), f"the beacon value does not check: {exc}", facts)
    first = facts["first_number"] = int(info["first_number"])
    draw = PublishedDraw(
        info["algorithm"], info["seed"], info["seed_hash"], info["entrants_digest"], randomness
    )
    verdict = check_published_draw(draw, published, first)
    if checked is not None:
        # Every entry a round's receipt names was in its window: its line is in the block.
        where = f"round {round_number}'s list"
        ok, facts["receipt"] = receipt_in_list(checked, info, published, True, where)
        if not ok:
            return Verdict(False, len(published), facts["receipt"], facts)
    return Verdict(verdict.ok, verdict.entrants, verdict.reason, facts)
