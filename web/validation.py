"""Reading request bodies: size-capped, JSON objects only, typed fields.

Every refusal is a FairdropError naming the field, so a bad request gets a
4xx JSON answer and changes nothing.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from fairdrop.errors import ErrorCode, FairdropError

# Matched whole (fullmatch): "$" alone would let a trailing newline through.
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
CURRENCY = re.compile(r"[A-Z]{3}")
# PostgreSQL refuses NUL in text, and no name needs a control character.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def invalid(message: str) -> FairdropError:
    return FairdropError(ErrorCode.INVALID_FIELD, message)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 past ``max_bytes`` (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise FairdropError(ErrorCode.BODY_TOO_LARGE, f"request body is over {max_bytes} bytes")
    body = bytearray()
    # Counted while streaming: a client can lie about or omit content-length.
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise FairdropError(ErrorCode.BODY_TOO_LARGE, f"request body is over {max_bytes} bytes")
    return bytes(body)


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    body = await read_body(request, max_bytes)
    if not body:
        return {}
    try:
        value = json.loads(body)
    # RecursionError: thousands of nested brackets must be a 400, not a crash.
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FairdropError(
            ErrorCode.MALFORMED_JSON, f"request body is not valid JSON: {exc}"
        ) from exc
    if not isinstance(value, dict):
        raise invalid("request body must be a JSON object")
    return value


def required(body: dict[str, Any], name: str) -> Any:
    if name not in body or body[name] is None:
        raise invalid(f"{name} is required")
    return body[name]


def text_field(
    body: dict[str, Any], name: str, max_length: int, pattern: re.Pattern[str] | None = None
) -> str:
    value = required(body, name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{name} must be a non-empty string")
    if len(value) > max_length:
        raise invalid(f"{name} must be at most {max_length} characters")
    if CONTROL.search(value):
        raise invalid(f"{name} must not contain control characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise invalid(f"{name} has an invalid format")
    return value


def int_field(body: dict[str, Any], name: str, minimum: int, maximum: int) -> int:
    value = required(body, name)
    # bool is an int in Python; true is not a quantity.
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(f"{name} must be a whole number")
    if not minimum <= value <= maximum:
        raise invalid(f"{name} must be between {minimum} and {maximum}")
    return value


def datetime_field(body: dict[str, Any], name: str) -> datetime:
    value = required(body, name)
    if not isinstance(value, str):
        raise invalid(f"{name} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid(f"{name} must be an ISO 8601 date-time string") from exc
    if parsed.tzinfo is None:
        raise invalid(f"{name} must include a time zone offset")
    # Dates at the ends of the calendar overflow when moved to UTC.
    if not 2000 <= parsed.year <= 9000:
        raise invalid(f"{name} must be between the years 2000 and 9000")
    return parsed.astimezone(UTC)


def list_field(body: dict[str, Any], name: str, max_items: int) -> list[Any]:
    value = required(body, name)
    if not isinstance(value, list) or not value:
        raise invalid(f"{name} must be a non-empty list")
    if len(value) > max_items:
        raise invalid(f"{name} may have at most {max_items} entries")
    return value


def object_item(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"{where} must be an object")
    return value
