"""nginx (Debian's package) in front of several web processes, as the deployment example runs it.

The config is deploy/nginx.conf.template with its ``@NAME@`` fields filled:
round robin over the web processes' ports (no sticky sessions: any process
serves any fan), websockets passed on, X-Forwarded-For set for
FAIRDROP_TRUSTED_PROXIES, a refused connection retried on the next process,
and ``X-Upstream`` naming the process that answered. :func:`running_nginx`
starts one on loopback with a prefix directory of its own (pid, logs, temp
files), so tests, the stack and benches never touch the system's nginx.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from launch.processes import free_port, stop_processes

TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf.template"
# Debian puts nginx in /usr/sbin, which is not on every user's PATH.
NGINX_PLACES = ("/usr/sbin/nginx", "/sbin/nginx")
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
UPSTREAM_HEADER = "X-Upstream"


# How long nginx leaves a web process out after a connection to it failed.
FAIL_TIMEOUT_S = 2


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in NGINX_PLACES if os.access(p, os.X_OK)), None)
    if found is None:
        raise RuntimeError("nginx is not installed (`apt-get install nginx`; ./dev test does it)")
    return found


def nginx_config(
    listen: str,
    upstreams: Sequence[str],
    max_body_bytes: int,
    worker_processes: str = "auto",
    template: Path = TEMPLATE,
) -> str:
    """The template filled: nginx on ``listen`` before ``upstreams`` (each ``host:port``)."""
    if not upstreams:
        raise ValueError("nginx needs at least one web process to send requests to")
    # A failed process is left out for FAIL_TIMEOUT_S, not nginx's default 10 s:
    # when every process has failed within that time (one killed, another
    # killed just after the first came back), nginx answers 502 to everything
    # without trying any, until the time is up.
    servers = "\n".join(
        f"        server {address} max_fails=1 fail_timeout={FAIL_TIMEOUT_S}s;"
        for address in upstreams
    )
    fields = {
        "LISTEN": listen,
        "UPSTREAM_SERVERS": servers,
        # Above the web process's own cap: a body over it reaches fairdrop,
        # which names the problem in JSON (413 body_too_large) where nginx
        # would answer with an HTML page; nginx still stops anything far larger.
        "MAX_BODY_BYTES": str(2 * max_body_bytes),
        "WORKER_PROCESSES": worker_processes,
    }
    text = template.read_text("utf-8")
    for name, value in fields.items():
        text = text.replace(f"@{name}@", value)
    return text


@dataclass
class Nginx:
    host: str
    port: int
    prefix: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _wait_until_listening(
    host: str, port: int, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors = log.read_text("utf-8", errors="replace") if log.exists() else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {errors[-2000:]}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on {host}:{port} within 10s")


def start_nginx(
    prefix: Path,
    upstreams: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_body_bytes: int = 16_384,
    worker_processes: str = "auto",
) -> Nginx:
    """nginx as a child process (``daemon off``), listening once this returns; port 0: any."""
    port = port or free_port()
    for name in ("logs", *(f"temp/{d}" for d in TEMP_DIRS)):
        (prefix / name).mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(
        nginx_config(f"{host}:{port}", upstreams, max_body_bytes, worker_processes), "utf-8"
    )
    directives = "daemon off;"
    if os.geteuid() == 0:
        # Started by root, nginx's workers would run as nobody and could not
        # write temp files under a test's private directory.
        directives += " user root;"
    argv = [nginx_binary(), "-p", str(prefix), "-c", str(config), "-e", "logs/error.log"]
    process = subprocess.Popen(
        [*argv, "-g", directives],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Nginx(host, port, prefix, process)
    try:
        _wait_until_listening(host, port, process, prefix / "logs" / "error.log")
    except BaseException:
        stop_processes([process])
        raise
    return server


@contextmanager
def running_nginx(
    prefix: Path,
    upstreams: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    max_body_bytes: int = 16_384,
    worker_processes: str = "auto",
) -> Iterator[Nginx]:
    """:func:`start_nginx` until the end of the block, then stopped (SIGTERM, fast shutdown)."""
    server = start_nginx(
        prefix,
        upstreams,
        host=host,
        port=port,
        max_body_bytes=max_body_bytes,
        worker_processes=worker_processes,
    )
    try:
        yield server
    finally:
        stop_processes([server.process])
