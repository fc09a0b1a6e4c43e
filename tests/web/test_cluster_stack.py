"""A whole drop on a live stack whose sale state is a Redis Cluster (3 masters,
a replica each) and whose RQ has a lone Redis of its own (RQ_REDIS_URL):
fans join in the window, the draw numbers them, the clock admits them over
their websockets (sharded pub/sub), they hold, pay and get their tickets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
from redis.crc import key_slot

from fairdrop.connections import sync_redis
from fairdrop.protocol import FanState
from launch.redis_cluster import RedisCluster
from launch.redis_server import start_redis_server
from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import Crowd, Fan, Message, ga, is_admitted, is_message, is_status, stats

FANS = 14
STOCK = 10  # DEFAULT_TICKET_TYPE's


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer,
    redis_cluster: RedisCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveStack]:
    workdir = tmp_path_factory.mktemp("cluster-stack")
    with (
        start_redis_server(workdir / "rq-redis") as rq_server,
        running_stack(
            postgres_server,
            workdir,
            redis_url=redis_cluster.url,
            redis_cluster=True,
            rq_redis_url=rq_server.url,
        ) as stack,
    ):
        yield stack


@pytest.fixture
async def crowd(live_stack: LiveStack) -> AsyncIterator[Crowd]:
    fans = Crowd(live_stack)
    try:
        yield fans
    finally:
        await fans.close()


def _admitted_or_over(message: Message) -> bool:
    return is_admitted(message) or (
        message.get("t") == "status" and message.get("state") == FanState.SOLD_OUT
    )


async def _try_to_buy(fan: Fan, numbered: Message) -> bool:
    """Waits for admission on the socket, holds one and pays; True with an order."""
    socket = fan.sockets[0]
    told = numbered if _admitted_or_over(numbered) else None
    told = told or await socket.next(_admitted_or_over, timeout=30)
    if not is_admitted(told):
        return False
    asked = await fan.ask_for(await fan.admission_token())
    assert asked.status_code == 202, asked.text
    answer = await fan.answer_to(asked.json()["request_id"])
    if not answer["ok"]:
        return False
    paid = await fan.pay(answer["hold"]["id"])
    assert paid.status_code == 202, paid.text
    order = await socket.next(is_message("order"), timeout=30)
    assert order["ok"] is True and order["tickets"], order
    return True


async def test_a_drop_on_a_redis_cluster(
    live_stack: LiveStack, crowd: Crowd, redis_cluster: RedisCluster
) -> None:
    settings = live_stack.settings
    assert settings.redis_cluster and settings.rq_redis_url
    event_id = live_stack.create_event()["id"]  # window open, the drop in 2 s
    fans = await crowd.joined(event_id, FANS)
    sockets = [await fan.open_socket() for fan in fans]
    for socket in sockets:
        waiting = await socket.next(is_status(), timeout=5)
        assert waiting["state"] == "waiting_room"
    # The draw's numbers reach every socket by the event's shard channel.
    numbered = [
        await socket.next(lambda m: m.get("t") == "status" and m["number"] > 0, timeout=15)
        for socket in sockets
    ]
    assert sorted(m["number"] for m in numbered) == list(range(1, FANS + 1))
    bought = await asyncio.gather(*(_try_to_buy(f, m) for f, m in zip(fans, numbered, strict=True)))
    assert sum(bought) == STOCK  # one each: the first ten sell out the ten

    # Nothing oversold, in the cluster or the database's figures.
    client = sync_redis(settings)
    try:
        keys = EventKeys(event_id)
        assert isinstance(client, redis.RedisCluster)
        assert int(client.hget(keys.sold, ga(event_id)) or 0) == STOCK
        assert int(client.hget(keys.available, ga(event_id)) or 0) == 0
        assert int(client.hget(keys.held, ga(event_id)) or 0) == 0
    finally:
        client.close()
    figures = stats(live_stack, event_id)
    print("stats", figures)
    master = redis_cluster.master_of_slot(key_slot(keys.meta.encode()))
    print("sale on master", master.port)
    # The lone RQ server held the jobs; the cluster holds no RQ key.
    with redis.Redis.from_url(settings.rq_redis_url or "") as rq:
        assert any(k.startswith(b"rq:") for k in rq.keys("rq:*"))
    for node in redis_cluster.masters():
        with node.client() as c:
            assert not c.keys("rq:*")
