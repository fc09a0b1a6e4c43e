"""Reading the organiser's list (access policy ``list``) from a CSV file.

A header row names the columns: ``email`` and/or ``id``, and ``allowance``
(tickets that person may buy in all; 1 when the column is absent). Each row
names one person by exactly one of email or id. Anything odd is refused as a
whole, with the row it was found on, so a half-read list never reaches a sale.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import Identity, email_identity, member_identity
from web.validation import invalid

# A company's staff or a fan club: tens of thousands, not millions. The body
# limit keeps a list from holding a web process's memory for long.
MAX_ROWS = 50_000
MAX_CSV_BYTES = 5 * 1024 * 1024
MAX_ALLOWANCE = 100
COLUMNS = frozenset({"email", "id", "allowance"})


@dataclass(frozen=True)
class ListedPerson:
    identity: Identity
    allowance: int


def _text(body: bytes) -> str:
    try:
        # utf-8-sig drops the byte order mark spreadsheets like to write.
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise invalid(f"the list must be UTF-8 text: {exc.reason} at byte {exc.start}") from exc


def _columns(header: list[str] | None) -> list[str]:
    if not header:
        raise invalid("the list is empty: its first row names the columns (email or id, allowance)")
    names = [name.strip().lower() for name in header]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise invalid(
            f"unknown column(s) {', '.join(repr(n) for n in unknown)}: "
            "the columns are email and/or id, and allowance"
        )
    if len(set(names)) != len(names):
        raise invalid("a column is named twice in the header")
    if "email" not in names and "id" not in names:
        raise invalid("the header needs an email or an id column")
    return names


def _allowance(raw: str, line: int) -> int:
    if raw == "":
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ALLOWANCE:
        raise invalid(f"row {line}: allowance must be a whole number from 1 to {MAX_ALLOWANCE}")
    return int(raw)


def _person(row: dict[str, str], event_id: str, line: int) -> ListedPerson:
    email, member = row.get("email", ""), row.get("id", "")
    if bool(email) == bool(member):
        raise invalid(f"row {line}: give exactly one of email or id")
    try:
        identity = email_identity(email) if email else member_identity(event_id, member)
    except ValueError as exc:
        what = "email" if email else "id"
        raise invalid(f"row {line}: {what} {(email or member)[:80]!r} is not valid: {exc}") from exc
    return ListedPerson(identity, _allowance(row.get("allowance", ""), line))


def read_list(body: bytes, event_id: str) -> list[ListedPerson]:
    """Every person on the list, or a refusal naming the first problem."""
    if len(body) > MAX_CSV_BYTES:
        raise FairdropError(ErrorCode.BODY_TOO_LARGE, f"the list is over {MAX_CSV_BYTES} bytes")
    reader = csv.reader(io.StringIO(_text(body), newline=""))
    try:
        names = _columns(next(reader, None))
        people: list[ListedPerson] = []
        seen: dict[str, int] = {}
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank lines, often at the end
            if len(row) != len(names):
                raise invalid(f"row {line}: {len(row)} cells, the header names {len(names)}")
            if len(people) >= MAX_ROWS:
                raise invalid(f"the list has more than {MAX_ROWS} people; split it")
            person = _person(
                {name: cell.strip() for name, cell in zip(names, row, strict=True)},
                event_id,
                line,
            )
            first = seen.setdefault(person.identity.key(), line)
            if first != line:
                raise invalid(
                    f"row {line}: {person.identity.subject!r} is on the list twice "
                    f"(first on row {first})"
                )
            people.append(person)
    except csv.Error as exc:
        raise invalid(f"the list is not valid CSV: {exc}") from exc
    if not people:
        raise invalid("the list names nobody")
    return people
