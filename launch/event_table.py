"""The organiser's sales as a plain-text table (``fairdrop events list``).

One line a sale, columns padded to their widest cell; times in UTC to the
second, states in words, tickets as left / stock over every type.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

COLUMNS = ("ID", "NAME", "STATE", "OPENS (UTC)", "DROP (UTC)", "ACCESS", "TICKETS LEFT")
# Longer names are cut with an ellipsis: a line a sale, even in an 80-column terminal.
MAX_NAME = 32


def events_table(events: Sequence[dict[str, Any]]) -> str:
    if not events:
        return "no sales yet (fairdrop events create makes one)"
    rows = [COLUMNS, *(_row(event) for event in events)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _row(event: dict[str, Any]) -> tuple[str, ...]:
    types = event.get("ticket_types") or []
    left = sum(int(t.get("remaining", 0)) for t in types)
    stock = sum(int(t.get("stock", 0)) for t in types)
    name = str(event.get("name", ""))
    if len(name) > MAX_NAME:
        name = name[: MAX_NAME - 1] + "…"
    state = str(event.get("state") or "unknown").replace("_", " ")
    if event.get("paused"):
        state += " (paused)"
    return (
        str(event.get("id", "")),
        name,
        state,
        _utc(event.get("opens_at")),
        _utc(event.get("drop_at")),
        str(event.get("access", "")),
        f"{left} / {stock}",
    )


def _utc(value: object) -> str:
    if not isinstance(value, str):
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")
