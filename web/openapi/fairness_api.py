"""The fairness report's part of the OpenAPI document (web/fairness_report.py).

The routes and refusal reasons are stated from the modules that count them
(buffer/entry_tallies.py), so they cannot drift.
"""

from __future__ import annotations

from typing import Any

from buffer.entry_tallies import REFUSALS, ROUTES
from web.openapi.parts import EVENT_ID, op, or_null

_NUMBER = {"type": "number"}
_COUNT = {"type": "integer", "minimum": 0}
_WHEN = or_null({"type": "string", "format": "date-time"})
_P_VALUE = or_null({"type": "number", "minimum": 0, "maximum": 1})


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    """An object with every listed property present (null where the property allows it)."""
    schema = {"type": "object", "required": list(properties), "properties": properties}
    return {**schema, "description": description} if description else schema


_BEACON = _object(
    {
        "round": or_null({"type": "integer"}),
        "round_time": or_null({"type": "integer", "description": "unix seconds"}),
        "status": or_null({"type": "string", "enum": ["pending", "verified", "unavailable"]}),
        "randomness": or_null({"type": "string", "description": "the round's value, hex"}),
        "url": or_null({"type": "string"}),
        "chain_hash": or_null({"type": "string"}),
    },
    "the drand round the draw mixed in, as GET /api/events/{event_id}/draw shows it",
)

_DRAW = _object(
    {
        "algorithm": or_null({"type": "string"}),
        "promise": or_null(
            {
                "type": "string",
                "enum": ["unsteerable", "committed-seed"],
                "description": "what the draw keeps (the Draw schema); null for a v1 draw",
            }
        ),
        "seed_hash": or_null({"type": "string", "description": "the commitment, SHA-256 hex"}),
        "seed": or_null({"type": "string"}),
        "entrants_digest": or_null({"type": "string"}),
        "list_matches_digest": or_null(
            {
                "type": "boolean",
                "description": "the published entrant list hashes to entrants_digest "
                "(checked by the server when the report was made)",
            }
        ),
        "frozen_at": _WHEN,
        "drawn_at": _WHEN,
        "beacon": or_null(_BEACON),
        "draw_url": {"type": "string"},
        "entrants_url": {"type": "string"},
    }
)

_ROUTE_COUNTS = _object({"drawn": _COUNT, "late": _COUNT})

_ENTRANTS = _object(
    {
        "drawn": {**_COUNT, "description": "joined in the window: drawn into numbers 1..N"},
        "late": {**_COUNT, "description": "joined after it, at the back in arrival order"},
        "by_route": _object(
            dict.fromkeys(ROUTES, _ROUTE_COUNTS),
            "entrants by the kind of identity they came as: anonymous browser, email, "
            "OpenID Connect login, organiser's list id",
        ),
    }
)

_REFUSAL = _object(
    {
        "reason": {"type": "string", "enum": list(REFUSALS)},
        "count": _COUNT,
        "meaning": {"type": "string"},
    }
)

_BOX = _object(
    {
        "count": _COUNT,
        "arrived_from_ms": {"type": "integer", "description": "unix ms of the first arrival"},
        "arrived_to_ms": {"type": "integer", "description": "unix ms of the last arrival"},
        "low": _NUMBER,
        "q1": _NUMBER,
        "median": _NUMBER,
        "q3": _NUMBER,
        "high": _NUMBER,
    },
    "one tenth of the drawn entrants by arrival time and the spread of their queue numbers",
)

_ARRIVALS = _object(
    {
        "recorded": {**_COUNT, "description": "drawn entrants with an arrival time"},
        "spearman": _object(
            {
                "coefficient": or_null({"type": "number", "minimum": -1, "maximum": 1}),
                "p_value": _P_VALUE,
                "fair_band": or_null(
                    {"type": "number", "description": "a fair draw is within +- this 19 in 20"}
                ),
            },
            "Spearman's rank correlation of arrival time and queue number",
        ),
        "ks": or_null(
            _object(
                {
                    "statistic": {"type": "number", "minimum": 0, "maximum": 1},
                    "p_value": {"type": "number", "minimum": 0, "maximum": 1},
                    "method": {"type": "string", "enum": ["exact", "asymptotic"]},
                    "early": _COUNT,
                    "late": _COUNT,
                },
                "two-sample Kolmogorov-Smirnov test: the queue numbers of the earlier "
                "half of arrivals against the later half",
            )
        ),
        "deciles": {"type": "array", "items": _BOX},
    },
    "arrival times are recorded for this report and nothing else",
)

_SALE = _object(
    {
        "stock": _COUNT,
        "admitted": {**_COUNT, "description": "queue numbers let in to buy"},
        "sold": _COUNT,
        "fans_with_tickets": {**_COUNT, "description": "distinct fans with a paid order"},
        "paid_orders": _COUNT,
        "sold_out": {"type": "boolean"},
        "sold_out_at": _WHEN,
        "seconds_to_sell_out": or_null(
            {"type": "number", "minimum": 0, "description": "from drop_at to the last sale"}
        ),
    }
)

SCHEMAS: dict[str, Any] = {
    "FairnessReport": _object(
        {
            "event_id": {"type": "string"},
            "name": {"type": "string"},
            "state": {"type": "string"},
            "generated_at": {"type": "string", "format": "date-time"},
            "window": _object(
                {
                    "opens_at": {"type": "string", "format": "date-time"},
                    "drop_at": {"type": "string", "format": "date-time"},
                }
            ),
            "draw": _DRAW,
            "entrants": _ENTRANTS,
            "refusals": {"type": "array", "items": _REFUSAL},
            "arrivals": _ARRIVALS,
            "sale": _SALE,
        },
        "A drawn sale's fairness: the draw's commitment and beacon, entrants by access "
        "route, joins refused by reason, queue number against arrival time, and how the "
        "sale went. Refused with 409 draw_not_done before the draw",
    )
}

PATHS: dict[str, Any] = {
    "/api/events/{event_id}/fairness": {
        "get": op(
            "The fairness report of a drawn sale (409 draw_not_done before the draw)",
            "200",
            "FairnessReport",
            params=[EVENT_ID],
        )
    }
}
