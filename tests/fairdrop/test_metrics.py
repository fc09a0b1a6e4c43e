"""fairdrop/metrics.py's settings and labels: the token and the multiprocess
directory read once from the environment, and no label value outside the known ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from fairdrop.errors import ErrorCode
from fairdrop.metrics import JOINS, OTHER, REFUSALS, count_join, count_refusal
from fairdrop.settings import Settings, SettingsError


def test_the_token_and_the_directory_reach_a_child_process(tmp_path: Path) -> None:
    assert Settings.from_env({}).metrics_token == "" and Settings.from_env({}).metrics_dir is None
    chosen = Settings(metrics_token="t0k3n", metrics_dir=tmp_path)
    again = Settings.from_env(chosen.as_env())
    assert (again.metrics_token, again.metrics_dir) == ("t0k3n", tmp_path)
    assert "t0k3n" not in repr(chosen)  # a secret, never printed with the settings


def test_a_directory_that_is_not_there_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PROMETHEUS_MULTIPROC_DIR"):
        Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "missing")})


def _value(counter: object, label: str) -> float:
    return float(counter.labels(label)._value.get())  # type: ignore[attr-defined]


def test_a_label_outside_the_known_values_counts_as_other() -> None:
    """No label value comes from a client: anything unexpected is ``other``."""
    before = _value(JOINS, OTHER), _value(REFUSALS, OTHER), _value(REFUSALS, "not_found")
    count_join("made-up")
    count_refusal("made-up", 400)
    count_refusal(ErrorCode.NOT_FOUND, 404)
    count_refusal(ErrorCode.UNAVAILABLE, 503)  # a 5xx is no refusal
    after = _value(JOINS, OTHER), _value(REFUSALS, OTHER), _value(REFUSALS, "not_found")
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert _value(REFUSALS, "unavailable") == 0
    assert ("made-up",) not in JOINS._metrics
