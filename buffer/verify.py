"""Recomputes a published draw from public data alone (``fairdrop verify-draw``).

Only HTTP GETs of what the server publishes, then the algorithm of
docs/fairness.md (``buffer.order``): the standard library, httpx, drand's
signature check and the receipt's Ed25519 check, nothing from Redis and no
numpy, so it runs anywhere. Besides the order it checks what only an outsider
can: that the commitment is the one the public event shows and the one the
caller saw before the drop (``expect_seed_hash``), that the beacon value is
drand's, and that an entry the server signed a receipt for is in the list
(a receipt of a resale round: buffer/verify_round.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from buffer.beacon import BeaconChain, BeaconError, BeaconValue, verify_value
from buffer.order import (
    ALGORITHM,
    ALGORITHMS,
    PROMISE_UNSTEERABLE,
    draw_key,
    draw_order,
    seed_commitment,
)
from fairdrop.receipts import Receipt, ReceiptError, check_receipt


class VerifyError(Exception):
    """The URL gave nothing to verify (unreachable, not a draw, unknown event): one line."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entrants: int
    reason: str
    facts: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"verified": self.ok, "entrants": self.entrants, "reason": self.reason, **self.facts}


@dataclass(frozen=True)
class PublishedDraw:
    """What the draw document reveals, enough to recompute every number."""

    algorithm: str
    seed: str
    seed_hash: str
    digest: str
    randomness: str = ""  # v2: the beacon value mixed into the key; "" without one

    def key(self) -> bytes:
        return draw_key(self.algorithm, self.seed, self.randomness)


def check_published_draw(
    draw: PublishedDraw, published: list[tuple[int, str]], first: int = 1
) -> Verdict:
    """Whether the published numbers are the ones the committed seed (and beacon)
    give: ``first`` for the first in the order, and so on (1 for the sale's draw,
    the block's first number for a resale round's)."""
    if seed_commitment(draw.seed) != draw.seed_hash:
        return Verdict(False, len(published), "the revealed seed does not match its commitment")
    fans = [fan_id for _, fan_id in published]
    if len(set(fans)) != len(fans):
        return Verdict(False, len(published), "an entrant appears twice")
    expected, recomputed_digest = draw_order(draw.key(), fans)
    if recomputed_digest != draw.digest:
        return Verdict(False, len(published), "the entrant list does not match its digest")
    numbers = sorted(published)
    if [n for n, _ in numbers] != list(range(first, first + len(numbers))):
        block = "1..N" if first == 1 else f"{first}..{first}+N-1"
        return Verdict(False, len(published), f"queue numbers are not exactly {block}")
    for (number, fan_id), want in zip(numbers, expected, strict=True):
        if fan_id != want:
            return Verdict(False, len(published), f"queue number {number} went to the wrong fan")
    return Verdict(True, len(published), "every queue number matches the committed seed")


def get_json(client: httpx.Client, url: str, what: str) -> dict[str, Any]:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise VerifyError(f"cannot reach {url}: {exc}") from exc
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = None
    if response.status_code == 404:
        detail = body.get("message") if isinstance(body, dict) else None
        raise VerifyError(f"no such {what} at {url}" + (f" ({detail})" if detail else ""))
    if response.status_code != 200 or not isinstance(body, dict):
        raise VerifyError(f"{url} is not a fairdrop {what} (HTTP {response.status_code})")
    return body


def beacon_value(info: dict[str, Any]) -> tuple[str, str]:
    """The beacon randomness the key mixes in, checked against drand's signature
    offline; and what the draw then promises, in words."""
    beacon = info.get("beacon")
    if info.get("promise") != PROMISE_UNSTEERABLE:
        why = (beacon or {}).get("reason") or "the sale had no beacon"
        return "", f"committed seed only: no beacon value ({why})"
    if not isinstance(beacon, dict):
        raise BeaconError("the draw promises a beacon value but publishes none")
    value = BeaconValue(int(beacon["round"]), str(beacon["randomness"]), str(beacon["signature"]))
    verify_value(BeaconChain.from_json(beacon), value)
    return value.randomness, f"unsteerable: drand round {value.round}, signature checked"


def receipt_in_list(
    receipt: Receipt,
    info: dict[str, Any],
    published: list[tuple[int, str]],
    listed: bool,
    where: str = "the list",
) -> tuple[bool, str]:
    """Whether a checked entry receipt agrees with a published draw ``info`` (the
    sale's or a round's) and its list, and why; ``listed``: whether the receipt
    promises the entry a line in ``published``."""
    if receipt.event_id != info.get("event_id"):
        return False, f"the receipt is for event {receipt.event_id!r}, not this one"
    if receipt.seed_hash != info.get("seed_hash"):
        return False, (
            f"the commitment changed after this entry: the receipt's seed hash is "
            f"{receipt.seed_hash}, the draw's is {info.get('seed_hash')}"
        )
    round_ = (info.get("beacon") or {}).get("round")
    if receipt.beacon_round is not None and receipt.beacon_round != round_:
        return False, f"the beacon round changed after this entry (from {receipt.beacon_round})"
    number = next((n for n, entry in published if entry == receipt.entry_id), None)
    if listed and number is None:
        return False, f"entry {receipt.entry_id} has a signed receipt but is missing from {where}"
    if listed and receipt.number and number != receipt.number:
        return False, (
            f"entry {receipt.entry_id} was signed number {receipt.number}, {where} says {number}"
        )
    if number is None:
        return True, f"entry {receipt.entry_id} joined after the drop, behind the draw"
    return True, f"entry {receipt.entry_id} is number {number} in {where}"


