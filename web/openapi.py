"""The OpenAPI document served at /openapi.json, written by hand to match the routes.

tests/web/test_openapi.py checks that every route is described and every
described path exists, so the two cannot drift apart silently.
"""

from __future__ import annotations

import re
from typing import Any

from fairdrop.errors import ErrorCode
from fairdrop.identity import ACCESS_POLICIES, ANON, EMAIL, EMAIL_ADDRESS, MAX_EMAIL, MEMBER, OIDC
from fairdrop.settings import POW_MAX
from web import organiser
from web.blocklist import MAX_ENTRIES as MAX_BLOCKLIST_ENTRIES
from web.client_address import MAX_NETWORK_CHARS
from web.door import MAX_DOOR_NAME
from web.email_sign_in import CHALLENGE_ID, LOCAL_PATH, MAX_NEXT, SIX_DIGITS
from web.fans import MAX_ITEMS, MAX_QUANTITY
from web.hold_batches import REQUEST_ID
from web.presales import MAX_LINK_TICKETS
from web.proof_of_work import MAX_SOLUTION_CHARS
from web.tickets import TICKET_CODE
from web.validation import CURRENCY, SLUG

# Limits are stated from the constants the server checks them with, so they cannot drift.


def _whole(regex: re.Pattern[str]) -> str:
    """A server regex (matched with fullmatch) as a JSON Schema pattern (which searches)."""
    return f"^{regex.pattern}$"


# web/validation.py text_field's rule for free text: no control character, and
# not blank. "Blank" is Python's str.isspace spelled out, since ECMA-262's \s
# differs from it at U+0085 and U+FEFF (tests/web/test_openapi.py checks both).
_NO_CONTROL = r"[^\u0000-\u001f\u007f]*"
_NOT_SPACE = r"[^\u0000-\u0020\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
TEXT_PATTERN = f"^{_NO_CONTROL}{_NOT_SPACE}{_NO_CONTROL}$"


def _text(max_length: int, **more: Any) -> dict[str, Any]:
    """A field read with text_field and no pattern of its own."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": TEXT_PATTERN,
        **more,
    }


def _or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field the server reads as absent when it is null."""
    return {**schema, "type": [schema["type"], "null"]}


def _path_param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


_SLUG = {"type": "string", "pattern": _whole(SLUG)}
_EMAIL = {"type": "string", "maxLength": MAX_EMAIL, "pattern": _whole(EMAIL_ADDRESS)}
_ERROR = {"$ref": "#/components/responses/Error"}
# A fan action past a rate limit of its address or of the fan (web/rate_limits.py).
_TOO_MANY = {"$ref": "#/components/responses/TooManyRequests"}
_EVENT_ID = _path_param("event_id", _SLUG)
_HOLD_ID = _path_param("hold_id")
_ORDER_ID = _path_param("order_id")
_CODE = _path_param("code", {"type": "string", "pattern": _whole(TICKET_CODE)})
_TOKEN_ID = _path_param("token_id")
_REQUEST_ID = _path_param("request_id", {"type": "string", "pattern": _whole(REQUEST_ID)})
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


