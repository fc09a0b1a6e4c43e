"""Cells for CSV files organisers open in a spreadsheet.

A cell that starts with = + - @, a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets, which would run it on opening: such a
cell gets a leading apostrophe, which spreadsheets show as plain text (the
OWASP advice on CSV injection). Every CSV fairdrop writes goes through here.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """The value as text a spreadsheet will never execute."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
