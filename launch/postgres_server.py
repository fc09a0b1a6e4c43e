"""A private PostgreSQL cluster on a free 127.0.0.1 port, which may be stopped and started.

The tests (tests/servers.py), the benchmark (loadtests/private_postgres.py)
and ``fairdrop demo --chaos`` (which stops it mid-sale) start theirs here:
``initdb`` and ``pg_ctl`` as the ``postgres`` user when run as root
(PostgreSQL refuses root), in a temporary directory removed at the end. The
machine's own PostgreSQL (5432) is never used.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from launch.processes import free_port

POSTGRES_START_ATTEMPTS = 3
POSTGRES_READY_TIMEOUT_SECONDS = 30


class PostgresNotInstalled(RuntimeError):
    """initdb and pg_ctl are nowhere to be found."""


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
    raise PostgresNotInstalled(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    )


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
            server.port = free_port()
            if _pg_ctl_start(server):
                _wait_until_connectable(server)
                return server
        raise RuntimeError("PostgreSQL lost the race for a free port every time")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _pg_ctl_start(server: PostgresServer) -> bool:
    # Durability is worthless for throwaway data; turning it off makes
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
    # cwd: the postgres user may not be allowed into the caller's directory.
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
