"""Recomputes a published draw from public data alone (``fairdrop verify-draw``).

Only HTTP GETs of what the server publishes, then the algorithm of
docs/fairness.md (``buffer.order.draw_order``): the standard library and
httpx, nothing from Redis and no numpy, so it runs anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

import httpx

from buffer.order import ALGORITHM, draw_order, seed_commitment


@dataclass(frozen=True)
class Verdict:
    ok: bool
    entrants: int
    reason: str


def check_published_draw(
    seed_hex: str, seed_hash: str, digest: str, published: list[tuple[int, str]]
) -> Verdict:
    """Whether the published numbers are the ones the committed seed gives."""
    if seed_commitment(seed_hex) != seed_hash:
        return Verdict(False, len(published), "the revealed seed does not match its commitment")
    fans = [fan_id for _, fan_id in published]
    if len(set(fans)) != len(fans):
        return Verdict(False, len(published), "an entrant appears twice")
    expected, recomputed_digest = draw_order(seed_hex, fans)
    if recomputed_digest != digest:
        return Verdict(False, len(published), "the entrant list does not match its digest")
    numbers = sorted(published)
    if [n for n, _ in numbers] != list(range(1, len(numbers) + 1)):
        return Verdict(False, len(published), "queue numbers are not exactly 1..N")
    for (number, fan_id), want in zip(numbers, expected, strict=True):
        if fan_id != want:
            return Verdict(False, len(published), f"queue number {number} went to the wrong fan")
    return Verdict(True, len(published), "every queue number matches the committed seed")


def verify_draw(url: str, timeout: float = 60.0) -> Verdict:
    """``url`` is the event's draw document, e.g. http://host/api/events/<id>/draw."""
    with httpx.Client(timeout=timeout) as client:
        info = client.get(url).raise_for_status().json()
        if info.get("algorithm") != ALGORITHM:
            return Verdict(False, 0, f"unknown draw algorithm {info.get('algorithm')!r}")
        if not info.get("drawn"):
            return Verdict(False, 0, "the draw has not happened yet")
        published: list[tuple[int, str]] = []
        with client.stream("GET", urljoin(url, info["entrants_url"])) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line:
                    number, fan_id = line.split(" ", 1)
                    published.append((int(number), fan_id))
    if len(published) != info.get("entrants"):
        return Verdict(False, len(published), "the entrant list is incomplete")
    return check_published_draw(info["seed"], info["seed_hash"], info["entrants_digest"], published)
