"""What the benchmarks read about processes from /proc, and a plain percentile."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def percentile(values: list[float], share: float) -> float | None:
    """The value at ``share`` of the sorted values (nearest rank), None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the uvicorn supervisor and its workers)."""
    pids = [pid]
    index = 0
    while index < len(pids):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pids[index]}/task").iterdir():
                pids += [int(c) for c in (task / "children").read_text().split()]
        index += 1
    return pids


def web_process_ids(pid: int, web_processes: int, timeout: float = 30.0) -> list[int]:
    """The web supervisor and its workers, once all of them have started."""
    deadline = time.monotonic() + timeout
    pids = process_tree(pid)
    while web_processes > 1 and len(pids) <= web_processes and time.monotonic() < deadline:
        time.sleep(0.2)
        pids = process_tree(pid)
    return pids


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_rss_kb(pids: list[int]) -> int:
    return sum(rss_kb(pid) for pid in pids)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are the 14th and 15th fields; fields[0] here is the 3rd.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU of the processes still running; one that has exited counts nothing more."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total
