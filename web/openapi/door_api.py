"""Tickets and the door in the OpenAPI document.

A ticket looked up by its secret code, the door tokens the organiser hands
to staff, and checking tickets in with one of them.
"""

from __future__ import annotations

from typing import Any

from web.door import MAX_DOOR_NAME
from web.openapi.parts import (
    ERROR,
    EVENT_ID,
    list_of,
    op,
    or_null,
    path_param,
    text,
    whole,
)
from web.tickets import TICKET_CODE

_CODE = path_param("code", {"type": "string", "pattern": whole(TICKET_CODE)})
_TOKEN_ID = path_param("token_id")
# Either token: one event's door token, or the organiser's (every event).
_DOOR: list[dict[str, list[str]]] = [{"door": []}, {"organiser": []}]

SCHEMAS: dict[str, Any] = {
    "Ticket": {
        "type": "object",
        "properties": {
            **{
                k: {"type": "string"}
                for k in (
                    "code",
                    "event_id",
                    "event_name",
                    "ticket_type_id",
                    "ticket_type",
                    "order_id",
                    "order_status",
                )
            },
            "valid": {
                "type": "boolean",
                "description": "false once the order is not paid or the ticket was resold",
            },
            "listed": {"type": "boolean", "description": "put back for resale: not at the door"},
            "voided": {"type": "boolean", "description": "resold: its seat has a new code"},
            "checked_in_at": {"type": ["string", "null"], "format": "date-time"},
            "checked_in_by": {"type": ["string", "null"], "description": "the door"},
        },
    },
    "CheckInIn": {
        "type": "object",
        "required": ["code"],
        "properties": {
            "code": _CODE["schema"],
            "door": or_null(
                text(
                    MAX_DOOR_NAME,
                    description="this door's name; required unless the door token names its "
                    "door, which then is recorded instead",
                )
            ),
        },
    },
    "DoorTokenIn": {
        "type": "object",
        "description": "optional: an empty body makes a token for any door of the event",
        "properties": {"door": or_null(text(MAX_DOOR_NAME))},
    },
    "DoorToken": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "event_id": {"type": "string"},
            "door": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "NewDoorToken": {
        "allOf": [
            {"$ref": "#/components/schemas/DoorToken"},
            {
                "type": "object",
                "properties": {
                    "token": {
                        "type": "string",
                        "description": "the bearer token for /door; shown in this answer only",
                    }
                },
            },
        ]
    },
    "DoorTokenList": list_of("door_tokens", "DoorToken"),
    "DoorStaff": {
        "type": "object",
        "properties": {
            "all_events": {
                "type": "boolean",
                "description": "true for the organiser's token, which works at every event",
            },
            "event_id": {"type": ["string", "null"]},
            "event_name": {"type": ["string", "null"]},
            "door": {"type": ["string", "null"]},
        },
    },
    "CheckIn": {
        "allOf": [
            {"$ref": "#/components/schemas/Ticket"},
            {
                "type": "object",
                "properties": {
                    "result": {"type": "string", "enum": ["valid", "already_used", "void"]}
                },
            },
        ]
    },
}

PATHS: dict[str, Any] = {
    "/api/tickets/{code}": {
        "get": op("A ticket, by its secret code", "200", "Ticket", params=[_CODE])
    },
    "/api/tickets/{code}/qr.svg": {
        "get": {
            "summary": "The QR code of a ticket's code",
            "parameters": [_CODE],
            "responses": {
                "200": {"description": "OK", "content": {"image/svg+xml": {}}},
                "4XX": ERROR,
            },
        }
    },
    "/api/events/{event_id}/door-tokens": {
        "post": op(
            "Make a door token for this event (and one door of it, if named)",
            "201",
            "NewDoorToken",
            params=[EVENT_ID],
            body="DoorTokenIn",
            body_required=False,
            organiser=True,
        ),
        "get": op(
            "The event's door tokens, revoked ones included (no secrets)",
            "200",
            "DoorTokenList",
            params=[EVENT_ID],
            organiser=True,
        ),
    },
    "/api/events/{event_id}/door-tokens/{token_id}/revoke": {
        "post": op(
            "Revoke a door token: refused from its next use on (revoking again changes nothing)",
            "200",
            "DoorToken",
            params=[EVENT_ID, _TOKEN_ID],
            organiser=True,
        )
    },
    "/api/door/whoami": {
        "get": {
            **op("Which event and door this token checks tickets in for", "200", "DoorStaff"),
            "security": _DOOR,
        }
    },
    "/api/door/check-in": {
        "post": {
            **op(
                "Check a ticket in at a door (a door token: its event's tickets only)",
                "200",
                "CheckIn",
                body="CheckInIn",
            ),
            "security": _DOOR,
        }
    },
}
