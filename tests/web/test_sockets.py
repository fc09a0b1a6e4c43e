"""web/sockets.py in a web process run inside the test: what an open fan socket holds.

A socket spends its life awaiting its next message, and every coroutine
awaiting with it is memory held per fan (issue 14). The app is fairdrop's
own (web/app.py create_app) on a live stack's Redis and database, served by
uvicorn with ``fairdrop web``'s options (tests/web/in_process.py), so the
chain of awaits seen here is the one a real web process holds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from types import CoroutineType
from typing import Any

import pytest

from launch.fan_client import FanClient
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import open_sale
from tests.web.in_process import InProcessServer, serving
from web.app import create_app

WAIT_S = 10.0
# What a fan's open socket awaits through, outermost first: uvicorn's task,
# the app's entry for fan sockets, the handler's two frames and its read loop,
# then Starlette's and uvicorn's receive down to the protocol's inbox.
CHAIN = [
    "WebSocketsSansIOProtocol.run_asgi",
    "FanSocketsFirst.__call__",
    "fan_socket",
    "_follow_sale",
    "_read_until_closed",
    "WebSocket.receive",
    "WebSocketsSansIOProtocol.receive",
    "Inbox.get",
]


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    with running_stack(postgres_server, Path(tmp_path_factory.mktemp("sockets"))) as stack:
        yield stack


@pytest.fixture(scope="module")
def web(live_stack: LiveStack) -> Iterator[InProcessServer]:
    """A second web process of the stack's, in this one."""
    settings = live_stack.settings
    with serving(create_app(settings), settings) as server:
        yield server


def awaiting(task: asyncio.Task[Any]) -> list[str]:
    """The coroutines a task awaits through, outermost first."""
    names = []
    coroutine: Any = task.get_coro()
    while isinstance(coroutine, CoroutineType):
        names.append(coroutine.cr_code.co_qualname)
        coroutine = coroutine.cr_await
    return names


async def test_an_open_fan_socket_awaits_through_no_middleware(
    live_stack: LiveStack, web: InProcessServer
) -> None:
    """Starlette's middleware and router (and ours) held about 5.5 KB a socket
    while it waited: FanSocketsFirst serves the fan's socket ahead of them."""
    fan = FanClient(web.base_url, open_sale(live_stack), timeout=WAIT_S)
    assert (await fan.post_join()).status_code == 200
    async with await fan.open_socket() as socket:
        await socket.next(lambda m: m["t"] == "status")
        chains = web.call(lambda: [awaiting(t) for t in web.server.server_state.tasks])
        assert chains == [CHAIN]
        # The page's messages are still answered from there.
        await socket.send(json.dumps({"t": "ping"}))
        await socket.next(lambda m: m["t"] == "pong")