_POW_DIFFICULTY = {
    "type": "integer",
    "minimum": 0,
    "maximum": POW_MAX,
    "description": "proof of work asked of each new entrant's browser: the ALTCHA maxnumber "
    "(SHA-256 hashes it may try, half on average); 0 asks none. Default: "
    "FAIRDROP_POW_DEFAULT for open sales, 0 for the others",
}
_LINK_ID = _path_param("link_id")
# A time the server takes: ISO 8601 with an offset, years 2000 to 9000
# (web/validation.py datetime_field; dates at the calendar's ends overflow in UTC).
_WHEN = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(?:[2-8][0-9]{3}|9000)-",
}
# What a fan asks for, over HTTP, on the socket and through a presale link (web/fans.py).
_ITEMS = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_ITEMS,
    "items": {
        "type": "object",
        "required": ["type", "quantity"],
        "properties": {
            "type": _text(100, description="a ticket type id of the event"),
            "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
        },
    },
}
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
    limited: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": params or [],
        "responses": {ok: {"description": "OK", **_json(schema)}, "4XX": _ERROR},
    }
    if limited:
        op["responses"]["429"] = _TOO_MANY
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
            "id": _SLUG,
            "name": _text(organiser.MAX_NAME),
            "price_cents": {"type": "integer", "minimum": 0, "maximum": organiser.MAX_PRICE_CENTS},
            "currency": {"type": "string", "pattern": _whole(CURRENCY)},
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
            "id": {**_SLUG, "description": "8 random hex digits when absent"},
            "name": _text(organiser.MAX_NAME),
            "opens_at": {**_WHEN, "description": "the buffer window opens"},
            "drop_at": {**_WHEN, "description": "the window closes and the draw runs"},
            "rate_per_min": {
                "type": "integer",
                "minimum": 1,
                "maximum": organiser.MAX_RATE_PER_MIN,
                "description": "fans admitted per minute",
            },
            "cap": {
                "type": "integer",
                "minimum": 1,
                "maximum": organiser.MAX_CAP,
                "description": "most fans shopping at once",
            },
            "hold_seconds": {
                "type": "integer",
                "minimum": organiser.MIN_HOLD_SECONDS,
                "maximum": organiser.MAX_HOLD_SECONDS,
            },
            "access": _ACCESS,
            "pow_difficulty": _POW_DIFFICULTY,
            "seed": {
                "type": "string",
                "pattern": _whole(organiser.HEX64),
                "description": "the organiser's own draw seed; generated when absent",
            },
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
    "PresaleLinkIn": {
        "type": "object",
        "required": ["allowance", "expires_at"],
        "properties": {
            "label": _or_null(_text(200)),
            "allowance": {"type": "integer", "minimum": 1, "maximum": MAX_LINK_TICKETS},
            "expires_at": {**_WHEN, "description": "in the future"},
            "ticket_type": _or_null({**_SLUG, "description": "one type's id; any type if absent"}),
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
        "properties": {"items": _ITEMS},
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
    "JoinIn": {
        "type": "object",
        "properties": {
            "altcha": {
                "type": "string",
                "maxLength": MAX_SOLUTION_CHARS,
                "description": "a solved challenge from GET /api/events/{event_id}/challenge: "
                "the base64 ALTCHA payload (algorithm, challenge, number, salt, signature); "
                "needed once per entrant on a sale with a pow_difficulty",
            }
        },
        "additionalProperties": False,
    },
    "Challenge": {
        "type": "object",
        "required": ["required", "pow_difficulty"],
        "properties": {
            "required": {
                "type": "boolean",
                "description": "false: join without a solution (no proof asked, or proved already)",
            },
            "pow_difficulty": {"type": "integer"},
            "algorithm": {"type": "string", "enum": ["SHA-256"]},
            "challenge": {"type": "string", "description": "SHA-256 hex of salt + the number"},
            "maxnumber": {"type": "integer", "description": "the number is in 0..maxnumber"},
            "salt": {"type": "string"},
            "signature": {"type": "string"},
            "expires_at": {"type": "string", "format": "date-time"},
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
            "admission_token": {
                "type": "string",
                "minLength": 1,
                "description": "from the join answer or the socket, once it is the fan's turn",
            },
            "items": _ITEMS,
        },
    },
    "PayIn": {
        "type": "object",
        "description": "optional: an empty body pays all the same; any other field "
        "(an amount, a currency) is refused: the server prices the tickets",
        "additionalProperties": False,
        "properties": {
            "email": _or_null({**_EMAIL, "description": "where the order confirmation goes"})
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
            "code": _CODE["schema"],
            "door": _or_null(
                _text(
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
        "properties": {"door": _or_null(_text(MAX_DOOR_NAME))},
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
            "email": {**_EMAIL, "description": "spaces around it are trimmed"},
            "next": {
                "type": ["string", "null"],
                "maxLength": MAX_NEXT,
                "pattern": _whole(LOCAL_PATH),
                "default": "/",
                "description": "the path on this site the link leads to once used",
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
            "challenge": {"type": "string", "pattern": _whole(CHALLENGE_ID)},
            "code": {"type": "string", "pattern": _whole(SIX_DIGITS)},
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
                limited=True,
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
            "post": {
                **_op(
                    "Join the sale (idempotent; sets the fan cookie). A new entrant of a sale "
                    "with a proof of work brings a solved challenge (428 "
                    "proof_of_work_required without one)",
                    "200",
                    "Entry",
                    params=[_EVENT_ID],
                    limited=True,
                ),
                "requestBody": {"required": False, **_json("JoinIn")},
            }
        },
        "/api/events/{event_id}/challenge": {
            "get": _op(
                "A proof-of-work challenge (ALTCHA, SHA-256) for this browser's join, bound "
                "to the sale and the session, for 10 minutes",
                "200",
                "Challenge",
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
                limited=True,
            )
        },
        "/api/events/{event_id}/purchases/{request_id}": {
            "get": _op(
                "The answer to a ticket request",
                "200",
                "Accepted",
                params=[_EVENT_ID, _REQUEST_ID],
            )
        },
        "/api/events/{event_id}/holds/{hold_id}/pay": {
            "post": {
                **_op(
                    "Pay for a hold", "202", "Accepted", params=[_EVENT_ID, _HOLD_ID], limited=True
                ),
                "requestBody": {"required": False, **_json("PayIn")},
            }
        },
        "/api/events/{event_id}/holds/{hold_id}/release": {
            "post": _op(
                "Let a hold go", "202", "Accepted", params=[_EVENT_ID, _HOLD_ID], limited=True
            )
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
                limited=True,
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
        "/api/blocklist": {
            "get": _op(
                "The addresses and blocks whose fans are refused (403 blocked)",
                "200",
                "Blocklist",
                organiser=True,
            ),
            "put": _op(
                "Replace the blocklist; every web process follows within about a second",
                "200",
                "Blocklist",
                body="Blocklist",
                organiser=True,
            ),
        },
    },
    "components": {
        "schemas": _SCHEMAS,
        "responses": {
            "Error": {"description": "Refused", **_json("Error")},
            "TooManyRequests": {
                "description": "Past a rate limit (too_many_requests), or, on a join, past "
                "the address's share of the sale's new entrants (address_busy); the "
                "message says when to try again, as does Retry-After",
                "headers": {
                    "Retry-After": {
                        "description": "whole seconds until the limit lets one more through",
                        "schema": {"type": "integer", "minimum": 1},
                    }
                },
                **_json("Error"),
            },
        },
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
