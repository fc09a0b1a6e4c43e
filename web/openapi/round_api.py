"""Resale rounds' draws in the OpenAPI document (web/round_draws.py)."""

from __future__ import annotations

from typing import Any

from buffer.order import ALGORITHM
from web.openapi.parts import ERROR, EVENT_ID, op, or_null, path_param
from web.round_draws import MAX_ROUND

_WHEN = or_null({"type": "string", "format": "date-time"})
_HEX = or_null({"type": "string", "pattern": "^[0-9a-f]{64}$"})
_ROUND = path_param("n", {"type": "integer", "minimum": 1, "maximum": MAX_ROUND})

SCHEMAS: dict[str, Any] = {
    "ResaleRound": {
        "type": "object",
        "description": "A resale round's draw (docs/fairness.md, Resale rounds): its seed's "
        "hash and beacon round from its opening, the entrant digest from its drop, the seed, "
        "the beacon value and its block of queue numbers "
        "first_number .. first_number + entrants - 1 once drawn",
        "required": [
            "event_id",
            "round",
            "algorithm",
            "spec",
            "opens_at",
            "drop_at",
            "seed_hash",
            "beacon",
            "promise",
            "frozen",
            "entrants_digest",
            "digest_at",
            "entrants",
            "first_number",
            "drawn",
            "drawn_at",
            "seed",
            "entrants_url",
        ],
        "properties": {
            "event_id": {"type": "string"},
            "round": {"type": "integer", "minimum": 1},
            "algorithm": {"type": "string", "enum": [ALGORITHM]},
            "spec": {"type": "string", "description": "where the algorithm is written down"},
            "opens_at": {"type": "string", "format": "date-time"},
            "drop_at": {
                "type": "string",
                "format": "date-time",
                "description": "the round's window closes",
            },
            "seed_hash": {"type": "string", "description": "SHA-256 of the round's seed, hex"},
            "beacon": or_null({"$ref": "#/components/schemas/Beacon"}),
            "promise": or_null({"type": "string", "enum": ["unsteerable", "committed-seed"]}),
            "frozen": {"type": "boolean", "description": "the round's entrant list is final"},
            "entrants_digest": _HEX,
            "digest_at": _WHEN,
            "entrants": or_null({"type": "integer", "minimum": 0, "description": "N"}),
            "first_number": or_null(
                {"type": "integer", "minimum": 1, "description": "the block's first number"}
            ),
            "drawn": {"type": "boolean"},
            "drawn_at": _WHEN,
            "seed": {**_HEX, "description": "revealed at the round's draw, null before"},
            "entrants_url": or_null(
                {"type": "string", "description": "absolute URL of lines '<number> <entry id>'"}
            ),
        },
    },
    "ResaleRounds": {
        "type": "array",
        "description": "every resale round of the sale, round 1 first",
        "items": {"$ref": "#/components/schemas/ResaleRound"},
    },
}

PATHS: dict[str, Any] = {
    "/api/events/{event_id}/draw/rounds": {
        "get": op(
            "Every resale round's draw, round 1 first ([] before any)",
            "200",
            "ResaleRounds",
            params=[EVENT_ID],
        )
    },
    "/api/events/{event_id}/draw/rounds/{n}": {
        "get": op(
            "One resale round's draw (404 unknown_round for a round the sale has not had)",
            "200",
            "ResaleRound",
            params=[EVENT_ID, _ROUND],
        )
    },
    "/api/events/{event_id}/draw/rounds/{n}/entrants": {
        "get": {
            "summary": "A drawn resale round's entrants, one '<number> <fan id>' line each "
            "(409 draw_not_done before its draw)",
            "parameters": [EVENT_ID, _ROUND],
            "responses": {
                "200": {"description": "OK", "content": {"text/plain": {}}},
                "4XX": ERROR,
            },
        }
    },
}
