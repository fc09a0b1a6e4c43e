"""The OpenAPI document served at /openapi.json, written by hand to match the routes.

tests/web/test_openapi.py checks that every route is described and every
described path exists, so the two cannot drift apart silently.

Each concern describes its own paths and schemas (organiser_api, sale_api, presale_api,
fan_api, receipt_api, fairness_api, round_api, door_api, sign_in_api, from the pieces in
parts); this module puts them together with what all of them share: the error
answers and the tokens.
"""

from __future__ import annotations

from typing import Any

from fairdrop.errors import HTTP_CODES
from web.openapi import (
    discount_api,
    door_api,
    fairness_api,
    fan_api,
    organiser_api,
    presale_api,
    receipt_api,
    resale_api,
    round_api,
    sale_api,
    sign_in_api,
)
from web.openapi.parts import TEXT_PATTERN, json_content

__all__ = ["DOCUMENT", "TEXT_PATTERN"]

_CONCERNS = (
    organiser_api,
    sale_api,
    presale_api,
    fan_api,
    receipt_api,
    fairness_api,
    door_api,
    sign_in_api,
    resale_api,
    round_api,
    discount_api,
)


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The parts as one dict; a name in two of them would lose one silently, so it is refused."""
    merged: dict[str, Any] = {}
    for part in parts:
        if twice := merged.keys() & part.keys():
            raise ValueError(f"described twice: {sorted(twice)}")
        merged.update(part)
    return merged


def _merged_paths(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The paths of every part: one path may have operations in two parts (the fan
    reads an event, the organiser steers it), but one operation only in one."""
    merged: dict[str, dict[str, Any]] = {}
    for part in parts:
        for path, operations in part.items():
            known = merged.setdefault(path, {})
            if twice := known.keys() & operations.keys():
                raise ValueError(f"described twice: {path} {sorted(twice)}")
            known.update(operations)
    return merged


_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": [c.value for c in HTTP_CODES]},
                "message": {"type": "string"},
            },
        }
    },
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "fairdrop",
        "version": "0.1.0",
        "description": "Fair-queue ticket drops: buffer window, verifiable draw, ordered "
        "admission over websockets (/ws/events/{event_id}), atomic holds; the organiser's "
        "live figures over /ws/organiser/{event_id} (the token as the first message).",
    },
    "paths": _merged_paths([concern.PATHS for concern in _CONCERNS]),
    "components": {
        "schemas": _merged([{"Error": _ERROR_SCHEMA}, *(c.SCHEMAS for c in _CONCERNS)]),
        "responses": {
            "Error": {"description": "Refused", **json_content("Error")},
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
                **json_content("Error"),
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
