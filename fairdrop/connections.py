"""Redis clients built from the settings (one place, so every process agrees)."""

from __future__ import annotations

from typing import TypeAlias
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.retry
import redis.cluster
import redis.retry
from redis.backoff import ExponentialWithJitterBackoff

from fairdrop.redis_wire import OneJoinConnection
from fairdrop.settings import Settings

# The sale state's client: a lone server, or a Redis Cluster (settings.redis_cluster).
# Every sale key carries its event's hash tag, so both answer the same commands;
# what differs (pipelines in one slot, pub/sub) is handled where it is used.
SaleRedis: TypeAlias = redis.Redis | redis.RedisCluster
AsyncSaleRedis: TypeAlias = redis.asyncio.Redis | redis.asyncio.RedisCluster

# A killed master's replica takes over after the cluster's node timeout plus an
# election (1-3 s with a 1 s timeout, README "Redis Cluster"); the cluster client
# retries MOVED, connection errors and CLUSTERDOWN, rereading the slot map, for
# about this long (0.1 s doubling to 1 s, 12 tries) before a request fails.
CLUSTER_RETRIES = 12
# A lone server: a command that meets a broken connection (Redis restarted,
# its pooled connections dead) is sent again on a new one, up to this many
# times 0.1 s doubling apart. redis-py retries nothing on clients made from a
# URL, so the first request after a restart was a 500. While Redis is really
# down the command still fails within about 0.3 s: the web answers 503 then
# (web/unavailable.py), and the clock and worker try again in their loops.
# A retried script is one whose first run died with the server, or one whose
# answer a broken connection lost: join.lua places a fan once, hold.lua keeps
# its answer under the request id and confirm.lua confirms a hold once, so a
# second run changes nothing (a rate limit may count one hit twice).
LONE_RETRIES = 2


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.1, cap=1.0)


def _lone_retry() -> redis.retry.Retry:
    return redis.retry.Retry(_backoff(), retries=LONE_RETRIES)


def _async_lone_retry() -> redis.asyncio.retry.Retry:
    return redis.asyncio.retry.Retry(_backoff(), retries=LONE_RETRIES)


class NoRedisConfigured(RuntimeError):
    pass


def _url(settings: Settings) -> str:
    if settings.redis_url and "," in settings.redis_url and not settings.redis_cluster:
        raise NoRedisConfigured("REDIS_URL names several servers: set FAIRDROP_REDIS_CLUSTER=1")
    if not settings.redis_url:
        raise NoRedisConfigured(
            "REDIS_URL is not set: start a drop with `fairdrop run` or `fairdrop demo`, "
            "which start an embedded Redis, or point REDIS_URL at a server"
        )
    return settings.redis_url


def rq_redis(settings: Settings) -> redis.Redis:
    """RQ's Redis: its own server when RQ_REDIS_URL names one, else the sale's."""
    if settings.rq_redis_url:
        url = settings.rq_redis_url
    elif settings.redis_cluster:
        raise NoRedisConfigured(
            "RQ cannot use a Redis Cluster: set RQ_REDIS_URL to a lone Redis server for RQ"
        )
    else:
        url = _url(settings)
    return redis.Redis.from_url(url, health_check_interval=30, retry=_lone_retry())


def cluster_nodes(settings: Settings) -> tuple[str, list[tuple[str, int]]]:
    """A cluster's REDIS_URL: one node's URL, or several separated by commas.

    The first is the URL the client is made from; each other one is a further
    startup node (host and port), so a process started while one node is
    down still finds the cluster.
    """
    first, *more = [part.strip() for part in _url(settings).split(",") if part.strip()]
    nodes = []
    for url in more:
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise NoRedisConfigured(f"REDIS_URL names a node without host and port: {url!r}")
        nodes.append((parts.hostname, parts.port))
    return first, nodes


def sync_redis(settings: Settings) -> SaleRedis:
    if settings.redis_cluster:
        url, more = cluster_nodes(settings)
        return redis.RedisCluster.from_url(
            url,
            startup_nodes=[redis.cluster.ClusterNode(h, port) for h, port in more],  # type: ignore[no-untyped-call]
            health_check_interval=30,
            retry=redis.retry.Retry(_backoff(), retries=CLUSTER_RETRIES),
        )
    # Bytes, not str: RQ stores pickled job data on the same connection.
    return redis.Redis.from_url(_url(settings), health_check_interval=30, retry=_lone_retry())


def async_redis(settings: Settings, max_connections: int = 200) -> AsyncSaleRedis:
    if settings.redis_cluster:
        # Per node. The cluster client has no blocking pool: past this many
        # commands in flight on one node a command fails (MaxConnectionsError).
        url, more = cluster_nodes(settings)
        return redis.asyncio.RedisCluster.from_url(
            url,
            startup_nodes=[redis.asyncio.cluster.ClusterNode(host, port) for host, port in more],
            max_connections=max_connections,
            health_check_interval=30,
            retry=redis.asyncio.retry.Retry(_backoff(), retries=CLUSTER_RETRIES),
        )
    # A blocking pool: a burst of joins beyond the pool waits for a connection
    # instead of failing with MaxConnectionsError (a 500) as the default pool does.
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        _url(settings),
        max_connections=max_connections,
        timeout=10,
        health_check_interval=30,
        retry=_async_lone_retry(),
        # Over TCP (a unix: or rediss: URL names its own class): fewer copies per command.
        connection_class=OneJoinConnection,
    )
    return redis.asyncio.Redis.from_pool(pool)  # the client owns the pool and closes it
