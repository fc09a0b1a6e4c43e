"""A whole fairdrop on this machine: Redis (embedded if none is given), web, worker, clock.

Each part runs as its own process, exactly as the Procfile runs them, so
`fairdrop run`, `fairdrop demo` and the end-to-end tests exercise the real thing.
With ``beacon_url="local"`` (the demo) a local drand-speaking beacon runs too.
With ``web_processes`` above one, that many web processes (web-0, web-1, ...)
listen on ports of their own behind nginx (launch/nginx.py), which listens on
the settings' port: the deployment example of docs/scaling.md. With ``clocks``
above one, a failover pair (clock, clock-1, ...) runs every sale's schedule.
``launch`` starts one more named process (a worker with a fault point, for
``fairdrop demo --chaos``) and ``kill`` ends one with SIGKILL, as a crash would.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from launch.redis_cluster import RedisCluster
    from launch.redis_server import RedisServer
from fairdrop.setting_values import BEACON_LOCAL
from fairdrop.settings import Settings
from launch.beacon_server import running_beacon
from launch.metrics_dir import fresh_metrics, mark_dead
from launch.nginx import Nginx, running_nginx

# Helper servers (localstripe, the OpenID provider) and tests import these from
# here, where they were before they got a module of their own.
from launch.processes import free_port as free_port
from launch.processes import running_server as running_server
from launch.processes import stop_processes, wait_until_answered
from purchase.db import upgrade_database

# The address nginx connects to the web processes from, believed in X-Forwarded-For.
NGINX_ADDRESS = "127.0.0.1/32"


@dataclass
class Stack:
    settings: Settings
    workers: int = 1
    # Above one: that many web processes behind nginx (no nginx with one).
    web_processes: int = 1
    # Above one: clocks side by side (tick.lua is safe to run from several).
    clocks: int = 1
    # Keep the embedded Redis's data in data_dir across restarts (fairdrop run).
    persist_redis: bool = False
    log_dir: Path | None = None
    redis: RedisServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # Helper servers started with the stack (the local beacon), stopped with it.
    helpers: ExitStack = field(default_factory=ExitStack)
    nginx: Nginx | None = None
    # The stack's own Redis Cluster (settings.redis_cluster and no REDIS_URL).
    cluster: RedisCluster | None = None
    # Each web process's port, by name, behind nginx.
    web_ports: dict[str, int] = field(default_factory=dict)
    # What each process was started with, to start it again (restart).
    _envs: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    # Processes started in a process group of their own (launch), killed as a group.
    _groups: set[str] = field(default_factory=set, repr=False)
    _log_dir: Path = field(default=Path("."), repr=False)

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
        if not self.settings.redis_url and self.settings.redis_cluster:
            changes.update(self._start_cluster(data_dir))
        elif not self.settings.redis_url:
            from launch.redis_server import start_redis_server

            self.redis = start_redis_server(data_dir / "redis", persist=self.persist_redis)
            changes["redis_url"] = self.redis.url
        if not self.settings.secret_key:
            changes["secret_key"] = secrets.token_urlsafe(32)
        if not self.settings.organiser_token:
            # Hex: a token pasted into a command line never starts with "-".
            changes["organiser_token"] = secrets.token_hex(24)
        changes.update(fresh_metrics(self.settings, data_dir))
        if self.settings.port == 0:
            changes["port"] = free_port()
        if self.web_processes > 1 and NGINX_ADDRESS not in self.settings.trusted_proxies:
            # nginx connects from loopback and names the fan in X-Forwarded-For.
            changes["trusted_proxies"] = (*self.settings.trusted_proxies, NGINX_ADDRESS)
        log_dir = self.log_dir or data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.beacon_url == BEACON_LOCAL:
            beacon = running_beacon(log_dir / "beacon.log")
            changes["beacon_url"] = self.helpers.enter_context(beacon)
        self.settings = self.settings.with_overrides(**changes)
        env = {**os.environ, **self.settings.as_env()}
        if self.web_processes > 1:
            webs = [f"web-{i}" for i in range(self.web_processes)]
            self.web_ports = {name: free_port() for name in webs}
        else:
            webs = ["web"]
        clocks = ["clock"] + [f"clock-{i}" for i in range(1, self.clocks)]
        names = webs + clocks + [f"worker-{i}" for i in range(self.workers)]
        self._log_dir = log_dir
        for name in names:
            port = self.web_ports.get(name)
            self._envs[name] = env if port is None else {**env, "FAIRDROP_PORT": str(port)}
            self._launch(name)
        self._wait_for_web(data_dir / "nginx")
        return self

    def _start_cluster(self, data_dir: Path) -> dict[str, object]:
        """A Redis Cluster of its own for the sale state (3 masters, a replica
        each) and a lone Redis for RQ, which cannot use a cluster."""
        from launch.redis_cluster import running_cluster
        from launch.redis_server import start_redis_server

        self.cluster = self.helpers.enter_context(running_cluster(data_dir / "cluster"))
        # Every master as a startup node: a process started after one died still connects.
        changes: dict[str, object] = {"redis_url": ",".join(m.url for m in self.cluster.masters())}
        if not self.settings.rq_redis_url:
            self.redis = start_redis_server(data_dir / "rq-redis", persist=self.persist_redis)
            changes["rq_redis_url"] = self.redis.url
        return changes

    def _launch(self, name: str) -> None:
        # The child keeps its own copy of the file descriptor.
        with self.log_path(name).open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", "launch.cli", name.split("-")[0]],
                env=self._envs[name],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=name in self._groups,
            )

    def log_path(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def launch(self, name: str, extra_env: Mapping[str, str] | None = None) -> None:
        """Starts (or starts again) a process named ``<command>-<anything>`` with the
        stack's environment and ``extra_env`` over it, in a process group of its own:
        a worker's child (RQ's scheduler) then dies with it in ``kill``."""
        old = self.processes.get(name)
        if old is not None and old.poll() is None:
            raise RuntimeError(f"{name} is running")
        base = self._envs.get("clock") or {**os.environ, **self.settings.as_env()}
        self._envs[name] = {**base, **(extra_env or {})}
        self._groups.add(name)
        self._launch(name)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crashed machine: no goodbye; its process group too, if it has one."""
        process = self.processes[name]
        if name in self._groups:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
        process.wait()
        mark_dead(self.settings, process.pid)

    def restart(self, name: str) -> None:
        """Starts a process of the stack again (after a test killed it), as it first ran.

        A web process is back once it answers on its own port.
        """
        old = self.processes[name]
        if old.poll() is None:
            stop_processes([old])
        mark_dead(self.settings, old.pid)
        self._launch(name)
        port = self.web_ports.get(name)
        if port is not None:
            # Only this one: others may lie dead on purpose while it starts.
            started = {name: self.processes[name]}
            wait_until_answered(f"http://{self.settings.host}:{port}/healthz", started)

    def _wait_for_web(self, nginx_prefix: Path) -> None:
        host = self.settings.host
        for port in self.web_ports.values():
            wait_until_answered(f"http://{host}:{port}/healthz", self.processes)
        if self.web_ports:
            self.nginx = self.helpers.enter_context(
                running_nginx(
                    nginx_prefix,
                    [f"{host}:{port}" for port in self.web_ports.values()],
                    host=host,
                    port=self.settings.port,
                    max_body_bytes=self.settings.max_body_bytes,
                )
            )
        wait_until_answered(f"{self.base_url}/healthz", self.processes)

    def topology(self) -> dict[str, int]:
        """How the stack is laid out, for the demo's report."""
        masters = len(self.cluster.masters()) if self.cluster is not None else 1
        return {"redis_masters": masters, "web_processes": max(1, len(self.web_ports))}

    def web_name(self, upstream: str) -> str:
        """Which web process an ``X-Upstream`` value (nginx's ``host:port``, last tried) names."""
        port = int(upstream.split(",")[-1].strip().rsplit(":", 1)[-1])
        return next(name for name, p in self.web_ports.items() if p == port)

    def stop(self) -> None:
        stop_processes(list(self.processes.values()))
        for name in self._groups & set(self.processes):
            # Whatever the process left behind in its group (RQ's scheduler).
            with suppress(ProcessLookupError):
                os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        self.helpers.close()
        self.nginx = None
        self.cluster = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
