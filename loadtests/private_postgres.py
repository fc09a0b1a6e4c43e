"""A throwaway PostgreSQL cluster on a free 127.0.0.1 port, for the benchmark baseline.

The tests start theirs through a pytest fixture (tests/servers.py), which a
command-line benchmark cannot import without pytest; this is the same recipe
without the fixture: ``initdb`` and ``pg_ctl`` as the ``postgres`` user when
run as root (PostgreSQL refuses root), in a temporary directory removed at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_SECONDS = 30
START_ATTEMPTS = 3


def _bindir() -> Path:
    """Debian keeps initdb and pg_ctl off PATH, under /usr/lib/postgresql/<version>/bin."""
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: int(Path(path).parent.name) if Path(path).parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    for candidate in [*map(Path, versions), *([Path(on_path).parent] if on_path else [])]:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise RuntimeError("initdb and pg_ctl not found: apt-get install -y postgresql")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(root: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    # cwd: the postgres user may not be allowed into the caller's directory.
    return subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)


@contextmanager
def private_postgres() -> Iterator[str]:
    """Yields a psycopg conninfo for the cluster's ``postgres`` database."""
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="fairdrop-bench-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    started = False
    try:
        init = [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        done = _run(root, [*init, "--no-sync", "-E", "UTF8", "--locale=C"])
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}{done.stderr}")
        for _attempt in range(START_ATTEMPTS):
            port = _free_port()
            options = (
                f"-p {port} -c listen_addresses=127.0.0.1 -k {root}"
                " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
            )
            pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "postgres.log")]
            done = _run(
                root, [*pg_ctl, "-w", "-t", str(START_TIMEOUT_SECONDS), "-o", options, "start"]
            )
            if done.returncode == 0:
                started = True
                break
        if not started:
            raise RuntimeError(f"pg_ctl start failed {START_ATTEMPTS} times:\n{done.stderr}")
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        if started:
            _run(root, [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)
