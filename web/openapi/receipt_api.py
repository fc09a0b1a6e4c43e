"""Entry receipts' part of the OpenAPI document (web/receipts.py).

The join's answer carries a ``Receipt`` (fan_api's ``Entry``); a placed fan
fetches a fresh one, and anyone fetches the public key that checks them. The
fields are stated from fairdrop/receipts.py's constants, so they cannot drift.
"""

from __future__ import annotations

from typing import Any

from fairdrop.receipts import ALGORITHM, KIND, ROUND_VERSION, STATUSES, VERSIONS
from web.openapi.parts import EVENT_ID, op

_KEY_ID = {
    "type": "string",
    "pattern": "^[0-9a-f]{16}$",
    "description": "the first 16 hex characters of SHA-256 of the raw 32-byte public key",
}

SCHEMAS: dict[str, Any] = {
    "Receipt": {
        "type": "object",
        "description": "The server's signed word that this fan has a place in the sale "
        "(docs/fairness.md, 'Entry receipts'). signature is Ed25519 over the canonical "
        "JSON of receipt: keys sorted, no spaces, non-ASCII as \\u escapes; the key is "
        "GET /api/receipt-key's. Keep it: an entry id missing from the published list "
        "is proven with it (fairdrop verify-draw --receipt FILE)",
        "required": ["receipt", "signature"],
        "additionalProperties": False,
        "properties": {
            "receipt": {
                "type": "object",
                "required": [
                    "v",
                    "kind",
                    "event_id",
                    "entry_id",
                    "issued_at_ms",
                    "status",
                    "number",
                    "seed_hash",
                    "beacon_round",
                    "key_id",
                ],
                "additionalProperties": False,
                # round is a v2 receipt's, and only a v2 receipt's.
                "if": {"properties": {"v": {"const": ROUND_VERSION}}},
                "then": {"required": ["round"]},
                "else": {"not": {"required": ["round"]}},
                "properties": {
                    "v": {
                        "type": "integer",
                        "enum": list(VERSIONS),
                        "description": "1: an entry in the sale's own draw; 2: in the "
                        "resale round named by round",
                    },
                    "kind": {"type": "string", "enum": [KIND]},
                    "event_id": {"type": "string"},
                    "entry_id": {
                        "type": "string",
                        "description": "the fan's id in the published entrant list",
                    },
                    "issued_at_ms": {"type": "integer", "description": "unix milliseconds"},
                    "status": {
                        "type": "string",
                        "enum": list(STATUSES),
                        "description": "buffered: in the window, before the draw; "
                        "queued: with a queue number",
                    },
                    "number": {
                        "type": "integer",
                        "minimum": 0,
                        "description": "the queue number; 0 while buffered",
                    },
                    "seed_hash": {
                        "type": "string",
                        "description": "the draw's commitment when the receipt was issued",
                    },
                    "beacon_round": {
                        "type": ["integer", "null"],
                        "description": "the drand round the draw waits for; null without one",
                    },
                    "key_id": _KEY_ID,
                    "round": {
                        "type": "integer",
                        "minimum": 1,
                        "description": "v2 only: the resale round the entry is in; "
                        "seed_hash and beacon_round are then the round's (check it with "
                        "fairdrop verify-draw --round N --receipt FILE)",
                    },
                },
            },
            "signature": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_-]{86}$",
                "description": "the 64-byte Ed25519 signature, base64url without padding",
            },
        },
    },
    "ReceiptKey": {
        "type": "object",
        "required": ["algorithm", "public_key", "key_id"],
        "properties": {
            "algorithm": {"type": "string", "enum": [ALGORITHM]},
            "public_key": {
                "type": "string",
                "pattern": "^[0-9a-f]{64}$",
                "description": "the raw 32-byte public key, hex",
            },
            "key_id": _KEY_ID,
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/events/{event_id}/receipt": {
        "get": op(
            "A fresh receipt of the asking fan's own entry (the session's); 404 "
            "not_entered while the fan has no place",
            "200",
            "Receipt",
            params=[EVENT_ID],
        )
    },
    "/api/receipt-key": {
        "get": op("The public key every entry receipt checks against", "200", "ReceiptKey")
    },
}
