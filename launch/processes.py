"""Helper servers as processes of their own on loopback: start, wait until ready, stop.

The stack's parts, the local beacon, localstripe and the OpenID provider all
start this way, so a test or the demo sees each exactly as it runs alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# Generous: a web process imports the whole app, and on a box busy with other
# work (a CI neighbour, a benchmark) that alone took over 30 s.
START_TIMEOUT_S = 90.0


def wait_until_answered(
    url: str, processes: dict[str, subprocess.Popen[bytes]], timeout: float = START_TIMEOUT_S
) -> None:
    """Polls ``url`` until it answers 200; fails as soon as one of ``processes`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode} while starting")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def stop_processes(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 10.0) -> None:
    """Asks each to stop (SIGTERM), then kills what is still running after ``timeout``."""
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running_server(
    name: str, argv: list[str], ready_url: str, log_path: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A helper server (localstripe, an OpenID provider) as its own process, until the end.

    Ready once ``ready_url`` answers 200; its output goes to ``log_path``, or nowhere.
    """
    with log_path.open("ab") if log_path else open(os.devnull, "wb") as log:
        # The child keeps its own copy of the file descriptor.
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_answered(ready_url, {name: process})
        yield process
    finally:
        stop_processes([process])
