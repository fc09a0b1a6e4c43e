"""A real Redis Cluster for the tests (launch/redis_cluster.py): 3 masters, a
replica each, on loopback. One per session for the tests that only use it;
``fresh_cluster`` gives a test one of its own to kill masters in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from launch.redis_cluster import RedisCluster, running_cluster


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with running_cluster(tmp_path_factory.mktemp("redis-cluster")) as cluster:
        yield cluster


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Callable[[], AbstractContextManager[RedisCluster]]:
    """A cluster of the test's own, to start with ``with fresh_cluster() as cluster``."""
    return lambda: running_cluster(tmp_path / "redis-cluster")
