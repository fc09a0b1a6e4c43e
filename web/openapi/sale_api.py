"""The running sale's part of the OpenAPI document: steering it, its change log,
finding its orders a page at a time, and its check-ins per door."""

from __future__ import annotations

from typing import Any

from purchase.models import PAUSE_MESSAGE_LENGTH
from purchase.order_search import MAX_PAGE, MAX_QUERY_CHARS
from web import organiser, sale_steering
from web.openapi.organiser_api import CAP, HOLD_SECONDS, NULL_TEXT, RATE
from web.openapi.parts import EVENT_ID, NO_CONTROL_PATTERN, WHEN, list_of, op, text
from web.order_list import DEFAULT_PAGE, MAX_ORDER_ID_CHARS

_ORDER_SEARCH = [
    {
        "name": "q",
        "in": "query",
        "required": False,
        "description": "an order id or its start, any part of the buyer's email "
        "(any case), or a whole ticket code",
        "schema": {"type": "string", "maxLength": MAX_QUERY_CHARS, "pattern": NO_CONTROL_PATTERN},
    },
    {
        "name": "after",
        "in": "query",
        "required": False,
        "description": "the previous page's next_after",
        "schema": {
            "type": "string",
            "maxLength": MAX_ORDER_ID_CHARS,
            "pattern": NO_CONTROL_PATTERN,
        },
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
    },
]

SCHEMAS: dict[str, Any] = {
    "SaleEdit": {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "description": "any of these; the clock's next step admits by them, holds and turns "
        "given keep their deadlines. name, opens_at and drop_at only before the window "
        "opens (409 window_open after); the draw's beacon round moves with the drop",
        "properties": {
            "name": text(organiser.MAX_NAME),
            "opens_at": WHEN,
            "drop_at": WHEN,
            "rate_per_min": RATE,
            "cap": CAP,
            "hold_seconds": HOLD_SECONDS,
            "pause_message": {
                "type": "string",
                "maxLength": PAUSE_MESSAGE_LENGTH,
                "description": "what paused pages say; empty for the page's own words",
            },
            "add_stock": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": sale_steering.MAX_TYPES_ADDED,
                "additionalProperties": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": organiser.MAX_STOCK,
                },
                "description": "tickets to add, by ticket type id; available at once",
            },
            "by": text(sale_steering.MAX_BY, description="who makes the change, for the log"),
        },
    },
    "Deleted": {"type": "object", "properties": {"deleted": {"type": "string"}}},
    "SaleChanges": {
        "type": "object",
        "properties": {
            "changes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        k: {"type": "string"}
                        for k in ("field", "old", "new", "by", "address", "at")
                    },
                },
            }
        },
    },
    "Steered": {
        "type": "object",
        "properties": {
            "event": {"$ref": "#/components/schemas/Event"},
            "changes": {"$ref": "#/components/schemas/SaleChanges/properties/changes"},
        },
    },
    "OrderList": {
        "type": "object",
        "properties": {
            **list_of("orders", "Order")["properties"],
            "matching": {"type": "integer", "description": "orders matching q, on every page"},
            "next_after": {
                **NULL_TEXT,
                "description": "pass as after for the next page; null on the last",
            },
        },
    },
    "CheckIns": {
        "type": "object",
        "properties": {
            "tickets": {"type": "integer", "description": "tickets of paid orders"},
            "checked_in": {"type": "integer"},
            "doors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "door": {"type": "string", "description": "empty when unnamed"},
                        "checked_in": {"type": "integer"},
                    },
                },
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/events/{event_id}": {
        "patch": op(
            "Steer a sale: rate, cap, hold time, pause message, more stock; each change "
            "is logged with who and when",
            "200",
            "Steered",
            params=[EVENT_ID],
            body="SaleEdit",
            organiser=True,
        ),
        "delete": op(
            "Delete a sale before its window opens, if nobody holds or bought a ticket "
            "(409 window_open, sale_has_buyers)",
            "200",
            "Deleted",
            params=[EVENT_ID],
            organiser=True,
        ),
    },
    "/api/events/{event_id}/changes": {
        "get": op(
            "What organisers changed in the sale, oldest first",
            "200",
            "SaleChanges",
            params=[EVENT_ID],
            organiser=True,
        )
    },
    "/api/events/{event_id}/orders": {
        "get": op(
            "The event's orders, newest first, found by order id, email or ticket code, "
            "a page at a time, each with its tickets and their check-ins",
            "200",
            "OrderList",
            params=[EVENT_ID, *_ORDER_SEARCH],
            organiser=True,
        )
    },
    "/api/events/{event_id}/check-ins": {
        "get": op(
            "Tickets of paid orders let in, in all and per door",
            "200",
            "CheckIns",
            params=[EVENT_ID],
            organiser=True,
        )
    },
}
