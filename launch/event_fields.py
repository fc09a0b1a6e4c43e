"""A new sale's JSON body from ``fairdrop events create``'s options (and a JSON file).

Only what a terminal makes awkward is done here: times relative to now and
ticket types as ``key=value`` lists. Whether the values make a valid sale is
the server's to say (web/organiser.py answers 422 with the field), so the
rules live in one place.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The API's ticket type fields (TicketTypeIn in /openapi.json); these are numbers.
TICKET_TYPE_FIELDS = ("id", "name", "price_cents", "currency", "stock", "per_person_limit")
_WHOLE_NUMBERS = frozenset({"price_cents", "stock", "per_person_limit"})
# Option name -> body field, for the options that are passed on as given.
_SCALARS = {
    "id": "id",
    "name": "name",
    "rate_per_min": "rate_per_min",
    "cap": "cap",
    "hold_seconds": "hold_seconds",
    "access": "access",
    "pow_difficulty": "pow_difficulty",
}
_RELATIVE = re.compile(r"\+(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


class BadInput(Exception):
    """An option or input file that makes no request: a usage error, exit status 2."""


def event_body(args: argparse.Namespace, now: datetime | None = None) -> dict[str, Any]:
    """The POST /api/events body: the JSON file's fields, then the options over them."""
    body = _json_file(args.from_json) if args.from_json is not None else {}
    for option, name in _SCALARS.items():
        if getattr(args, option) is not None:
            body[name] = getattr(args, option)
    moment = now or datetime.now(UTC)
    for option in ("opens_at", "drop_at"):
        if getattr(args, option) is not None:
            body[option] = when(getattr(args, option), moment)
    if args.ticket_type:
        body["ticket_types"] = [ticket_type(spec) for spec in args.ticket_type]
    return body


def when(text: str, now: datetime) -> str:
    """``now``, ``+30s``/``+10m``/``+2h``/``+1d`` from now, or the text as given
    (ISO 8601, checked by the server)."""
    if text == "now":
        return now.isoformat()
    if match := _RELATIVE.fullmatch(text):
        seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
        return (now + timedelta(seconds=seconds)).isoformat()
    return text


def ticket_type(spec: str) -> dict[str, Any]:
    """``name=GA,price_cents=4000,...`` as the API's ticket type object."""
    fields: dict[str, Any] = {}
    for part in spec.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not key:
            raise BadInput(f"--ticket-type {spec!r}: {part!r} is not key=value")
        if key not in TICKET_TYPE_FIELDS:
            raise BadInput(
                f"--ticket-type {spec!r}: unknown field {key!r} "
                f"(fields: {', '.join(TICKET_TYPE_FIELDS)})"
            )
        if key in fields:
            raise BadInput(f"--ticket-type {spec!r}: {key} is given twice")
        fields[key] = _whole_number(spec, key, value) if key in _WHOLE_NUMBERS else value
    return fields


def _whole_number(spec: str, key: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"--ticket-type {spec!r}: {key} must be a whole number") from None


def _json_file(path: Path) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        body = json.loads(text)
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInput(f"{path} is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadInput(f"{path} must hold a JSON object (the sale), not {type(body).__name__}")
    return body