def receipt_in_draw(
    receipt: Receipt, info: dict[str, Any], published: list[tuple[int, str]]
) -> tuple[bool, str]:
    """Whether a checked entry receipt agrees with the sale's published draw, and why."""
    wrong = receipt_draw_mismatch(receipt, None)
    if wrong:
        return False, wrong
    # A receipt from the window ("buffered"), or one naming a drawn number,
    # promises a line in the list; a later join's number comes after it.
    listed = receipt.status == "buffered" or 0 < receipt.number <= len(published)
    return receipt_in_list(receipt, info, published, listed)


def receipt_draw_mismatch(receipt: Receipt, round_number: int | None) -> str | None:
    """Why the receipt is of another draw than the one asked about (the sale's
    own when ``round_number`` is None), saying which to check instead; or None.

    Not a verdict on the server: the receipt proves nothing about this draw,
    either way."""
    if receipt.round == round_number:
        return None
    if receipt.round is None:
        return "the receipt is of the sale's own draw, not a resale round: check it without --round"
    asked = "the sale's own draw" if round_number is None else f"round {round_number}"
    return (
        f"the receipt is of resale round {receipt.round}, not {asked}: "
        f"check it with --round {receipt.round}"
    )


def receipt_to_check(
    client: httpx.Client,
    draw_url: str,
    receipt: object,
    receipt_key: str | None,
    round_number: int | None,
) -> tuple[Receipt | None, str | None]:
    """``receipt`` (parsed JSON, or None for none) checked with ``receipt_key``
    (hex) or else the key the server serves, and why it does not check (None
    when it does). VerifyError when it is of another draw than the one asked
    about (the sale's own when ``round_number`` is None)."""
    if receipt is None:
        return None, None
    try:
        key = (
            receipt_key or get_json(client, _receipt_key_url(draw_url), "receipt key")["public_key"]
        )
        checked = check_receipt(receipt, str(key))
    except ReceiptError as exc:
        return None, f"the receipt does not check: {exc}"
    other_draw = receipt_draw_mismatch(checked, round_number)
    if other_draw:
        raise VerifyError(other_draw)
    return checked, None


def entrant_lines(client: httpx.Client, url: str) -> list[tuple[int, str]]:
    published: list[tuple[int, str]] = []
    with client.stream("GET", url) as response:
        if response.status_code != 200:
            raise VerifyError(f"the entrant list at {url} answered HTTP {response.status_code}")
        for line in response.iter_lines():
            if line:
                number, fan_id = line.split(" ", 1)
                published.append((int(number), fan_id))
    return published


def verify_draw(
    url: str,
    expect_seed_hash: str | None = None,
    receipt: object = None,
    receipt_key: str | None = None,
    timeout: float = 60.0,
) -> Verdict:
    """``url`` is the event's draw document, e.g. http://host/api/events/<id>/draw.

    ``expect_seed_hash``: the commitment the caller saw before the drop;
    ``receipt``: a fan's entry receipt (parsed JSON), checked with
    ``receipt_key`` (hex), or else the key the server serves.
    Raises VerifyError when there is nothing to verify at all.
    """
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        info = get_json(client, url, "event draw")
        if "seed_hash" not in info or "algorithm" not in info:
            raise VerifyError(f"{url} is not a fairdrop draw document")
        facts: dict[str, Any] = {
            "algorithm": info.get("algorithm"),
            "event_id": info.get("event_id"),
        }
        event = get_json(client, url.rstrip("/").removesuffix("/draw"), "event")
        mismatch = _commitment_mismatch(info, event, expect_seed_hash)
        if mismatch:
            return Verdict(False, 0, mismatch, facts)
        if info["algorithm"] not in ALGORITHMS:
            return Verdict(False, 0, f"unknown draw algorithm {info['algorithm']!r}", facts)
        checked, unchecked = receipt_to_check(client, url, receipt, receipt_key, None)
        if unchecked:
            return Verdict(False, 0, unchecked, facts)
        if not info.get("drawn"):
            return Verdict(False, 0, "the draw has not happened yet", facts)
        published = entrant_lines(client, str(info["entrants_url"]))
    if len(published) != info.get("entrants"):
        return Verdict(False, len(published), "the entrant list is incomplete", facts)
    randomness = ""
    if info["algorithm"] == ALGORITHM:
        try:
            randomness, facts["promise"] = beacon_value(info)
        except (BeaconError, KeyError, ValueError, TypeError) as exc:
            return Verdict(False, len(published), f"the beacon value does not check: {exc}", facts)
    draw = PublishedDraw(
        info["algorithm"], info["seed"], info["seed_hash"], info["entrants_digest"], randomness
    )
    verdict = check_published_draw(draw, published)
    if checked is not None:
        ok, facts["receipt"] = receipt_in_draw(checked, info, published)
        if not ok:
            return Verdict(False, len(published), facts["receipt"], facts)
    return Verdict(verdict.ok, verdict.entrants, verdict.reason, facts)


def _commitment_mismatch(
    info: dict[str, Any], event: dict[str, Any], expected: str | None
) -> str | None:
    """Why the draw's commitment is not the one published before the drop, or None."""
    if event.get("seed_hash") != info["seed_hash"]:
        return (
            f"the draw's seed hash {info['seed_hash']} is not the public event's "
            f"{event.get('seed_hash')}"
        )
    if expected is not None and expected.strip().lower() != info["seed_hash"]:
        return f"the draw's seed hash {info['seed_hash']} is not the expected {expected.strip()}"
    return None


def _receipt_key_url(draw_url: str) -> str:
    base = draw_url.split("/api/events/", 1)[0]
    return f"{base}/api/receipt-key"
