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


def sync_redis(settings: Settings) -> redis.Redis:
    # Bytes, not str: RQ stores pickled job data on the same connection.
    return redis.Redis.from_url(_url(settings), health_check_interval=30)


def async_redis(settings: Settings, max_connections: int = 200) -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(
        _url(settings), max_connections=max_connections, health_check_interval=30
    )
