"""Typed reads of Redis state for assertions (redis-py's own return types are unions)."""

from __future__ import annotations

from typing import Any, cast

import redis


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def zset_scores(client: redis.Redis, key: str) -> dict[str, int]:
    pairs = cast(list[tuple[bytes, float]], client.zrange(key, 0, -1, withscores=True))
    return {text(member): int(score) for member, score in pairs}


def set_members(client: redis.Redis, key: str) -> set[str]:
    return {text(m) for m in cast(set[bytes], client.smembers(key))}


def zset_members(client: redis.Redis, key: str) -> list[str]:
    return [text(m) for m in cast(list[bytes], client.zrange(key, 0, -1))]
