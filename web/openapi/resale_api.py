"""Resale at face value in the OpenAPI document: a ticket's buyer puts it back."""

from __future__ import annotations

from typing import Any

from web.openapi.parts import EVENT_ID, op, path_param, whole
from web.tickets import TICKET_CODE

_CODE_SCHEMA = {"type": "string", "pattern": whole(TICKET_CODE)}

SCHEMAS: dict[str, Any] = {
    "ResaleIn": {
        "type": "object",
        "required": ["code"],
        "properties": {"code": _CODE_SCHEMA},
    },
    "ResaleListing": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "code": {"type": "string"},
            "ticket_type_id": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["listed", "resold"],
                "description": "resold once a buyer paid for its seat: the code is void",
            },
            "price_cents": {"type": "integer", "description": "what the seller paid: the refund"},
            "currency": {"type": "string"},
            "listed_at": {"type": "string", "format": "date-time"},
            "resold_at": {"type": ["string", "null"], "format": "date-time"},
            "refund_ref": {
                "type": ["string", "null"],
                "description": "the seller's refund at the payment provider, once made",
            },
        },
    },
    "TicketResale": {
        "type": "object",
        "properties": {
            "yours": {
                "type": "boolean",
                "description": "the session's fan bought this ticket and so may put it back",
            },
            "listing": {
                "oneOf": [{"$ref": "#/components/schemas/ResaleListing"}, {"type": "null"}],
                "description": "its listing, shown to its buyer only",
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/events/{event_id}/resale": {
        "post": op(
            "Put a ticket back for resale at face value (its buyer's session only): its "
            "seat goes to the next fans in line, and once a buyer pays the code is void "
            "and the seller refunded what they paid",
            "201",
            "ResaleListing",
            params=[EVENT_ID],
            body="ResaleIn",
        )
    },
    "/api/events/{event_id}/resale/{code}": {
        "get": op(
            "Whether the session's fan bought this ticket, and its resale listing",
            "200",
            "TicketResale",
            params=[EVENT_ID, path_param("code", _CODE_SCHEMA)],
        )
    },
}
