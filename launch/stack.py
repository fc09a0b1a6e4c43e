"""A whole fairdrop on this machine: Redis (embedded if none is given), web, worker, clock.

Each part runs as its own process, exactly as the Procfile runs them, so
`fairdrop run`, `fairdrop demo` and the end-to-end tests exercise the real thing.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from launch.redis_server import RedisServer
from fairdrop.settings import Settings
from purchase.db import upgrade_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_answered(
    url: str, processes: dict[str, subprocess.Popen[bytes]], timeout: float = 30.0
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


@dataclass
class Stack:
    settings: Settings
    workers: int = 1
    # Keep the embedded Redis's data in data_dir across restarts (fairdrop run).
    persist_redis: bool = False
    log_dir: Path | None = None
    redis: RedisServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def start(self) -> Stack:
        data_dir = self.settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        # Once, before web, worker and clock start, rather than in each of them.
        upgrade_database(self.settings)
        changes: dict[str, object] = {}
        if not self.settings.redis_url:
            from launch.redis_server import start_redis_server

            self.redis = start_redis_server(data_dir / "redis", persist=self.persist_redis)
            changes["redis_url"] = self.redis.url
        if not self.settings.secret_key:
            changes["secret_key"] = secrets.token_urlsafe(32)
        if not self.settings.organiser_token:
            # Hex: a token pasted into a command line never starts with "-".
            changes["organiser_token"] = secrets.token_hex(24)
        if self.settings.port == 0:
            changes["port"] = free_port()
        self.settings = self.settings.with_overrides(**changes)
        log_dir = self.log_dir or data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.settings.as_env()}
        names = ["web", "clock"] + [f"worker-{i}" for i in range(self.workers)]
        for name in names:
            command = name.split("-")[0]
            # The child keeps its own copy of the file descriptor.
            with (log_dir / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "launch.cli", command],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        self._wait_for_web()
        return self

    def _wait_for_web(self) -> None:
        wait_until_answered(f"{self.base_url}/healthz", self.processes)

    def stop(self) -> None:
        stop_processes(list(self.processes.values()))
        self.processes.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
