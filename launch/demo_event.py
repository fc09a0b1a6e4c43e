"""The demo's sale, made through the organiser API as an organiser's page makes it:
one ticket type, its window and admission pace, and what the fans must do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def create_demo_event(
    base_url: str,
    organiser_token: str,
    tickets: int = 100,
    window_seconds: float = 60.0,
    rate_per_min: int = 120,
    cap: int = 50,
    hold_seconds: int = 300,
    per_person_limit: int = 4,
    access: str = "open",
    opens_in_seconds: float = 0.0,
    pow_difficulty: int | None = None,
) -> dict[str, Any]:
    """A demo sale; ``pow_difficulty`` None leaves the proof of work to the server's default."""
    opens = datetime.now(UTC) + timedelta(seconds=opens_in_seconds)
    body: dict[str, Any] = {
        "name": "fairdrop demo night",
        "access": access,
        "opens_at": _iso(opens),
        "drop_at": _iso(opens + timedelta(seconds=window_seconds)),
        "rate_per_min": rate_per_min,
        "cap": cap,
        "hold_seconds": hold_seconds,
        "ticket_types": [
            {
                "id": "ga",
                "name": "General admission",
                "price_cents": 4500,
                "currency": "EUR",
                "stock": tickets,
                "per_person_limit": per_person_limit,
            }
        ],
    }
    if pow_difficulty is not None:
        body["pow_difficulty"] = pow_difficulty
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post(
            "/api/events", json=body, headers={"Authorization": f"Bearer {organiser_token}"}
        )
        response.raise_for_status()
        event: dict[str, Any] = response.json()
        return event
