"""The organiser's part of the OpenAPI document: making sales and running them.

Creating and listing events, who may enter and the list behind it, pausing,
orders and refunds, the ticket export and the blocklist.
"""

from __future__ import annotations

from typing import Any

from fairdrop.identity import ACCESS_POLICIES
from fairdrop.settings import POW_MAX
from web import organiser
from web.blocklist import MAX_ENTRIES as MAX_BLOCKLIST_ENTRIES
from web.client_address import MAX_NETWORK_CHARS
from web.openapi.parts import (
    ERROR,
    EVENT_ID,
    ORGANISER,
    SLUG,
    WHEN,
    json_content,
    list_of,
    op,
    path_param,
    text,
    whole,
)
from web.validation import CURRENCY

_ORDER_ID = path_param("order_id")
_ACCESS = {
    "type": "string",
    "enum": list(ACCESS_POLICIES),
    "description": "who may enter: anyone (open), a proven email (email), an OpenID Connect "
    "login (login), or only identities on the organiser's list (list)",
}
_POW_DIFFICULTY = {
    "type": "integer",
    "minimum": 0,
    "maximum": POW_MAX,
    "description": "proof of work asked of each new entrant's browser: the ALTCHA maxnumber "
    "(SHA-256 hashes it may try, half on average); 0 asks none. Default: "
    "FAIRDROP_POW_DEFAULT for open sales, 0 for the others",
}
_LIST_MODE = {
    "name": "mode",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["replace", "add"], "default": "replace"},
}
_CSV = {"text/csv": {"schema": {"type": "string"}}}
RATE = {
    "type": "integer",
    "minimum": 1,
    "maximum": organiser.MAX_RATE_PER_MIN,
    "description": "fans admitted per minute",
}
CAP = {
    "type": "integer",
    "minimum": 1,
    "maximum": organiser.MAX_CAP,
    "description": "most fans shopping at once",
}
HOLD_SECONDS = {
    "type": "integer",
    "minimum": organiser.MIN_HOLD_SECONDS,
    "maximum": organiser.MAX_HOLD_SECONDS,
}
NULL_TEXT = {"type": ["string", "null"]}


def _csv_download(summary: str) -> dict[str, Any]:
    """An organiser's GET of one event's CSV file."""
    return {
        "summary": summary,
        "parameters": [EVENT_ID],
        "responses": {"200": {"description": "OK", "content": _CSV}, "4XX": ERROR},
        "security": ORGANISER,
    }


