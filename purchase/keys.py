"""Every Redis key the purchase package names itself, built in one place.

The sale's own keys (holds, stock, requests, ...) are ``queue_engine.keys.EventKeys``;
these are the purchase package's additions, tagged with the sale's ``{e:<id>}``
hash tag like the rest of its keys.
"""

from __future__ import annotations

from queue_engine.keys import EventKeys


def order_email_key(event_id: str, order_id: str) -> str:
    """String: the order's confirmation email, "sending" while a worker sends it,
    "sent" once it went out."""
    return f"{EventKeys(event_id).tag}:order_email:{order_id}"
