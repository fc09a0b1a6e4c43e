"""Redis clients built from the settings (one place, so every process agrees)."""

from __future__ import annotations

import redis
import redis.asyncio

from fairdrop.settings import Settings


class NoRedisConfigured(RuntimeError):
    pass


def _url(settings: Settings) -> str:
    if not settings.redis_url:
        raise NoRedisConfigured(
            "REDIS_URL is not set: start a drop with `fairdrop run` or `fairdrop demo`, "
            "which start an embedded Redis, or point REDIS_URL at a server"
        )
    return settings.redis_url


def rq_redis(settings: Settings) -> redis.Redis:
    """RQ's Redis: its own server when RQ_REDIS_URL names one, else the sale's."""
    if settings.rq_redis_url:
        return redis.Redis.from_url(settings.rq_redis_url, health_check_interval=30)
    if settings.redis_cluster:
        raise NoRedisConfigured(
            "RQ cannot use a Redis Cluster: set RQ_REDIS_URL to a lone Redis server for RQ"
        )
    return sync_redis(settings)


def sync_redis(settings: Settings) -> redis.Redis:
    # Bytes, not str: RQ stores pickled job data on the same connection.
    return redis.Redis.from_url(_url(settings), health_check_interval=30)


def async_redis(settings: Settings, max_connections: int = 200) -> redis.asyncio.Redis:
    # A blocking pool: a burst of joins beyond the pool waits for a connection
    # instead of failing with MaxConnectionsError (a 500) as the default pool does.
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        _url(settings), max_connections=max_connections, timeout=10, health_check_interval=30
    )
    return redis.asyncio.Redis.from_pool(pool)  # the client owns the pool and closes it
