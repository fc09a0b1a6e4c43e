"""Fans at addresses of their own, for the tests of rate limits and the blocklist.

Every test client connects from 127.0.0.1. A stack that trusts that address
as a proxy (``trusted_proxies=("127.0.0.1",)``) believes the
``X-Forwarded-For`` each :class:`FanAt` sends, so each stands for a client
at its own address. A client bound to another loopback address (127.0.0.2)
is a peer the stack does not trust.
"""

from __future__ import annotations

from typing import Any

import httpx

from fairdrop.errors import STATUS_FOR, ErrorCode
from fairdrop.tokens import FAN_COOKIE
from tests.live_stack import LiveStack
from tests.web.fans import TLS, WAIT_S, Fan, Socket, expect_error, open_sale

# What a stack of these tests trusts: the test clients' own address.
TRUSTED_PROXIES = ("127.0.0.1",)
UNTRUSTED_PEER = "127.0.0.2"


class FanAt(Fan):
    """A fan whose every request and socket comes, through the proxy, from ``address``."""

    def __init__(self, stack: LiveStack, event_id: str, address: str, cookie: str = "") -> None:
        super().__init__(stack, event_id, cookie)
        self.address = address

    @property
    def headers(self) -> dict[str, str]:
        return {**super().headers, "X-Forwarded-For": self.address}

    async def new_join(self) -> httpx.Response:
        """One join without a cookie: a new fan, counted against the address."""
        response = await self.request("POST", self.path("/join"))
        if response.status_code == 200:
            self.cookie = response.cookies[FAN_COOKIE]
        return response


def queued_sale(stack: LiveStack, **overrides: Any) -> str:
    """An open sale past its window: a fan who joins is queued, and soon let in."""
    return open_sale(stack, **overrides)


async def refused_socket(socket: Socket, code: ErrorCode) -> str:
    """The socket got the error ``code`` and was closed with 4000 + its status; its message."""
    error = await socket.next(lambda m: m.get("t") == "error")
    assert error["code"] == code.value, error
    assert await socket.close_code() == 4000 + STATUS_FOR[code]
    message: str = error["message"]
    return message


def expect_too_many(response: httpx.Response, code: ErrorCode = ErrorCode.TOO_MANY_REQUESTS) -> int:
    """A 429 ``code`` whose Retry-After and message agree; the seconds."""
    error = expect_error(response, code)
    seconds = int(response.headers["retry-after"])
    assert 1 <= seconds <= 60, response.headers
    assert f"try again in {seconds} s" in error["message"], error
    return seconds


def untrusted_client(stack: LiveStack) -> httpx.AsyncClient:
    """A client connecting from 127.0.0.2, which the stack does not trust as a proxy."""
    transport = httpx.AsyncHTTPTransport(local_address=UNTRUSTED_PEER, verify=TLS)
    return httpx.AsyncClient(base_url=stack.base_url, transport=transport, timeout=WAIT_S)
