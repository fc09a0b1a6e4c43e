"""The json module's compact text, written by orjson where the two agree.

Signed things are signed over bytes: an entry receipt over its canonical JSON
(fairdrop/receipts.py, the ASCII form docs/fairness.md tells verifiers to
rebuild), the fan's session over itsdangerous's compact UTF-8 JSON
(fairdrop/tokens.py). The json module costs a join several µs for each; orjson
writes the same bytes in a tenth of that. Where the two differ, the json
module's text is the one written: for ASCII text, anything outside ASCII
(orjson writes UTF-8 where json writes ``\\u`` escapes) and DEL (json escapes
it, orjson does not); for either, what orjson refuses (integers past 64 bits,
a lone surrogate).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def ascii_json(value: Any, sort_keys: bool = False) -> bytes:
    """``json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=True)``
    as bytes, for values of text, integers, booleans, None, lists and dicts."""
    try:
        fast = orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else None)
    except TypeError:
        fast = b"\x80"  # not ASCII: the json module's text below
    if fast.isascii() and b"\x7f" not in fast:
        return fast
    text = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=True)
    return text.encode()


def utf8_json(value: Any) -> bytes:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)`` in UTF-8 (what
    itsdangerous signs), for values of text, integers, booleans, None, lists and dicts.

    The same bytes as orjson's for every character (checked over all of Unicode
    in tests/fairdrop/test_compact_json.py). A lone surrogate has no UTF-8 and
    raises, as it does in itsdangerous.
    """
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
