"""fairdrop/compact_json.py writes the json module's compact text, byte for byte."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairdrop.compact_json import ascii_json, utf8_json

# What signed payloads hold: text, integers (64-bit and past), booleans, None, lists, objects.
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
# orjson's edges: every ASCII character, text outside it, integers past 64 bits.
_EDGES = [chr(c) for c in range(128)] + ["é", "zoë", "\u2028", "\U0001f600", "a\x7fb"]
_BIG = [2**64, -(2**63) - 1, 2**63 - 1]


def _json_module(value: Any, sort_keys: bool = False, ensure_ascii: bool = True) -> bytes:
    text = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), ensure_ascii=ensure_ascii)
    return text.encode()


@given(_VALUES, st.booleans())
def test_ascii_json_is_the_json_modules(value: Any, sort_keys: bool) -> None:
    assert ascii_json(value, sort_keys) == _json_module(value, sort_keys)


@given(_VALUES)
def test_utf8_json_is_the_json_modules(value: Any) -> None:
    assert utf8_json(value) == _json_module(value, ensure_ascii=False)


def test_the_edges_where_orjson_writes_otherwise() -> None:
    for value in [[*_EDGES, "\ud800"], {t: t for t in _EDGES}, _BIG]:
        for sort_keys in (False, True):
            assert ascii_json(value, sort_keys) == _json_module(value, sort_keys)
    assert utf8_json([*_EDGES, *_BIG]) == _json_module([*_EDGES, *_BIG], ensure_ascii=False)
    with pytest.raises(UnicodeEncodeError):  # no UTF-8 for it, in itsdangerous either
        utf8_json(["\ud800"])


def test_utf8_json_writes_every_character_as_the_json_module() -> None:
    every = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000]
    assert utf8_json(every) == _json_module(every, ensure_ascii=False)
