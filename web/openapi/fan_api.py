"""The fan's part of the OpenAPI document: from joining a sale to paying.

The public event, the proof of work and the join, asking for tickets, paying
for or letting go of a hold, the published draw, and the payment provider's
webhook that settles what a fan pays.
"""

from __future__ import annotations

from typing import Any

from web.hold_batches import REQUEST_ID
from web.openapi.discount_api import DISCOUNT_CODE
from web.openapi.parts import (
    EMAIL,
    ERROR,
    EVENT_ID,
    ITEMS,
    list_of,
    op,
    or_null,
    path_param,
    whole,
)
from web.proof_of_work import MAX_SOLUTION_CHARS

_HOLD_ID = path_param("hold_id")
_REQUEST_ID = path_param("request_id", {"type": "string", "pattern": whole(REQUEST_ID)})

SCHEMAS: dict[str, Any] = {
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
            # A signed receipt while the fan has a place (buffered or queued), else null.
            "receipt": {"anyOf": [{"$ref": "#/components/schemas/Receipt"}, {"type": "null"}]},
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
            "items": ITEMS,
            "discount_code": DISCOUNT_CODE,
        },
    },
    "PayIn": {
        "type": "object",
        "description": "optional: an empty body pays all the same; any other field "
        "(an amount, a currency) is refused: the server prices the tickets",
        "additionalProperties": False,
        "properties": {
            "email": or_null({**EMAIL, "description": "where the order confirmation goes"})
        },
    },
    "Accepted": {"type": "object", "properties": {"status": {"type": "string"}}},
    "Draw": {
        "type": "object",
        "description": "The draw as docs/fairness.md specifies it: the commitment and "
        "beacon round before the window opens, the entrant digest from the freeze, "
        "the seed, the beacon value and the full order after the draw",
        "required": ["event_id", "algorithm", "spec", "seed_hash", "drawn", "frozen"],
        "properties": {
            "event_id": {"type": "string"},
            "algorithm": {"type": "string", "enum": ["fairdrop-draw-v2", "fairdrop-draw-v1"]},
            "spec": {"type": "string", "description": "where the algorithm is written down"},
            "seed_hash": {"type": "string", "description": "SHA-256 of the seed, hex"},
            "beacon": or_null({"$ref": "#/components/schemas/Beacon"}),
            "promise": or_null(
                {
                    "type": "string",
                    "enum": ["unsteerable", "committed-seed"],
                    "description": "unsteerable: the key mixes in a beacon value that did not "
                    "exist until the entrant list was frozen; committed-seed: no beacon value "
                    "could be had, only the seed committed before the window binds the order",
                }
            ),
            "frozen": {"type": "boolean", "description": "the entrant list is final"},
            "frozen_at": or_null({"type": "string", "format": "date-time"}),
            "entrants_digest": or_null({"type": "string", "description": "from the freeze on"}),
            "digest_at": or_null({"type": "string", "format": "date-time"}),
            "drawn": {"type": "boolean"},
            "drawn_at": or_null({"type": "string", "format": "date-time"}),
            "seed": or_null({"type": "string", "description": "revealed at the draw"}),
            "entrants": or_null({"type": "integer", "description": "N, numbers 1..N"}),
            "entrants_url": or_null(
                {"type": "string", "description": "absolute URL of lines '<number> <entry id>'"}
            ),
            "receipt_key": {"$ref": "#/components/schemas/ReceiptKey"},
        },
    },
    "Beacon": {
        "type": "object",
        "description": "The drand round the draw waits for, fixed when the event is made",
        "properties": {
            "url": {"type": "string"},
            "chain_hash": {"type": "string"},
            "public_key": {"type": "string"},
            "scheme": {"type": "string"},
            "period": {"type": "integer"},
            "genesis_time": {"type": "integer"},
            "round": {"type": "integer"},
            "round_time": {"type": "integer", "description": "unix seconds"},
            "status": {"type": "string", "enum": ["pending", "verified", "unavailable"]},
            "randomness": or_null({"type": "string"}),
            "signature": or_null({"type": "string"}),
            "reason": {"type": "string", "description": "why there is no value"},
        },
    },
    "FanOrder": {
        "type": "object",
        "description": "One of the fan's orders, as its socket's order message says it",
        "required": ["order_id", "hold_id", "status", "total_cents", "currency", "tickets"],
        "properties": {
            "ok": {"type": "boolean"},
            "order_id": {"type": "string"},
            "hold_id": {"type": "string"},
            "status": {"type": "string", "enum": ["paid", "refunding", "refunded"]},
            "refund_ref": or_null({"type": "string"}),
            "total_cents": {"type": "integer"},
            "currency": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "tickets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"type": {"type": "string"}, "code": {"type": "string"}},
                },
            },
        },
    },
    "FanOrders": list_of("orders", "FanOrder"),
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
}

