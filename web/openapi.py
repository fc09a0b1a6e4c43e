"""The OpenAPI document served at /openapi.json, written by hand to match the routes.

tests/web/test_openapi.py checks that every route is described and every
described path exists, so the two cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

from fairdrop.errors import ErrorCode
from fairdrop.identity import ACCESS_POLICIES, ANON, EMAIL, MEMBER, OIDC

_ERROR = {"$ref": "#/components/responses/Error"}
_EVENT_ID = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}
_HOLD_ID = {"name": "hold_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ORDER_ID = {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}
_CODE = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
_TOKEN_ID = {"name": "token_id", "in": "path", "required": True, "schema": {"type": "string"}}
_ORGANISER: list[dict[str, list[str]]] = [{"organiser": []}]
# Either token: one event's door token, or the organiser's (every event).
_DOOR: list[dict[str, list[str]]] = [{"door": []}, {"organiser": []}]


# What a session can name (fairdrop/identity.py).
_IDENTITY_KINDS = (ANON, EMAIL, OIDC, MEMBER)

_ACCESS = {
    "type": "string",
    "enum": list(ACCESS_POLICIES),
    "description": "who may enter: anyone (open), a proven email (email), an OpenID Connect "
    "login (login), or only identities on the organiser's list (list)",
}


_LINK_ID = {"name": "link_id", "in": "path", "required": True, "schema": {"type": "string"}}
_LIST_MODE = {
    "name": "mode",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["replace", "add"], "default": "replace"},
}


def _json(schema_ref: str) -> dict[str, Any]:
    return {
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}
    }


def _op(
    summary: str,
    ok: str,
    schema: str,
    *,
    params: list[dict[str, Any]] | None = None,
    body: str | None = None,
    organiser: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": params or [],
        "responses": {ok: {"description": "OK", **_json(schema)}, "4XX": _ERROR},
    }
    if body:
        op["requestBody"] = {"required": True, **_json(body)}
    if organiser:
        op["security"] = _ORGANISER
    return op


def _csv_download(summary: str) -> dict[str, Any]:
    """An organiser's GET of one event's CSV file."""
    return {
        "summary": summary,
        "parameters": [_EVENT_ID],
        "responses": {
            "200": {"description": "OK", "content": {"text/csv": {"schema": {"type": "string"}}}},
            "4XX": _ERROR,
        },
        "security": _ORGANISER,
    }


_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": [c.value for c in ErrorCode]},
                    "message": {"type": "string"},
                },
            }
        },
    },
    "TicketTypeIn": {
        "type": "object",
        "required": ["name", "price_cents", "currency", "stock", "per_person_limit"],
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"},
            "name": {"type": "string", "maxLength": 200},
            "price_cents": {"type": "integer", "minimum": 0},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "stock": {"type": "integer", "minimum": 1},
            "per_person_limit": {"type": "integer", "minimum": 1, "maximum": 100},
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
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"},
            "name": {"type": "string"},
            "opens_at": {
                "type": "string",
                "format": "date-time",
                "description": "the buffer window opens",
            },
            "drop_at": {
                "type": "string",
                "format": "date-time",
                "description": "the window closes and the draw runs",
            },
            "rate_per_min": {
                "type": "integer",
                "minimum": 1,
                "description": "fans admitted per minute",
            },
            "cap": {"type": "integer", "minimum": 1, "description": "most fans shopping at once"},
            "hold_seconds": {"type": "integer", "minimum": 5, "maximum": 3600},
            "access": _ACCESS,
            "seed": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "description": "the organiser's own draw seed; generated when absent",
            },
            "ticket_types": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/TicketTypeIn"},
            },
        },
    },
    "PresaleLinkIn": {
        "type": "object",
        "required": ["allowance", "expires_at"],
        "properties": {
            "label": {"type": "string", "maxLength": 200},
            "allowance": {"type": "integer", "minimum": 1, "maximum": 100000},
            "expires_at": {"type": "string", "format": "date-time"},
            "ticket_type": {"type": "string", "description": "one type's id; any type if absent"},
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
    "PresaleLinkList": {
        "type": "object",
        "properties": {
            "links": {"type": "array", "items": {"$ref": "#/components/schemas/PresaleLink"}}
        },
    },
    "PresaleHoldIn": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "maxItems": 10, "items": {"type": "object"}}},
    },
    "HoldAnswer": {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "hold": {"type": "object"}},
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
    "EventList": {
        "type": "object",
        "properties": {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}
        },
    },
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
            )
        },
    },
    "Entry": {
        "type": "object",
        "properties": {
            "entrant_id": {
                "type": "string",
                "description": "this fan's id in the published draw (one per identity)",
            },
            "status": {"type": "string"},
            "number": {"type": "integer"},
            "ahead": {"type": ["integer", "null"]},
            "admission": {"type": ["object", "null"]},
        },
    },
    "PurchaseIn": {
        "type": "object",
        "required": ["admission_token", "items"],
        "properties": {
            "admission_token": {"type": "string"},
            "items": {
                "type": "array",
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "required": ["type", "quantity"],
                    "properties": {
                        "type": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                },
            },
        },
    },
    "PayIn": {
        "type": "object",
        "description": "optional: an empty body pays all the same; any other field "
        "(an amount, a currency) is refused: the server prices the tickets",
        "additionalProperties": False,
        "properties": {
            "email": {
                "type": "string",
                "maxLength": 254,
                "description": "where the order confirmation goes (ASCII, one @)",
            }
        },
    },
    "Accepted": {"type": "object", "properties": {"status": {"type": "string"}}},
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
            "valid": {"type": "boolean", "description": "false once the order is not paid"},
            "checked_in_at": {"type": ["string", "null"], "format": "date-time"},
            "checked_in_by": {"type": ["string", "null"], "description": "the door"},
        },
    },
    "StripeEvent": {
        "description": "A Stripe event, verified against the Stripe-Signature header",
        "type": "object",
        "required": ["id", "type", "data"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string"},
            "data": {"type": "object"},
        },
    },
    "WebhookReceived": {
        "type": "object",
        "required": ["received"],
        "properties": {
            "received": {"type": "boolean"},
            "duplicate": {"type": "boolean"},
            "ignored": {"type": "string"},
        },
    },
    "CheckInIn": {
        "type": "object",
        "required": ["code"],
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Za-z0-9_-]{16,64}$"},
            "door": {
                "type": "string",
                "maxLength": 64,
                "description": "this door's name; required unless the door token names its "
                "door, which then is recorded instead",
            },
        },
    },
    "DoorTokenIn": {
        "type": "object",
        "description": "optional: an empty body makes a token for any door of the event",
        "properties": {"door": {"type": "string", "maxLength": 64}},
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
    "DoorTokenList": {
        "type": "object",
        "properties": {
            "door_tokens": {"type": "array", "items": {"$ref": "#/components/schemas/DoorToken"}}
        },
    },
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
    "Order": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "event_id": {"type": "string"},
            "status": {"type": "string", "enum": ["paid", "refunding", "refunded"]},
            "total_cents": {"type": "integer"},
            "currency": {"type": "string"},
            "payment_provider": {"type": "string"},
            "refund_ref": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "quantity": {"type": "integer"}},
                },
            },
        },
    },
    "OrderList": {
        "type": "object",
        "properties": {
            "orders": {"type": "array", "items": {"$ref": "#/components/schemas/Order"}}
        },
    },
    "Draw": {
        "type": "object",
        "properties": {
            "algorithm": {"type": "string"},
            "seed_hash": {"type": "string"},
            "seed": {"type": ["string", "null"]},
            "entrants_digest": {"type": ["string", "null"]},
            "entrants": {"type": ["integer", "null"]},
            "entrants_url": {"type": ["string", "null"]},
        },
    },
    "EmailSignInIn": {
        "type": "object",
        "required": ["email"],
        "properties": {
            "email": {"type": "string", "maxLength": 254, "description": "ASCII, one @"},
            "next": {
                "type": "string",
                "maxLength": 512,
                "pattern": "^/(?!/)",
                "default": "/",
                "description": "the path on this site the link leads to once used",
            },
        },
    },
    "SignInChallenge": {
        "type": "object",
        "properties": {
            "challenge": {"type": "string", "description": "send it with the code"},
            "expires_in": {"type": "integer", "description": "seconds the link and code work"},
        },
    },
    "SignInCodeIn": {
        "type": "object",
        "required": ["challenge", "code"],
        "properties": {
            "challenge": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"},
            "code": {"type": "string", "pattern": "^[0-9]{6}$"},
        },
    },
    "SignedIn": {
        "type": "object",
        "properties": {"signed_in_as": {"type": "string", "description": "the normalised email"}},
    },
    "SessionInfo": {
        "type": "object",
        "properties": {
            "signed_in": {"type": "boolean"},
            "kind": {"type": ["string", "null"], "enum": [*_IDENTITY_KINDS, None]},
            "display": {
                "type": ["string", "null"],
                "description": "the email or login to show; null when anonymous",
            },
        },
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "fairdrop",
        "version": "0.1.0",
        "description": "Fair-queue ticket drops: buffer window, verifiable draw, ordered "
        "admission over websockets (/ws/events/{event_id}), atomic holds.",
    },
    "paths": {
        "/api/events": {
            "post": _op(
                "Create an event and its sale", "201", "Event", body="EventIn", organiser=True
            ),
            "get": _op("List events", "200", "EventList", organiser=True),
        },
        "/api/events/{event_id}": {"get": _op("Public event", "200", "Event", params=[_EVENT_ID])},
        "/api/events/{event_id}/stats": {
            "get": _op("Live figures", "200", "Stats", params=[_EVENT_ID], organiser=True)
        },
        "/api/events/{event_id}/pause": {
            "post": _op(
                "Pause admission and new holds", "200", "Stats", params=[_EVENT_ID], organiser=True
            )
        },
        "/api/events/{event_id}/access": {
            "post": _op(
                "Change who may enter (only before the window opens)",
                "200",
                "Event",
                params=[_EVENT_ID],
                body="AccessIn",
                organiser=True,
            )
        },
        "/api/events/{event_id}/access-list": {
            "post": {
                "summary": "Import the event's list (CSV: email and/or id, allowance); "
                "?mode=replace (default) or add. Allowances change; purchases stay.",
                "parameters": [_EVENT_ID, _LIST_MODE],
                "requestBody": {
                    "required": True,
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                "responses": {"200": {"description": "OK", **_json("ListImport")}, "4XX": _ERROR},
                "security": _ORGANISER,
            }
        },
        "/api/events/{event_id}/access-list.csv": {
            "get": {
                "summary": "The event's list as CSV, with each id's personal sign-in link",
                "parameters": [_EVENT_ID],
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    "4XX": _ERROR,
                },
                "security": _ORGANISER,
            }
        },
        "/api/events/{event_id}/presale-links": {
            "post": _op(
                "Make a presale link: up to allowance tickets, until expires_at, maybe one type",
                "201",
                "PresaleLink",
                params=[_EVENT_ID],
                body="PresaleLinkIn",
                organiser=True,
            ),
            "get": _op(
                "Every presale link of the event and how much of each is used",
                "200",
                "PresaleLinkList",
                params=[_EVENT_ID],
                organiser=True,
            ),
        },
        "/api/events/{event_id}/presale/{link_id}": {
            "get": _op(
                "A presale link as its fan sees it (what is left, until when)",
                "200",
                "PresaleLink",
                params=[_EVENT_ID, _LINK_ID],
            )
        },
        "/api/events/{event_id}/presale/{link_id}/holds": {
            "post": _op(
                "Hold tickets through a presale link, at once (no queue turn needed)",
                "200",
                "HoldAnswer",
                params=[_EVENT_ID, _LINK_ID],
                body="PresaleHoldIn",
            )
        },
        "/api/events/{event_id}/resume": {
            "post": _op("Resume the sale", "200", "Stats", params=[_EVENT_ID], organiser=True)
        },
        "/api/events/{event_id}/orders": {
            "get": _op(
                "The event's newest orders (at most 200), with status",
                "200",
                "OrderList",
                params=[_EVENT_ID],
                organiser=True,
            )
        },
        "/api/events/{event_id}/orders/{order_id}/cancel": {
            "post": _op(
                "Refund a paid order; its tickets go back on sale and stop working",
                "200",
                "Order",
                params=[_EVENT_ID, _ORDER_ID],
                organiser=True,
            )
        },
        "/api/events/{event_id}/join": {
            "post": _op(
                "Join the sale (idempotent; sets the fan cookie)",
                "200",
                "Entry",
                params=[_EVENT_ID],
            )
        },
        "/api/events/{event_id}/purchases": {
            "post": _op(
                "Ask for tickets once admitted (answer on the websocket)",
                "202",
                "Accepted",
                params=[_EVENT_ID],
                body="PurchaseIn",
            )
        },
        "/api/events/{event_id}/purchases/{request_id}": {
            "get": _op(
                "The answer to a ticket request",
                "200",
                "Accepted",
                params=[
                    _EVENT_ID,
                    {
                        "name": "request_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
            )
        },
        "/api/events/{event_id}/holds/{hold_id}/pay": {
            "post": {
                **_op("Pay for a hold", "202", "Accepted", params=[_EVENT_ID, _HOLD_ID]),
                "requestBody": {"required": False, **_json("PayIn")},
            }
        },
        "/api/events/{event_id}/holds/{hold_id}/release": {
            "post": _op("Let a hold go", "202", "Accepted", params=[_EVENT_ID, _HOLD_ID])
        },
        "/api/events/{event_id}/draw": {
            "get": _op("The draw's commitment, seed and digest", "200", "Draw", params=[_EVENT_ID])
        },
        "/api/events/{event_id}/draw/entrants": {
            "get": {
                "summary": "Every drawn entrant, one '<number> <fan id>' line each",
                "parameters": [_EVENT_ID],
                "responses": {
                    "200": {"description": "OK", "content": {"text/plain": {}}},
                    "4XX": _ERROR,
                },
            }
        },
        "/api/tickets/{code}": {
            "get": _op("A ticket, by its secret code", "200", "Ticket", params=[_CODE])
        },
        "/api/tickets/{code}/qr.svg": {
            "get": {
                "summary": "The QR code of a ticket's code",
                "parameters": [_CODE],
                "responses": {
                    "200": {"description": "OK", "content": {"image/svg+xml": {}}},
                    "4XX": _ERROR,
                },
            }
        },
        "/api/events/{event_id}/door-tokens": {
            "post": {
                **_op(
                    "Make a door token for this event (and one door of it, if named)",
                    "201",
                    "NewDoorToken",
                    params=[_EVENT_ID],
                    organiser=True,
                ),
                "requestBody": {"required": False, **_json("DoorTokenIn")},
            },
            "get": _op(
                "The event's door tokens, revoked ones included (no secrets)",
                "200",
                "DoorTokenList",
                params=[_EVENT_ID],
                organiser=True,
            ),
        },
        "/api/events/{event_id}/door-tokens/{token_id}/revoke": {
            "post": _op(
                "Revoke a door token: refused from its next use on (revoking again changes "
                "nothing)",
                "200",
                "DoorToken",
                params=[_EVENT_ID, _TOKEN_ID],
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
        "/api/door/whoami": {
            "get": {
                **_op("Which event and door this token checks tickets in for", "200", "DoorStaff"),
                "security": _DOOR,
            }
        },
        "/api/door/check-in": {
            "post": {
                **_op(
                    "Check a ticket in at a door (a door token: its event's tickets only)",
                    "200",
                    "CheckIn",
                    body="CheckInIn",
                ),
                "security": _DOOR,
            }
        },
        "/api/payments/stripe/webhook": {
            "post": {
                **_op(
                    "Stripe's payment_intent events (signed; each event id handled once)",
                    "200",
                    "WebhookReceived",
                    params=[
                        {
                            "name": "Stripe-Signature",
                            "in": "header",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    body="StripeEvent",
                ),
            }
        },
        "/api/sign-in/email": {
            "post": _op(
                "Email a sign-in link (GET /sign-in/email/{token} signs in and redirects "
                "to next) and a six-digit code; the same answer for every address",
                "202",
                "SignInChallenge",
                body="EmailSignInIn",
            )
        },
        "/api/sign-in/email/code": {
            "post": _op(
                "Sign in with the emailed code (5 wrong codes close the sign-in; "
                "the code or the link works once); sets the fan cookie",
                "200",
                "SignedIn",
                body="SignInCodeIn",
            )
        },
        "/api/session": {
            "get": _op("Who this browser is signed in as", "200", "SessionInfo"),
        },
        "/api/sign-out": {
            "post": _op("Forget this browser's session (clears the cookie)", "200", "SessionInfo"),
        },
    },
    "components": {
        "schemas": _SCHEMAS,
        "responses": {"Error": {"description": "Refused", **_json("Error")}},
        "securitySchemes": {
            "organiser": {"type": "http", "scheme": "bearer"},
            "door": {
                "type": "http",
                "scheme": "bearer",
                "description": "a door token from POST /api/events/{event_id}/door-tokens",
            },
        },
    },
}
