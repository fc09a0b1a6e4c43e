"""A whole drop on a Redis Cluster whose sale master is killed (SIGKILL) while
fans hold and pay: the replica takes over, web, worker and clock carry on, and
no ticket is sold twice: every order in PostgreSQL is a ticket sold in Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from sqlmodel import col, select

from fairdrop.connections import sync_redis
from fairdrop.protocol import FanState
from launch.redis_cluster import RedisCluster
from launch.redis_server import start_redis_server
from purchase.db import make_engine, open_session
from purchase.models import Order
from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import Crowd, Fan, Message, ga, is_admitted, ticket_type

FANS = 30
STOCK = 20
KILL_AFTER_ORDERS = 4


@pytest.fixture(scope="module")
def cluster_and_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RedisCluster, LiveStack]]:
    from launch.redis_cluster import running_cluster

    workdir = tmp_path_factory.mktemp("cluster-failover")
    with (
        running_cluster(workdir / "cluster") as cluster,
        start_redis_server(workdir / "rq-redis") as rq_server,
        running_stack(
            postgres_server,
            workdir,
            redis_url=cluster.url,
            redis_cluster=True,
            rq_redis_url=rq_server.url,
        ) as stack,
    ):
        yield cluster, stack


@pytest.fixture
def live_stack(cluster_and_stack: tuple[RedisCluster, LiveStack]) -> LiveStack:
    return cluster_and_stack[1]  # for the failure report's logs


async def _patiently(call: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """A page's retry: a 5xx or a dropped connection while the master fails over."""
    response: httpx.Response | None = None
    for _ in range(60):
        try:
            response = await call()
        except httpx.HTTPError:
            await asyncio.sleep(0.5)
            continue
        if response.status_code < 500:
            return response
        await asyncio.sleep(0.5)
    raise AssertionError(f"no answer through the failover: {response}")


async def _buy(fan: Fan, numbered: Message, paid: list[str]) -> bool:
    socket = fan.sockets[0]

    def told(m: Message) -> bool:
        return is_admitted(m) or (m.get("t") == "status" and m["state"] == FanState.SOLD_OUT)

    status = numbered if told(numbered) else await socket.next(told, timeout=60)
    if not is_admitted(status):
        return False
    token = status["admission"]["token"]
    asked = await _patiently(lambda: fan.ask_for(token))
    assert asked.status_code == 202, asked.text
    request_id = asked.json()["request_id"]
    deadline = time.monotonic() + 60
    answer: Message = {"status": "pending"}
    while answer.get("status") == "pending":
        assert time.monotonic() < deadline, f"request {request_id} still pending"
        await asyncio.sleep(0.1)
        answer = (await _patiently(lambda: fan.purchase_answer(request_id))).json()
    if not answer["ok"]:
        return False
    hold_id = answer["hold"]["id"]
    response = await _patiently(lambda: fan.pay(hold_id))
    assert response.status_code in (202, 409), response.text
    paid.append(hold_id)
    return True


async def test_a_master_killed_mid_drop_sells_nothing_twice(
    cluster_and_stack: tuple[RedisCluster, LiveStack],
) -> None:
    cluster, stack = cluster_and_stack
    event_id = stack.create_event(ticket_types=[ticket_type(stock=STOCK, per_person_limit=1)])["id"]
    keys = EventKeys(event_id)
    master = cluster.master_of_key(keys.meta)
    crowd = Crowd(stack)
    try:
        fans = await crowd.joined(event_id, FANS)
        for fan in fans:
            await fan.open_socket()
        numbered = [
            await fan.sockets[0].next(
                lambda m: m.get("t") == "status" and m["number"] > 0, timeout=20
            )
            for fan in fans
        ]
        paid: list[str] = []
        buying = asyncio.gather(*(_buy(f, m, paid) for f, m in zip(fans, numbered, strict=True)))
        while len(paid) < KILL_AFTER_ORDERS:
            await asyncio.sleep(0.05)
        cluster.kill(master)
        print(f"killed the sale's master after {len(paid)} payments")
        # Within seconds of the failover: a promoted master with no replica must not
        # make every confirm wait out WAIT (queue_engine/scripts.py run_replicated).
        bought = await asyncio.wait_for(buying, 30)
    finally:
        await crowd.close()
    assert cluster.master_of_key(keys.meta).port != master.port

    # Every payment becomes an order within seconds, and orders == tickets sold.
    engine = make_engine(stack.settings)
    deadline = time.monotonic() + 30
    while True:
        with open_session(engine) as session:
            orders = session.exec(select(Order).where(col(Order.event_id) == event_id)).all()
        if len(orders) >= len(paid) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    engine.dispose()
    # The stack's REDIS_URL may name the dead master: ask a live node.
    client = sync_redis(stack.settings.with_overrides(redis_url=cluster.url))
    try:
        sold = int(client.hget(keys.sold, ga(event_id)) or 0)
        available = int(client.hget(keys.available, ga(event_id)) or 0)
        held = int(client.hget(keys.held, ga(event_id)) or 0)
    finally:
        client.close()
    print(f"paid {len(paid)}, orders {len(orders)}, sold {sold}, held {held}, left {available}")
    assert sum(bought) == len(paid)
    assert len(orders) == len(paid) == sold <= STOCK  # nothing lost, nothing sold twice
    assert len({o.hold_id for o in orders}) == len(orders)
    assert sold + held + available == STOCK