PATHS: dict[str, Any] = {
    "/api/events/{event_id}": {"get": op("Public event", "200", "Event", params=[EVENT_ID])},
    "/api/events/{event_id}/join": {
        "post": op(
            "Join the sale (idempotent; sets the fan cookie). A new entrant of a sale "
            "with a proof of work brings a solved challenge (428 "
            "proof_of_work_required without one)",
            "200",
            "Entry",
            params=[EVENT_ID],
            body="JoinIn",
            body_required=False,
            limited=True,
        )
    },
    "/api/events/{event_id}/queue-again": {
        "post": op(
            "Queue again at the back after a turn that ended without buying, while tickets "
            "remain: the number a newcomer would get now (409 turn_not_over, hold_exists, "
            "already_bought, sold_out; 403 not_admitted before the turn came)",
            "200",
            "Entry",
            params=[EVENT_ID],
            limited=True,
        )
    },
    "/api/events/{event_id}/challenge": {
        "get": op(
            "A proof-of-work challenge (ALTCHA, SHA-256) for this browser's join, bound "
            "to the sale and the session, for 10 minutes",
            "200",
            "Challenge",
            params=[EVENT_ID],
        )
    },
    "/api/events/{event_id}/purchases": {
        "post": op(
            "Ask for tickets once admitted (answer on the websocket)",
            "202",
            "Accepted",
            params=[EVENT_ID],
            body="PurchaseIn",
            limited=True,
        )
    },
    "/api/events/{event_id}/purchases/{request_id}": {
        "get": op(
            "The answer to a ticket request",
            "200",
            "Accepted",
            params=[EVENT_ID, _REQUEST_ID],
        )
    },
    "/api/events/{event_id}/holds/{hold_id}/pay": {
        "post": op(
            "Pay for a hold",
            "202",
            "Accepted",
            params=[EVENT_ID, _HOLD_ID],
            body="PayIn",
            body_required=False,
            limited=True,
        )
    },
    "/api/events/{event_id}/holds/{hold_id}/release": {
        "post": op("Let a hold go", "202", "Accepted", params=[EVENT_ID, _HOLD_ID], limited=True)
    },
    "/api/events/{event_id}/orders/mine": {
        "get": op(
            "The fan's own orders in this sale with their ticket codes, oldest first "
            "(empty when none): for a page reloaded or whose socket missed the order",
            "200",
            "FanOrders",
            params=[EVENT_ID],
        )
    },
    "/api/events/{event_id}/draw": {
        "get": op("The draw's commitment, seed and digest", "200", "Draw", params=[EVENT_ID])
    },
    "/api/events/{event_id}/draw/entrants": {
        "get": {
            "summary": "Every drawn entrant, one '<number> <fan id>' line each",
            "parameters": [EVENT_ID],
            "responses": {
                "200": {"description": "OK", "content": {"text/plain": {}}},
                "4XX": ERROR,
            },
        }
    },
    "/api/payments/stripe/webhook": {
        "post": op(
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
        )
    },
}
