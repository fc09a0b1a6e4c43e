"""uvicorn serving an app in a thread of the test process, as ``fairdrop web`` serves it.

For tests that look inside the server while it serves real sockets: its
protocol objects and its tasks live in this process, on the server's own
loop (``call``). The options are ``launch/web_server.py web_server_options``, with
asyncio's collector left alone (launch/web_loop.py would tune and freeze the
test process's) and any ``changes``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import uvicorn
from starlette.types import ASGIApp

from fairdrop.settings import Settings
from launch.processes import free_port
from launch.web_server import web_server_options

T = TypeVar("T")
START_S = 10.0


@dataclass
class InProcessServer:
    server: uvicorn.Server
    loop: asyncio.AbstractEventLoop
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` run on the server's loop, between its steps; its result."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(timeout=START_S)

    def connections(self) -> list[Any]:
        """The protocol objects of the connections open now."""
        return self.call(lambda: list(self.server.server_state.connections))


@contextmanager
def serving(app: ASGIApp, settings: Settings, **changes: Any) -> Iterator[InProcessServer]:
    options = {**web_server_options(settings), "loop": "uvloop", **changes}
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="in-process-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the in-process server did not start")
        time.sleep(0.02)
    try:
        yield InProcessServer(server, server.servers[0].get_loop(), port)
    finally:
        server.should_exit = True
        thread.join(START_S)
