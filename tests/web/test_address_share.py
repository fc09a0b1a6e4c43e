"""Each address's share of a sale's new anonymous entrants (join.lua,
``FAIRDROP_LIMIT_ENTRANTS_PER_ADDRESS``) on a live stack: what a script
minting entrants from one address gets, over HTTP, with sessions made before
the window and over sockets; and that signed-in fans are not counted.

Fans speak from addresses of their own through the trusted proxy
(tests/web/addressed_fans.py); each test uses its own addresses and sales.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fairdrop.errors import ErrorCode
from fairdrop.identity import email_identity
from fairdrop.tokens import Signer
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.addressed_fans import TRUSTED_PROXIES, FanAt, expect_too_many
from tests.web.fans import expect_error, is_status, stats

AT_ONCE = 3
EVERY_S = 2
# Three at once, then one every two seconds: "3 per 6 seconds" as a cell rate.
SHARE = f"{AT_ONCE} per {AT_ONCE * EVERY_S} seconds"
BUSY = ErrorCode.ADDRESS_BUSY


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    changes = {
        "trusted_proxies": TRUSTED_PROXIES,
        "limit_entrants_per_address": SHARE,
        # Email sales may be made; no test here asks for an email.
        "smtp_host": "127.0.0.1",
    }
    with running_stack(postgres_server, tmp_path_factory.mktemp("share"), **changes) as stack:
        yield stack


@pytest.fixture
async def made() -> AsyncIterator[list[FanAt]]:
    fans: list[FanAt] = []
    try:
        yield fans
    finally:
        for fan in fans:
            await fan.close()


def _entrants(stack: LiveStack, event_id: str) -> int:
    figures = stats(stack, event_id)
    return int(figures["last_number"]) + int(figures["buffered"])


def _sale(
    stack: LiveStack, opens_in_s: float = -1.0, window_s: float = 60.0, **body: object
) -> str:
    """A sale whose window opens ``opens_in_s`` from now (already open by default)."""
    opens = datetime.now(UTC) + timedelta(seconds=opens_in_s)
    times = {
        "opens_at": opens.isoformat(),
        "drop_at": (opens + timedelta(seconds=window_s)).isoformat(),
    }
    event_id: str = stack.create_event(**times, **body)["id"]
    return event_id


def _fans(made: list[FanAt], stack: LiveStack, event_id: str, address: str, n: int) -> list[FanAt]:
    fans = [FanAt(stack, event_id, address) for _ in range(n)]
    made.extend(fans)
    return fans


async def test_a_script_on_one_address_places_its_share_at_once_and_then_one_at_a_time(
    live_stack: LiveStack, made: list[FanAt]
) -> None:
    event_id = _sale(live_stack)
    bots = _fans(made, live_stack, event_id, "198.51.100.1", 10)

    # All at once, as a script would: join.lua counts in the step that places,
    # so no burst slips past a check.
    answers = await asyncio.gather(*(bot.new_join() for bot in bots))

    placed = [a for a in answers if a.status_code == 200]
    refused = [a for a in answers if a.status_code != 200]
    assert len(placed) == AT_ONCE, [a.text for a in answers]
    for answer in refused:
        wait = expect_too_many(answer, BUSY)
        assert 1 <= wait <= EVERY_S
        message = answer.json()["error"]["message"]
        assert f"at most {SHARE} join this sale from one address" in message
    assert _entrants(live_stack, event_id) == AT_ONCE
    # Another address, another share.
    other = _fans(made, live_stack, event_id, "198.51.100.2", 1)[0]
    assert (await other.new_join()).status_code == 200

    # A refused browser that waits Retry-After is let in...
    waiting = [b for b, a in zip(bots, answers, strict=True) if a.status_code != 200]
    await asyncio.sleep(expect_too_many(refused[0], BUSY))
    again = await waiting[0].new_join()
    assert again.status_code == 200, again.text
    # ...and the next one only a cell later: one every EVERY_S seconds.
    expect_too_many(await waiting[1].new_join(), BUSY)
    assert _entrants(live_stack, event_id) == AT_ONCE + 2


async def test_sessions_made_before_the_window_are_no_entries_until_placed(
    live_stack: LiveStack, made: list[FanAt]
) -> None:
    event_id = _sale(live_stack, opens_in_s=1.5)
    bots = _fans(made, live_stack, event_id, "198.51.100.3", 8)
    for bot in bots:  # eight sessions, made before the window: nothing placed yet
        early = await bot.new_join()
        assert early.status_code == 200 and early.json()["status"] == "not_open", early.text
    assert _entrants(live_stack, event_id) == 0

    await asyncio.sleep(1.7)  # the window is open
    answers = await asyncio.gather(*(bot.request("POST", bot.path("/join")) for bot in bots))

    assert sorted(a.status_code for a in answers) == [200] * AT_ONCE + [429] * (8 - AT_ONCE)
    assert _entrants(live_stack, event_id) == AT_ONCE


async def test_a_page_waiting_on_its_socket_is_placed_when_its_address_may_place_again(
    live_stack: LiveStack, made: list[FanAt]
) -> None:
    event_id = _sale(live_stack, opens_in_s=1.5)
    pages = _fans(made, live_stack, event_id, "198.51.100.4", AT_ONCE + 2)
    sockets = []
    for page in pages:  # opened before the window: the room places them when it opens
        assert (await page.new_join()).json()["status"] == "not_open"
        socket = await page.open_socket()
        await socket.next(is_status(state="not_open"))
        sockets.append(socket)

    first = await asyncio.gather(
        *(s.next(lambda m: m.get("t") == "status" and m["state"] != "not_open") for s in sockets)
    )

    states = sorted(m["state"] for m in first)
    assert states == ["address_busy"] * 2 + ["waiting_room"] * AT_ONCE, first
    for told in first:
        if told["state"] == "address_busy":
            assert 1 <= told["wait_s"] <= EVERY_S, told
    busy = [s for s, m in zip(sockets, first, strict=True) if m["state"] == "address_busy"]
    # Nothing to do for the pages: the room tries again once the share is due,
    # places one, and tells the other its new wait.
    started = time.monotonic()
    await asyncio.gather(*(s.next(is_status(state="waiting_room")) for s in busy))
    assert time.monotonic() - started <= 2 * EVERY_S + 2
    told_busy = sorted(
        sum(1 for m in s.seen if m.get("t") == "status" and m["state"] == "address_busy")
        for s in busy
    )
    assert told_busy == [1, 2], [s.seen for s in busy]
    assert _entrants(live_stack, event_id) == AT_ONCE + 2


async def test_signed_in_fans_are_people_not_an_address_and_are_not_counted(
    live_stack: LiveStack, made: list[FanAt]
) -> None:
    event_id = _sale(live_stack, access="email")
    signer = Signer(live_stack.settings.secret_key)
    fans = _fans(made, live_stack, event_id, "198.51.100.5", 2 * AT_ONCE)
    for who, fan in enumerate(fans):
        identity = email_identity(f"fan{who}@example.org")
        fan.cookie = signer.sign_session(signer.new_session(identity, 3600))

    answers = await asyncio.gather(*(fan.request("POST", fan.path("/join")) for fan in fans))

    assert [a.status_code for a in answers] == [200] * len(fans), [a.text for a in answers]
    assert _entrants(live_stack, event_id) == len(fans)
    # An anonymous browser at the same address is still refused on this sale
    # for who it is, not for its address.
    stranger = _fans(made, live_stack, event_id, "198.51.100.5", 1)[0]
    expect_error(await stranger.new_join(), ErrorCode.SIGN_IN_REQUIRED)
