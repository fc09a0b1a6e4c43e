"""A whole fairdrop on this machine: Redis (embedded if none is given), web, worker, clock.

Each part runs as its own process, exactly as the Procfile runs them, so
`fairdrop run`, `fairdrop demo` and the end-to-end tests exercise the real thing.
With ``beacon_url="local"`` (the demo) a local drand-speaking beacon runs too.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launch.redis_server import RedisServer
from fairdrop.setting_values import BEACON_LOCAL
from fairdrop.settings import Settings
from launch.beacon_server import running_beacon

# Helper servers (localstripe, the OpenID provider) and tests import these from
# here, where they were before they got a module of their own.
from launch.processes import free_port as free_port
from launch.processes import running_server as running_server
from launch.processes import stop_processes, wait_until_answered
from purchase.db import upgrade_database


@dataclass
class Stack:
    settings: Settings
    workers: int = 1
    # Keep the embedded Redis's data in data_dir across restarts (fairdrop run).
    persist_redis: bool = False
    log_dir: Path | None = None
    redis: RedisServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Helper servers started with the stack (the local beacon), stopped with it.
    helpers: ExitStack = field(default_factory=ExitStack)

    @property
    def base_url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def start(self) -> Stack:
        try:
            return self._start()
        except BaseException:
            self.stop()  # nothing started so far outlives a failed start
            raise

    def _start(self) -> Stack:
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
        log_dir = self.log_dir or data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.beacon_url == BEACON_LOCAL:
            beacon = running_beacon(log_dir / "beacon.log")
            changes["beacon_url"] = self.helpers.enter_context(beacon)
        self.settings = self.settings.with_overrides(**changes)
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
        self.helpers.close()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