SCHEMAS: dict[str, Any] = {
    "TicketTypeIn": {
        "type": "object",
        "required": ["name", "price_cents", "currency", "stock", "per_person_limit"],
        "properties": {
            "id": SLUG,
            "name": text(organiser.MAX_NAME),
            "price_cents": {"type": "integer", "minimum": 0, "maximum": organiser.MAX_PRICE_CENTS},
            "currency": {"type": "string", "pattern": whole(CURRENCY)},
            "stock": {"type": "integer", "minimum": 1, "maximum": organiser.MAX_STOCK},
            "per_person_limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": organiser.MAX_PER_PERSON,
            },
        },
    },
    "EventIn": {
        "type": "object",
        "required": [
            "name",
            "opens_at",
            "drop_at",
            "rate_per_min",
            "cap",
            "hold_seconds",
            "ticket_types",
        ],
        "properties": {
            "id": {**SLUG, "description": "8 random hex digits when absent"},
            "name": text(organiser.MAX_NAME),
            "opens_at": {**WHEN, "description": "the buffer window opens"},
            "drop_at": {**WHEN, "description": "the window closes and the draw runs"},
            "rate_per_min": RATE,
            "cap": CAP,
            "hold_seconds": HOLD_SECONDS,
            "access": _ACCESS,
            "pow_difficulty": _POW_DIFFICULTY,
            "ticket_types": {
                "type": "array",
                "minItems": 1,
                "maxItems": organiser.MAX_TYPES,
                "items": {"$ref": "#/components/schemas/TicketTypeIn"},
                "description": "one currency for all; the dearest order one fan could make "
                "(each type's price_cents times its per_person_limit, or its stock if smaller, "
                f"summed) may cost at most {organiser.MAX_ORDER_CENTS} cents",
            },
        },
    },
    "ListImport": {
        "type": "object",
        "properties": {
            k: {"type": "integer"}
            for k in ("added", "updated", "removed", "total", "emails", "ids")
        },
    },
    "AccessIn": {
        "type": "object",
        "required": ["access"],
        "properties": {"access": _ACCESS},
    },
    "Event": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "access": _ACCESS,
            "pow_difficulty": _POW_DIFFICULTY,
            "name": {"type": "string"},
            "opens_at": {"type": "string"},
            "drop_at": {"type": "string"},
            "rate_per_min": {"type": "integer"},
            "cap": {"type": "integer"},
            "hold_seconds": {"type": "integer"},
            "seed_hash": {"type": "string"},
            "state": {"type": "string"},
            "paused": {"type": "boolean"},
            "ticket_types": {"type": "array", "items": {"type": "object"}},
        },
    },
    "EventList": list_of("events", "Event"),
    "Stats": {
        "type": "object",
        "properties": {
            k: {"type": "integer"}
            for k in (
                "buffered",
                "queued",
                "admitted",
                "shopping",
                "held",
                "sold",
                "remaining_total",
                "round",
                "round_drop_at",
                "round_entered",
            )
        }
        | {
            "round_state": {
                "type": "string",
                "enum": ["", "buffering", "drawing"],
                "description": "the latest resale round's: open, being drawn, or none open",
            }
        },
    },
    "Order": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "event_id": {"type": "string"},
            "status": {"type": "string", "enum": ["paid", "refunding", "refunded"]},
            "total_cents": {"type": "integer"},
            "currency": {"type": "string"},
            "payment_provider": {"type": "string"},
            "refund_ref": NULL_TEXT,
            "email": NULL_TEXT,
            "buyer": NULL_TEXT,
            "created_at": {"type": "string", "format": "date-time"},
            "discount_code": NULL_TEXT,
            "discount_cents": {"type": "integer", "description": "taken off total_cents already"},
            "tickets": {
                "type": "array",
                "description": "in the list only",
                "items": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "type": {"type": "string"},
                        "checked_in_at": {"type": ["string", "null"], "format": "date-time"},
                        "checked_in_by": NULL_TEXT,
                    },
                },
            },
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "quantity": {"type": "integer"}},
                },
            },
        },
    },
    "Blocklist": {
        "type": "object",
        "required": ["entries"],
        "additionalProperties": False,
        "properties": {
            "entries": {
                "type": "array",
                "maxItems": MAX_BLOCKLIST_ENTRIES,
                "items": {
                    "type": "string",
                    "maxLength": MAX_NETWORK_CHARS,
                    "description": "an IPv4 or IPv6 address, or a CIDR block with no bits "
                    "set past its prefix (198.51.100.7, 203.0.113.0/24, 2001:db8::/32)",
                },
            }
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/events": {
        "post": op("Create an event and its sale", "201", "Event", body="EventIn", organiser=True),
        "get": op("List events", "200", "EventList", organiser=True),
    },
    "/api/events/{event_id}/stats": {
        "get": op("Live figures", "200", "Stats", params=[EVENT_ID], organiser=True)
    },
    "/api/events/{event_id}/pause": {
        "post": op(
            "Pause admission and new holds", "200", "Stats", params=[EVENT_ID], organiser=True
        )
    },
    "/api/events/{event_id}/access": {
        "post": op(
            "Change who may enter (only before the window opens)",
            "200",
            "Event",
            params=[EVENT_ID],
            body="AccessIn",
            organiser=True,
        )
    },
    "/api/events/{event_id}/access-list": {
        "post": {
            "summary": "Import the event's list (CSV: email and/or id, allowance); "
            "?mode=replace (default) or add. Allowances change; purchases stay.",
            "parameters": [EVENT_ID, _LIST_MODE],
            "requestBody": {"required": True, "content": _CSV},
            "responses": {"200": {"description": "OK", **json_content("ListImport")}, "4XX": ERROR},
            "security": ORGANISER,
        }
    },
    "/api/events/{event_id}/access-list.csv": {
        "get": _csv_download("The event's list as CSV, with each id's personal sign-in link")
    },
    "/api/events/{event_id}/resume": {
        "post": op("Resume the sale", "200", "Stats", params=[EVENT_ID], organiser=True)
    },
    "/api/events/{event_id}/orders/{order_id}/cancel": {
        "post": op(
            "Refund a paid order; its tickets go back on sale and stop working",
            "200",
            "Order",
            params=[EVENT_ID, _ORDER_ID],
            organiser=True,
        )
    },
    "/api/events/{event_id}/export.csv": {
        "get": _csv_download(
            "Every ticket of the event, one CSV row each: order, status, buyer identity, "
            "type, price, code, check-in (cells a spreadsheet would run as a formula "
            "start with ')"
        )
    },
    "/api/blocklist": {
        "get": op(
            "The addresses and blocks whose fans are refused (403 blocked)",
            "200",
            "Blocklist",
            organiser=True,
        ),
        "put": op(
            "Replace the blocklist; every web process follows within about a second",
            "200",
            "Blocklist",
            body="Blocklist",
            organiser=True,
        ),
    },
}
