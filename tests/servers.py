"""Real servers for the tests, each started by the suite on a free loopback port.

The machine's own Redis and PostgreSQL (6379, 5432) are never used: a run must
not see, or leave behind, anyone else's data.

- `redis_server` (session) / `redis_url` (per test, FLUSHALL first)
- `postgres_server` (session) / `database_url` (per test, a fresh database)
- `private_postgres()`: a cluster of a test's own, which it may stop and start
- `chromium_path` (session): skipped when Chromium is missing, failed under CI
- `local_beacon_url()` / `beacon_url` (session): one local drand-speaking beacon
  (launch/beacon_server.py, a round a second) for every stack of the run
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql

from fairdrop.settings import Settings
from launch.beacon_server import running_beacon
from launch.redis_server import RedisServer, start_redis_server

POSTGRES_START_ATTEMPTS = 3
POSTGRES_READY_TIMEOUT_SECONDS = 30
# The tests' beacon: a round a second, so a draw waits about two after the drop.
BEACON_PERIOD_SECONDS = 1
# The round a draw waits for: the first out this long after the drop.
TEST_BEACON_MARGIN_SECONDS = 0.1


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with start_redis_server() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@dataclass
class PostgresServer:
    host: str
    port: int
    bindir: Path
    root: Path  # holds data/, the unix socket and postgres.log; removed at the end

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def conninfo(self, database: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    @property
    def running(self) -> bool:
        # pg_ctl removes the pid file once the server has shut down.
        return (self.data_dir / "postmaster.pid").exists()

    def stop(self) -> None:
        """Shuts the server down (``-m fast``: open connections are cut); data stays."""
        _run_as_postgres(self, "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Starts a stopped server again on the same port, with the same data."""
        if not _pg_ctl_start(self):
            raise RuntimeError(f"port {self.port} was taken while PostgreSQL was stopped")
        _wait_until_connectable(self)


@contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of its own on a free port, removed at the end."""
    server = _start_postgres()
    try:
        yield server
    finally:
        _stop_postgres(server)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


@contextmanager
def fresh_database(server: PostgresServer) -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards; yields its URL."""
    name = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.url(name)
    finally:
        with psycopg.connect(server.conninfo(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    with fresh_database(postgres_server) as url:
        yield url


@dataclass
class SharedBeacon:
    """The run's one local beacon: started by the first stack that wants it (most
    tests never draw), stopped when the session ends."""

    log_path: Path | None = None
    url: str = ""
    servers: ExitStack | None = None

    def start_once(self) -> str:
        if self.servers is None:
            self.servers = ExitStack()
            beacon = running_beacon(self.log_path, period=BEACON_PERIOD_SECONDS)
            self.url = self.servers.enter_context(beacon)
        return self.url

    def stop(self) -> None:
        if self.servers is not None:
            self.servers.close()
            self.servers = None


# One per test process: running_stack (tests/live_stack.py) is called directly
# by tests, not only through fixtures, so it finds the beacon here.
_shared_beacon = SharedBeacon()


def local_beacon_url() -> str:
    """The URL of the run's local beacon, started on first use."""
    return _shared_beacon.start_once()


@pytest.fixture(scope="session", autouse=True)
def _local_beacon_stops_at_the_end(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    _shared_beacon.log_path = tmp_path_factory.getbasetemp() / "beacon.log"
    yield
    _shared_beacon.stop()


@pytest.fixture(scope="session")
def beacon_url() -> str:
    return local_beacon_url()


@pytest.fixture
def demo_settings(redis_url: str, database_url: str, tmp_path: Path, beacon_url: str) -> Settings:
    """Settings for a demo run (launch.demo.run_demo) on this test's servers."""
    return Settings(
        redis_url=redis_url,
        database_url=database_url,
        data_dir=tmp_path,
        beacon_url=beacon_url,
        beacon_margin_seconds=TEST_BEACON_MARGIN_SECONDS,
    )


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    path = path or shutil.which("chromium")
    if path:
        return path
    message = "Chromium is not installed: apt-get install -y chromium (./dev test does it as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def find_postgres_bindir() -> Path:
    """The bin directory holding initdb and pg_ctl (Debian keeps them off PATH)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        reported = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        candidates.append(Path(reported))
    by_version = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += [Path(path) for path in by_version]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")


def _start_postgres() -> PostgresServer:
    bindir = find_postgres_bindir()
    root = Path(tempfile.mkdtemp(prefix="fairdrop-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PostgresServer(host="127.0.0.1", port=0, bindir=bindir, root=root)
    try:
        _run_as_postgres(
            server,
            "initdb",
            *("-D", str(server.data_dir), "-A", "trust", "-U", "postgres"),
            *("--no-sync", "-E", "UTF8", "--locale=C"),
        )
        for _attempt in range(POSTGRES_START_ATTEMPTS):
            server.port = _free_port()
            if _pg_ctl_start(server):
                _wait_until_connectable(server)
                return server
        raise RuntimeError("PostgreSQL lost the race for a free port every time")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _pg_ctl_start(server: PostgresServer) -> bool:
    # Durability is worthless for throwaway test data; turning it off makes
    # CREATE DATABASE and commits several times faster.
    options = (
        f"-p {server.port} -c listen_addresses={server.host} -k {server.root}"
        " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        " -c max_connections=200"
    )
    log = server.root / "postgres.log"
    log.unlink(missing_ok=True)  # so the check below reads this attempt only
    started = _run_as_postgres(
        server,
        "pg_ctl",
        *("-D", str(server.data_dir), "-l", str(log)),
        *("-w", "-t", str(POSTGRES_READY_TIMEOUT_SECONDS), "-o", options, "start"),
        check=False,
    )
    if started.returncode == 0:
        return True
    if "Address already in use" in _log_tail(log):
        return False  # another process took the port between probe and bind
    raise RuntimeError(f"pg_ctl start failed:\n{started.stdout}{started.stderr}{_log_tail(log)}")


def _wait_until_connectable(server: PostgresServer) -> None:
    deadline = time.monotonic() + POSTGRES_READY_TIMEOUT_SECONDS
    while True:
        try:
            with psycopg.connect(server.conninfo(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _stop_postgres(server: PostgresServer) -> None:
    try:
        if server.running:
            server.stop()
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


def _run_as_postgres(
    server: PostgresServer, program: str, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool, as the postgres user when we are root (it refuses root)."""
    command = [str(server.bindir / program), *args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    # cwd: the postgres user may not be allowed into the directory pytest runs in.
    done = subprocess.run(command, cwd=server.root, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{program} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            f"{_log_tail(server.root / 'postgres.log')}"
        )
    return done


def _log_tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return ""
    return "\npostgres.log:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
