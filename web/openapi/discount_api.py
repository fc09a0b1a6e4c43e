"""Discount codes in the OpenAPI document: made and listed by the organiser.

A fan's code goes with the hold request (``PurchaseIn.discount_code``,
fan_api); the routes are web/discounts.py.
"""

from __future__ import annotations

from typing import Any

from web.discounts import CODE, MAX_FIXED_CENTS, MAX_USES
from web.openapi.parts import EVENT_ID, SLUG, WHEN, list_of, op, or_null, whole

# A code as a fan or the organiser types it; compared case-insensitively.
DISCOUNT_CODE = or_null({"type": "string", "pattern": whole(CODE)})

SCHEMAS: dict[str, Any] = {
    "DiscountIn": {
        "type": "object",
        "required": ["code", "kind", "amount", "max_uses", "expires_at"],
        "additionalProperties": False,
        "properties": {
            "code": {"type": "string", "pattern": whole(CODE)},
            "kind": {"type": "string", "enum": ["percent", "fixed"]},
            "amount": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_FIXED_CENTS,
                "description": "percent: 1..100 off; fixed: minor units off the order, "
                "or off each ticket of ticket_type",
            },
            "ticket_type": or_null(
                {**SLUG, "description": "one type's id; the whole order if absent"}
            ),
            "max_uses": {"type": "integer", "minimum": 1, "maximum": MAX_USES},
            "expires_at": {**WHEN, "description": "in the future"},
        },
    },
    "Discount": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "in lower case"},
            "kind": {"type": "string"},
            "amount": {"type": "integer"},
            "ticket_type": {"type": ["string", "null"]},
            "max_uses": {"type": "integer"},
            "used": {"type": ["integer", "null"], "description": "held or paid uses"},
            "paid": {"type": ["integer", "null"], "description": "paid uses"},
            "expires_at": {"type": "string"},
            "created_at": {"type": "string"},
        },
    },
    "DiscountList": list_of("discounts", "Discount"),
}

PATHS: dict[str, Any] = {
    "/api/events/{event_id}/discounts": {
        "post": op(
            "Make a discount code: a percentage or fixed amount off, of one type or the order",
            "201",
            "Discount",
            params=[EVENT_ID],
            body="DiscountIn",
            organiser=True,
        ),
        "get": op(
            "Every discount code of the sale with its uses so far",
            "200",
            "DiscountList",
            params=[EVENT_ID],
            organiser=True,
        ),
    },
}
