"""The stack's Prometheus metrics: one directory for every process, a token to read them.

prometheus_client's multiprocess mode (fairdrop/metrics.py): every process
the stack starts gets ``PROMETHEUS_MULTIPROC_DIR`` in its environment
(``Settings.as_env``), a directory emptied of its counts at each start, since its files
are counts of one run and a process of the last run must not be added to
this one's. The library's rule for a process that ends is
``mark_process_dead``: its live gauges (open sockets) stop counting, its
counters stay.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from prometheus_client.multiprocess import mark_process_dead

from fairdrop.settings import Settings


def fresh_metrics(settings: Settings, data_dir: Path) -> dict[str, object]:
    """Settings changes for a new run: an empty metrics directory, and a token
    to scrape ``/metrics`` with when none is set (as the organiser's token)."""
    metrics_dir = settings.metrics_dir or data_dir / "metrics"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    # Only the library's own files: the directory may be one an operator named.
    for old in metrics_dir.glob("*.db"):
        old.unlink()
    changes: dict[str, object] = {"metrics_dir": metrics_dir}
    if not settings.metrics_token:
        changes["metrics_token"] = secrets.token_hex(24)
    return changes


def mark_dead(settings: Settings, pid: int) -> None:
    """A process of the stack ended: its live gauges no longer count."""
    if settings.metrics_dir is not None:
        mark_process_dead(pid, str(settings.metrics_dir))  # type: ignore[no-untyped-call]
