"""fairdrop/redis_wire.py Autopipeline, against a real Redis: the calls of one
pass of the loop share one connection and one round trip, each keeps its own
answer or error, and a connection lost fails (or retries) as a lone command does."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
import redis.exceptions

from fairdrop.connections import async_redis
from fairdrop.redis_wire import Autopipeline
from fairdrop.settings import Settings

# A script of our own: its answer tells which call it was, and it can fail on demand.
ECHO = "if ARGV[1] == 'fail' then return redis.error_reply('asked to fail') end return ARGV[1]"


def _lone_client(url: str) -> redis.asyncio.Redis:
    client = async_redis(Settings(redis_url=url))
    assert isinstance(client, redis.asyncio.Redis)
    return client


async def _connected_clients(url: str) -> int:
    async with redis.asyncio.Redis.from_url(url) as watcher:
        info = await watcher.info("clients")
        return int(info["connected_clients"])


async def test_calls_of_one_pass_go_on_one_connection_and_keep_their_own_answers(
    redis_url: str,
) -> None:
    client = _lone_client(redis_url)
    try:
        before = await _connected_clients(redis_url)
        sha = await client.script_load(ECHO)  # the client's first connection
        pipelined = Autopipeline(client)
        asked = [f"fan-{i}" for i in range(200)] + ["fail"]
        answers = await asyncio.gather(
            *(pipelined.execute("EVALSHA", sha, 0, arg) for arg in asked), return_exceptions=True
        )
        # One connection for all 201 (each on its own, they took 200: the pool's cap).
        assert await _connected_clients(redis_url) == before + 1
        assert answers[:-1] == [arg.encode() for arg in asked[:-1]]
        assert isinstance(answers[-1], redis.exceptions.ResponseError)
        assert "asked to fail" in str(answers[-1])
        # A lone call, and a lone call's error, are the same as a batch's.
        assert await pipelined.execute("EVALSHA", sha, 0, "alone") == b"alone"
        with pytest.raises(redis.exceptions.NoScriptError):
            await pipelined.execute("EVALSHA", "0" * 40, 0, "x")
    finally:
        await client.aclose()


async def test_a_caller_that_stops_waiting_leaves_the_others_their_answers(
    redis_url: str,
) -> None:
    client = _lone_client(redis_url)
    try:
        pipelined = Autopipeline(client)
        given_up = pipelined.execute("ECHO", "a")
        kept = [pipelined.execute("ECHO", str(i)) for i in range(5)]
        given_up.cancel()
        assert await asyncio.gather(*kept) == [str(i).encode() for i in range(5)]
        assert await client.ping()
    finally:
        await client.aclose()


async def test_a_redis_out_of_reach_fails_every_call_of_the_batch(redis_url: str) -> None:
    # A port nothing listens on: redis-py's retries run out as for one command.
    client = _lone_client("redis://127.0.0.1:1")
    try:
        pipelined = Autopipeline(client)
        answers = await asyncio.gather(
            *(pipelined.execute("PING") for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(a, redis.exceptions.ConnectionError) for a in answers)
        with pytest.raises(redis.exceptions.ConnectionError):
            await pipelined.execute("PING")
    finally:
        await client.aclose()
