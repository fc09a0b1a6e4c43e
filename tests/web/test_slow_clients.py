"""Slow and oversized requests on a live web process (web/slow_clients.py, read_body's deadline).

Raw sockets play the slow client: a head sent a line at a time, a body a byte
at a time, a connection that says nothing, a head too large. Each is answered
or closed within the configured time (1.5 s here) while an ordinary client is
served meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fairdrop.errors import STATUS_FOR, ErrorCode
from fairdrop.settings import Settings, SettingsError
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import client, event_ids, expect_error

HEAD_S = 1.5
BODY_S = 1.5
# Timers, a loaded 2-core machine: how late an answer or close may come.
SLACK_S = 1.5
# The server starts its clock a moment before the client's connect returns.
EARLY_S = 0.1
DRIP_S = 0.2


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    workdir = Path(tmp_path_factory.mktemp("slow-clients"))
    with running_stack(
        postgres_server, workdir, head_timeout_seconds=HEAD_S, body_timeout_seconds=BODY_S
    ) as stack:
        yield stack


class RawClient:
    """One TCP connection to the stack, written and read by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.opened = time.monotonic()

    @classmethod
    async def connect(cls, stack: LiveStack) -> RawClient:
        settings = stack.settings
        reader, writer = await asyncio.open_connection(settings.host, settings.port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> bool:
        """False once the server has closed the connection."""
        if self.writer.is_closing() or self.reader.at_eof():
            return False
        try:
            self.writer.write(data)
            await self.writer.drain()
        except OSError:
            return False
        return True

    async def drip(self, piece: bytes) -> None:
        """Sends ``piece`` every DRIP_S until the server closes the connection."""
        while await self.send(piece):
            await asyncio.sleep(DRIP_S)

    async def read_until_closed(self, within: float) -> tuple[bytes, float]:
        """Everything the server sent and when (since connecting) it closed the connection."""
        received = bytearray()
        async with asyncio.timeout(within):
            while chunk := await self.reader.read(65_536):
                received.extend(chunk)
        return bytes(received), time.monotonic() - self.opened

    def close(self) -> None:
        self.writer.close()


def error_answer(raw: bytes) -> tuple[int, dict[str, str], str]:
    """The status, headers and error code of a raw HTTP/1.1 answer."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines)
    code: str = json.loads(body)["error"]["code"]
    return int(status_line.split()[1]), headers, code


async def served_meanwhile(stack: LiveStack, seconds: float) -> list[float]:
    """How long an ordinary client waited for each answer, asking every 0.25 s."""
    waits: list[float] = []
    deadline = time.monotonic() + seconds
    async with client(stack) as http:
        while time.monotonic() < deadline:
            started = time.monotonic()
            response = await http.get("/healthz")
            assert response.status_code == 200
            waits.append(time.monotonic() - started)
            await asyncio.sleep(0.25)
    return waits


async def test_a_head_sent_a_line_at_a_time_gets_408_while_others_are_served(
    live_stack: LiveStack,
) -> None:
    slow = await RawClient.connect(live_stack)
    await slow.send(b"GET /healthz HTTP/1.1\r\nHost: fairdrop\r\n")
    dripping = asyncio.create_task(slow.drip(b"X-Slow: a line\r\n"))
    (answer, closed_at), waits = await asyncio.gather(
        slow.read_until_closed(HEAD_S + SLACK_S), served_meanwhile(live_stack, HEAD_S)
    )
    await dripping
    slow.close()

    status, headers, code = error_answer(answer)
    assert (status, code) == (STATUS_FOR[ErrorCode.REQUEST_TIMEOUT], "request_timeout")
    assert headers["connection"] == "close"
    assert HEAD_S - EARLY_S <= closed_at <= HEAD_S + SLACK_S, closed_at
    assert max(waits) < 0.5, waits


async def test_the_deadline_does_not_stop_an_ordinary_client_meanwhile(
    live_stack: LiveStack,
) -> None:
    slow_ones = [await RawClient.connect(live_stack) for _ in range(20)]
    for slow in slow_ones:
        await slow.send(b"POST /api/events HTTP/1.1\r\nHost: fairdrop\r\n")
    drips = [asyncio.create_task(slow.drip(b"X-Slow: a line\r\n")) for slow in slow_ones]
    waits = await served_meanwhile(live_stack, HEAD_S)
    closes = await asyncio.gather(*(slow.read_until_closed(SLACK_S * 2) for slow in slow_ones))
    await asyncio.gather(*drips)
    for slow in slow_ones:
        slow.close()
    assert max(waits) < 0.5, waits
    assert max(closed_at for _, closed_at in closes) <= HEAD_S + SLACK_S * 2


async def test_a_body_sent_a_byte_at_a_time_gets_408_and_creates_nothing(
    live_stack: LiveStack,
) -> None:
    before = event_ids(live_stack)
    slow = await RawClient.connect(live_stack)
    token = live_stack.settings.organiser_token
    head = (
        "POST /api/events HTTP/1.1\r\nHost: fairdrop\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    await slow.send(head.encode() + b'{"name": ')
    body_started = time.monotonic()
    dripping = asyncio.create_task(slow.drip(b" "))
    waits = await served_meanwhile(live_stack, 0.5)
    async with asyncio.timeout(BODY_S + SLACK_S):
        answer = await slow.reader.readuntil(b"}}")
    answered_after = time.monotonic() - body_started
    # Still dripping after its answer: the head's deadline closes it.
    _, closed_at = await slow.read_until_closed(HEAD_S + SLACK_S)
    await dripping
    slow.close()

    status, headers, code = error_answer(answer)
    assert (status, code) == (STATUS_FOR[ErrorCode.REQUEST_TIMEOUT], "request_timeout")
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert BODY_S - EARLY_S <= answered_after <= BODY_S + SLACK_S, answered_after
    assert closed_at <= BODY_S + HEAD_S + SLACK_S, closed_at
    assert max(waits) < 0.5, waits
    assert event_ids(live_stack) == before


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    live_stack: LiveStack,
) -> None:
    silent = await RawClient.connect(live_stack)
    answer, closed_at = await silent.read_until_closed(HEAD_S + SLACK_S)
    silent.close()
    assert answer == b""
    assert HEAD_S - EARLY_S <= closed_at <= HEAD_S + SLACK_S, closed_at


async def test_an_idle_kept_alive_connection_stays_and_its_next_head_has_the_deadline(
    live_stack: LiveStack,
) -> None:
    kept = await RawClient.connect(live_stack)
    request = b"GET /healthz HTTP/1.1\r\nHost: fairdrop\r\n\r\n"
    for _ in range(2):
        await kept.send(request)
        async with asyncio.timeout(SLACK_S):
            first = await kept.reader.readuntil(b"}")
        assert first.startswith(b"HTTP/1.1 200 "), first
        # Idle between requests: uvicorn's keep-alive (30 s), not the head's deadline.
        await asyncio.sleep(HEAD_S + 0.5)
    await kept.send(b"GET /healthz HTTP/1.1\r\n")
    next_head_at = time.monotonic() - kept.opened
    dripping = asyncio.create_task(kept.drip(b"X-Slow: a line\r\n"))
    answer, closed_at = await kept.read_until_closed(HEAD_S + SLACK_S)
    await dripping
    kept.close()
    assert error_answer(answer)[2] == "request_timeout"
    assert HEAD_S - EARLY_S <= closed_at - next_head_at <= HEAD_S + SLACK_S


async def test_a_head_over_the_cap_gets_431_and_one_under_it_is_served(
    live_stack: LiveStack,
) -> None:
    cap = live_stack.settings.max_head_bytes
    async with client(live_stack) as http:
        under = await http.get("/healthz", headers={"X-Padding": "a" * (cap - 1_000)})
        # Whole, in one write: the server reads its end with the rest.
        over = await http.get("/healthz", headers={"X-Padding": "a" * (cap + 1_000)})
    assert under.status_code == 200
    expect_error(over, ErrorCode.HEADERS_TOO_LARGE)

    large = await RawClient.connect(live_stack)
    # A head that has not ended yet and is already over the cap: refused at once.
    padding = b"".join(b"X-Padding: " + b"a" * 1_000 + b"\r\n" for _ in range(cap // 1_000 + 2))
    await large.send(b"GET /healthz HTTP/1.1\r\nHost: fairdrop\r\n" + padding)
    answer, closed_at = await large.read_until_closed(SLACK_S)
    large.close()
    status, _, code = error_answer(answer)
    assert (status, code) == (STATUS_FOR[ErrorCode.HEADERS_TOO_LARGE], "headers_too_large")
    assert closed_at < HEAD_S


async def test_a_large_body_in_one_piece_is_not_taken_for_a_large_head(
    live_stack: LiveStack,
) -> None:
    # The CSV import (5 MB allowed) arrives with its head in the same reads.
    rows = "id,allowance\n" + "".join(f"P{i:06d},1\n" for i in range(8_000))
    event_id = live_stack.create_event(access="list")["id"]
    async with client(live_stack, live_stack.organiser_headers) as http:
        imported = await http.post(
            f"/api/events/{event_id}/access-list",
            content=rows,
            headers={"Content-Type": "text/csv"},
        )
    assert len(rows) > 2 * live_stack.settings.max_head_bytes
    assert imported.status_code == 200, imported.text


def test_the_stack_answers_plain_http_clients_as_before(live_stack: LiveStack) -> None:
    # httpx's pooled keep-alive connections across several requests.
    with httpx.Client(base_url=live_stack.base_url, timeout=5) as http:
        for _ in range(3):
            assert http.get("/healthz").status_code == 200
            time.sleep(HEAD_S / 2)


def test_the_settings_reach_a_child_process_and_refuse_nonsense() -> None:
    chosen = Settings(
        head_timeout_seconds=2.5,
        max_head_bytes=8_192,
        body_timeout_seconds=12.0,
        keep_alive_seconds=45,
        limit_concurrency=20_000,
        graceful_shutdown_seconds=3,
    )
    again = Settings.from_env(chosen.as_env())
    for name in (
        "head_timeout_seconds",
        "max_head_bytes",
        "body_timeout_seconds",
        "keep_alive_seconds",
        "limit_concurrency",
        "graceful_shutdown_seconds",
    ):
        assert getattr(again, name) == getattr(chosen, name), name
    for name, value in (
        ("FAIRDROP_MAX_HEAD_BYTES", "100"),
        ("FAIRDROP_HEAD_TIMEOUT_SECONDS", "0"),
        ("FAIRDROP_BODY_TIMEOUT_SECONDS", "soon"),
        ("FAIRDROP_KEEP_ALIVE_SECONDS", "0"),
    ):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})
