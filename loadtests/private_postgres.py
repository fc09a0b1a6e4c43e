"""A throwaway PostgreSQL cluster on a free 127.0.0.1 port, for the benchmark baseline.

The cluster itself is launch/postgres_server.py's, as the tests' and the
chaos demo's are; the benchmark only wants its conninfo.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from launch.postgres_server import private_postgres as private_cluster


@contextmanager
def private_postgres() -> Iterator[str]:
    """Yields a psycopg conninfo for the cluster's ``postgres`` database."""
    with private_cluster() as server:
        yield server.conninfo()
