"""The pieces every part of the OpenAPI document is built from.

Limits, here and in every part, are stated from the constants the server
checks them with, so they cannot drift; the helpers spell an operation, a
field or a reference once.
"""

from __future__ import annotations

import re
from typing import Any

from fairdrop.identity import EMAIL_ADDRESS, MAX_EMAIL
from web.fans import MAX_ITEMS, MAX_QUANTITY
from web.validation import SLUG as SLUG_REGEX


def whole(regex: re.Pattern[str]) -> str:
    """A server regex (matched with fullmatch) as a JSON Schema pattern (which searches)."""
    return f"^{regex.pattern}$"


# web/validation.py text_field's rule for free text: no control character, and
# not blank. "Blank" is Python's str.isspace spelled out, since ECMA-262's \s
# differs from it at U+0085 and U+FEFF (tests/web/test_openapi.py checks both).
_NO_CONTROL = r"[^\u0000-\u001f\u007f]*"
_NOT_SPACE = r"[^\u0000-\u0020\u007f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
TEXT_PATTERN = f"^{_NO_CONTROL}{_NOT_SPACE}{_NO_CONTROL}$"
# A query parameter the server reads with only web/validation.py's CONTROL rule.
NO_CONTROL_PATTERN = f"^{_NO_CONTROL}$"


def text(max_length: int, **more: Any) -> dict[str, Any]:
    """A field read with text_field and no pattern of its own."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": TEXT_PATTERN,
        **more,
    }


def or_null(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field the server reads as absent when it is null."""
    if "$ref" in schema:  # a reference has no type of its own to widen
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


def path_param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


SLUG = {"type": "string", "pattern": whole(SLUG_REGEX)}
EMAIL = {"type": "string", "maxLength": MAX_EMAIL, "pattern": whole(EMAIL_ADDRESS)}
ERROR = {"$ref": "#/components/responses/Error"}
# A fan action past a rate limit of its address or of the fan (web/rate_limits.py).
_TOO_MANY = {"$ref": "#/components/responses/TooManyRequests"}
EVENT_ID = path_param("event_id", SLUG)
ORGANISER: list[dict[str, list[str]]] = [{"organiser": []}]
# A time the server takes: ISO 8601 with an offset, years 2000 to 9000
# (web/validation.py datetime_field; dates at the calendar's ends overflow in UTC).
WHEN = {
    "type": "string",
    "format": "date-time",
    "pattern": "^(?:[2-8][0-9]{3}|9000)-",
}
# What a fan asks for, over HTTP, on the socket and through a presale link (web/fans.py).
ITEMS = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_ITEMS,
    "items": {
        "type": "object",
        "required": ["type", "quantity"],
        "properties": {
            "type": text(100, description="a ticket type id of the event"),
            "quantity": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
        },
    },
}


def json_content(schema_ref: str) -> dict[str, Any]:
    return {
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}
    }


def list_of(key: str, schema_ref: str) -> dict[str, Any]:
    """An answer holding one list, under key, of a schema's objects."""
    return {
        "type": "object",
        "properties": {
            key: {"type": "array", "items": {"$ref": f"#/components/schemas/{schema_ref}"}}
        },
    }


def op(
    summary: str,
    ok: str,
    schema: str,
    *,
    params: list[dict[str, Any]] | None = None,
    body: str | None = None,
    body_required: bool = True,
    organiser: bool = False,
    limited: bool = False,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": params or [],
        "responses": {ok: {"description": "OK", **json_content(schema)}, "4XX": ERROR},
    }
    if limited:
        operation["responses"]["429"] = _TOO_MANY
    if body:
        operation["requestBody"] = {"required": body_required, **json_content(body)}
    if organiser:
        operation["security"] = ORGANISER
    return operation
