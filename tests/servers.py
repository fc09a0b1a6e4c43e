"""Real servers for the tests, each started by the suite on a free loopback port.

The machine's own Redis and PostgreSQL (6379, 5432) are never used: a run must
not see, or leave behind, anyone else's data.

- `redis_server` (session) / `redis_url` (per test, FLUSHALL first)
- `postgres_server` (session) / `database_url` (per test, a fresh database)
- `private_postgres()`: a cluster of a test's own, which it may stop and start
  (launch/postgres_server.py, where the demo's --chaos and the bench start theirs)
- `chromium_path` (session): skipped when Chromium is missing, failed under CI
- `local_beacon_url()` / `beacon_url` (session): one local drand-speaking beacon
  (launch/beacon_server.py, a round a second) for every stack of the run
"""

from __future__ import annotations

import os
import secrets
import shutil
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
from launch.postgres_server import PostgresServer as PostgresServer
from launch.postgres_server import private_postgres as private_postgres
from launch.redis_server import RedisServer, start_redis_server
from queue_engine.scripts import SyncScripts

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


@pytest.fixture
def scripts(redis_url: str) -> Iterator[SyncScripts]:
    """The engine's Lua scripts on a clean private Redis."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield SyncScripts(client)
    finally:
        client.close()


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
