"""The demo's ``metrics_ok``: ``/metrics`` scraped once the drop is over, its
counts set against what Redis and the database hold.

Every figure on the right-hand side is read from the sale's own state, not
from the demo's bookkeeping:

- joins: every join call of a fan's own that join.lua answered is tallied
  by join.lua too, once (buffer/entry_tallies.py: placed, or refused by
  reason), so the joins counted, all outcomes but ``address_busy`` (whose
  tally also counts the web's early refusals) and ``unknown_event`` (never
  tallied), equal the tallies of the same outcomes;
- admissions: the sale's serving counter (queue numbers run 1, 2, ... and
  the clock lets them in in order);
- holds held: the holds in the sale's Redis (every hold stays there, ended or sold);
- payments succeeded: orders in PostgreSQL; refunded: refunds recorded there.

With one sale on the stack, as in the demo, the stack-wide counters are that sale's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from buffer.entry_tallies import Tallies, read_tallies
from fairdrop.connections import async_redis
from fairdrop.settings import Settings
from launch.demo_payments import count_payments
from queue_engine.keys import EventKeys

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
# join.lua's refusals, each counted by the web as the join's outcome of the same name.
_ANSWERED_REFUSALS = ("not_open", "sign_in_required", "not_on_list", "sold_out", "duplicate")


def scrape(base_url: str, token: str) -> Samples:
    """Every sample of ``GET /metrics``, by name and labels."""
    response = httpx.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    response.raise_for_status()
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def answered_joins(samples: Samples) -> int:
    """Join calls join.lua answered and tallied: every outcome but the two it does not tally."""
    every = total(samples, "fairdrop_joins_total")
    untallied = sum(
        total(samples, "fairdrop_joins_total", outcome=outcome)
        for outcome in ("address_busy", "unknown_event")
    )
    return round(every - untallied)


def tallied_joins(tallies: Tallies) -> int:
    """The same join calls as join.lua tallied them: placed, or refused by it."""
    placed = sum(tallies.drawn.values()) + sum(tallies.late.values())
    return placed + sum(tallies.refused[reason] for reason in _ANSWERED_REFUSALS)


async def _sale_state(settings: Settings, event_id: str) -> tuple[Tallies, int]:
    client = async_redis(settings, max_connections=2)
    try:
        holds = await client.hlen(EventKeys(event_id).holds)
        return await read_tallies(client, event_id), int(holds)
    finally:
        await client.aclose()


def metrics_figures(
    settings: Settings, base_url: str, summary: Mapping[str, Any]
) -> dict[str, Any]:
    """``metrics_ok`` and the pairs it compared (counted, found) for the demo's last line.

    ``summary`` is the demo's: its event id, the sale's serving counter
    (``admitted``, from the organiser's stats) and ``orders_in_db``.
    """
    samples = scrape(base_url, settings.metrics_token)
    event_id = str(summary["event_id"])
    tallies, holds = asyncio.run(_sale_state(settings, event_id))
    _, refunded = count_payments(settings, event_id)
    pairs = {
        "joins": (answered_joins(samples), tallied_joins(tallies)),
        "admissions": (round(total(samples, "fairdrop_admissions_total")), summary["admitted"]),
        "holds": (round(total(samples, "fairdrop_holds_total", answer="held")), holds),
        "payments_succeeded": (
            round(total(samples, "fairdrop_payments_total", outcome="succeeded")),
            summary["orders_in_db"],
        ),
        "payments_refunded": (
            round(total(samples, "fairdrop_payments_total", outcome="refunded")),
            len(refunded),
        ),
    }
    return {
        "metrics_ok": all(counted == found for counted, found in pairs.values()),
        "metrics_compared": {name: list(pair) for name, pair in pairs.items()},
    }
