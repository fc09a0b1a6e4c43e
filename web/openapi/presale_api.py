"""Presale links in the OpenAPI document: made by the organiser, used by a fan.

The organiser makes and lists them; a fan who has one holds tickets with it
at once, without a turn in the queue (web/presales.py).
"""

from __future__ import annotations

from typing import Any

from web.openapi.parts import EVENT_ID, ITEMS, SLUG, WHEN, list_of, op, or_null, path_param, text
from web.presales import MAX_LINK_TICKETS

_LINK_ID = path_param("link_id")

SCHEMAS: dict[str, Any] = {
    "PresaleLinkIn": {
        "type": "object",
        "required": ["allowance", "expires_at"],
        "properties": {
            "label": or_null(text(200)),
            "allowance": {"type": "integer", "minimum": 1, "maximum": MAX_LINK_TICKETS},
            "expires_at": {**WHEN, "description": "in the future"},
            "ticket_type": or_null({**SLUG, "description": "one type's id; any type if absent"}),
        },
    },
    "PresaleLink": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "label": {"type": "string"},
            "allowance": {"type": "integer"},
            "left": {"type": ["integer", "null"]},
            "used": {"type": ["integer", "null"]},
            "ticket_type": {"type": ["string", "null"]},
            "expires_at": {"type": "string"},
            "link": {"type": "string", "description": "the fan page URL with the link"},
        },
    },
    "PresaleLinkList": list_of("links", "PresaleLink"),
    "PresaleHoldIn": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": ITEMS},
    },
    "HoldAnswer": {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "hold": {"type": "object"}},
    },
}

PATHS: dict[str, Any] = {
    "/api/events/{event_id}/presale-links": {
        "post": op(
            "Make a presale link: up to allowance tickets, until expires_at, maybe one type",
            "201",
            "PresaleLink",
            params=[EVENT_ID],
            body="PresaleLinkIn",
            organiser=True,
        ),
        "get": op(
            "Every presale link of the event and how much of each is used",
            "200",
            "PresaleLinkList",
            params=[EVENT_ID],
            organiser=True,
        ),
    },
    "/api/events/{event_id}/presale/{link_id}": {
        "get": op(
            "A presale link as its fan sees it (what is left, until when)",
            "200",
            "PresaleLink",
            params=[EVENT_ID, _LINK_ID],
        )
    },
    "/api/events/{event_id}/presale/{link_id}/holds": {
        "post": op(
            "Hold tickets through a presale link, at once (no queue turn needed)",
            "200",
            "HoldAnswer",
            params=[EVENT_ID, _LINK_ID],
            body="PresaleHoldIn",
            limited=True,
        )
    },
}
