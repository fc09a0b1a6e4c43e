"""Reading request bodies: size-capped, JSON objects only, typed fields.

Every refusal is a FairdropError naming the field, so a bad request gets a
4xx JSON answer and changes nothing.
"""

from __future__ import annotations

import asyncio
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


def is_utf8(value: str) -> bool:
    """False for a string holding a lone surrogate (JSON's ``"\\ud800"``).

    Python's json module decodes such an escape into a str that no UTF-8
    encoder takes: PostgreSQL, SQLite, itsdangerous and the JSON answer
    itself would each fail on it with a 500.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_utf8(where: str) -> FairdropError:
    return invalid(f"{where} must be UTF-8 text: it holds a lone surrogate (\\ud800-\\udfff)")


_BODY = "the request body"


def not_utf8_at(value: Any) -> str | None:
    """Where a string (or key) that is not UTF-8 text sits in a parsed body; None if nowhere.

    Iterative: a body nested as deep as json.loads allows must not exhaust the
    stack here. A bad key is named by where it sits, never echoed: the
    refusal's own JSON answer could not encode it.
    """
    pending: list[tuple[str, Any]] = [(_BODY, value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str) and not is_utf8(item):
            return where
        if isinstance(item, list):
            pending.extend((f"{where}[{i}]", child) for i, child in enumerate(item))
        elif isinstance(item, dict):
            for key, child in item.items():
                if not is_utf8(key):
                    return f"a key of {where}"
                pending.append((key if where == _BODY else f"{where}.{key}", child))
    return None


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 past ``max_bytes`` (declared or streamed).

    A body that has not all arrived within ``settings.body_timeout_seconds``
    gets 408: a client trickling a byte at a time must not hold a request
    open for ever (the head's deadline is web/slow_clients.py's).
    """
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise FairdropError(ErrorCode.BODY_TOO_LARGE, f"request body is over {max_bytes} bytes")
    # The process's settings (WebContext), read without importing web.context:
    # it imports the catalog, which imports this module.
    seconds: float = request.app.state.fairdrop.settings.body_timeout_seconds
    body = bytearray()
    try:
        async with asyncio.timeout(seconds):
            # Counted while streaming: a client can lie about or omit content-length.
            async for chunk in request.stream():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise FairdropError(
                        ErrorCode.BODY_TOO_LARGE, f"request body is over {max_bytes} bytes"
                    )
    except TimeoutError as exc:
        raise FairdropError(
            ErrorCode.REQUEST_TIMEOUT, f"the request body did not arrive within {seconds:g} s"
        ) from exc
    return bytes(body)


def _is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "application/json"


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``.

    A body must say ``Content-Type: application/json``. A page of another
    site can POST text/plain (or a typeless blob) without asking the browser
    first, but not JSON, so this also refuses such requests where the
    Origin check (web/edge.py) sees no Origin. An empty body needs no type:
    the pause, cancel or sign-out buttons send none.
    """
    body = await read_body(request, max_bytes)
    if not body:
        return {}
    content_type = request.headers.get("content-type")
    if not _is_json(content_type):
        sent = f", not {content_type[:80]!r}" if content_type else ""
        raise FairdropError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            f"the request body must be sent as Content-Type: application/json{sent}",
        )
    try:
        value = json.loads(body)
    # RecursionError: thousands of nested brackets must be a 400, not a crash.
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise FairdropError(
            ErrorCode.MALFORMED_JSON, f"request body is not valid JSON: {exc}"
        ) from exc
    if not isinstance(value, dict):
        raise invalid("request body must be a JSON object")
    # Every field, not only those read through text_field: an admission token
    # or an unknown key echoed in a refusal would fail the same way.
    where = not_utf8_at(value)
    if where is not None:
        raise _not_utf8(where)
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
    if not is_utf8(value):
        raise _not_utf8(name)
    if CONTROL.search(value):
        raise invalid(f"{name} must not contain control characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise invalid(f"{name} has an invalid format")
    return value


def int_field(body: dict[str, Any], name: str, minimum: int, maximum: int) -> int:
    value = required(body, name)
    # JSON has one number type: 2.0 is the whole number 2 (as JSON Schema's
    # "integer" says), 2.5 is not. bool is an int in Python; true is not a quantity.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
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


def future_datetime_field(body: dict[str, Any], name: str) -> datetime:
    """:func:`datetime_field`, refused unless it is still to come (a link's or a code's end)."""
    value = datetime_field(body, name)
    if value <= datetime.now(UTC):
        raise invalid(f"{name} must be in the future")
    return value


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
