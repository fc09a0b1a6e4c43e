"""The KEYS every event script gets: named in Python as the Lua prelude names them."""

from __future__ import annotations

import re
from pathlib import Path

from queue_engine.keys import EventKeys

PRELUDE = Path(__file__).resolve().parents[2] / "queue_engine" / "lua" / "_prelude.lua"


def prelude_names() -> list[str]:
    """The names of ``K`` in _prelude.lua, in the order of their KEYS index."""
    pairs = re.findall(r"(\w+) = KEYS\[(\d+)\]", PRELUDE.read_text())
    by_index = {int(index): name for name, index in pairs}
    assert sorted(by_index) == list(range(1, len(by_index) + 1))
    return [by_index[i] for i in sorted(by_index)]


def test_script_keys_are_the_named_keys_in_the_preludes_order() -> None:
    keys = EventKeys("some-sale")
    names = prelude_names()
    assert keys.script_keys == [getattr(keys, name) for name in names]
    assert names[-1] == "channel" and keys.stored_keys == keys.script_keys[:-1]
    # Each stored key is named after its property, all in the sale's one cluster slot.
    assert keys.stored_keys == [f"{keys.tag}:{name}" for name in names[:-1]]
    assert len(set(keys.script_keys)) == len(keys.script_keys)
