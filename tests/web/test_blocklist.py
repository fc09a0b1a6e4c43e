"""web/blocklist.py on a live stack of two web processes: the organiser blocks and
unblocks addresses while the sale runs, and both processes follow within a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from fairdrop.errors import ErrorCode
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.addressed_fans import TRUSTED_PROXIES, FanAt, queued_sale, refused_socket
from tests.web.fans import WAIT_S, expect_error, is_status
from web.blocklist import MAX_ENTRIES
from web.rate_limits import BLOCKLIST_REFRESH_S

# Each process reads the list again at most every BLOCKLIST_REFRESH_S (1 s):
# the first process to follow a change is seen well within this.
WITHIN_S = 1.5


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    workdir = tmp_path_factory.mktemp("blocklist")
    # Two processes, so a change must reach the one that did not make it.
    with running_stack(
        postgres_server, workdir, trusted_proxies=TRUSTED_PROXIES, web_workers=2
    ) as stack:
        yield stack


async def _call(stack: LiveStack, method: str, token: str | None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=WAIT_S) as http:
        return await http.request(method, "/api/blocklist", headers=headers, **kwargs)


async def _put(stack: LiveStack, entries: Any) -> httpx.Response:
    return await _call(stack, "PUT", stack.settings.organiser_token, json={"entries": entries})


async def _listed(stack: LiveStack) -> list[str]:
    response = await _call(stack, "GET", stack.settings.organiser_token)
    assert response.status_code == 200, response.text
    entries: list[str] = response.json()["entries"]
    return entries


@pytest.fixture(autouse=True)
async def empty_blocklist(live_stack: LiveStack) -> AsyncIterator[None]:
    yield
    assert (await _put(live_stack, [])).status_code == 200


async def _join_status(fan: FanAt) -> int:
    return (await fan.request("POST", fan.path("/join"))).status_code


async def _change(stack: LiveStack, entries: list[str]) -> float:
    """PUTs the list; when (time.monotonic()) every process follows it at the latest."""
    assert (await _put(stack, entries)).status_code == 200
    return time.monotonic() + BLOCKLIST_REFRESH_S + 0.2


async def _seconds_until(fan: FanAt, status: int) -> float:
    """How long until the fan's join answers ``status`` (each try a new connection)."""
    started = time.monotonic()
    while (waited := time.monotonic() - started) < 3 * WITHIN_S:
        if await _join_status(fan) == status:
            return waited
        await asyncio.sleep(0.05)
    raise AssertionError(f"the join never answered {status}")


async def _everywhere(fan: FanAt, status: int, after: float, tries: int = 10) -> None:
    """From ``after`` on, both processes answer ``status`` (new connections land on either)."""
    await asyncio.sleep(max(0.0, after - time.monotonic()))
    assert [await _join_status(fan) for _ in range(tries)] == [status] * tries


async def test_only_the_organiser_reads_and_changes_the_blocklist(live_stack: LiveStack) -> None:
    assert (await _put(live_stack, ["198.51.100.7"])).status_code == 200
    for method in ("GET", "PUT"):
        body: dict[str, Any] = {"json": {"entries": []}} if method == "PUT" else {}
        expect_error(await _call(live_stack, method, None, **body), ErrorCode.UNAUTHORIZED)
        expect_error(await _call(live_stack, method, "guess", **body), ErrorCode.FORBIDDEN)
    assert await _listed(live_stack) == ["198.51.100.7"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"entries": ["198.51.100.7", "nginx"]}, "entries[1]: 'nginx' is not an IP address"),
        ({"entries": ["203.0.113.7/24"]}, "did you mean 203.0.113.0/24"),
        ({"entries": ["2001:db8::/129"]}, "entries[0]"),
        ({"entries": [7]}, "entries[0] must be a string"),
        ({"entries": "198.51.100.7"}, "entries must be a list"),
        ({}, "entries is required"),
        ({"entries": [], "mode": "add"}, "unknown field(s) mode"),
        ({"entries": [f"10.0.{i // 256}.{i % 256}" for i in range(MAX_ENTRIES + 1)]}, "at most"),
    ],
)
async def test_a_bad_blocklist_is_refused_naming_what_is_wrong_and_changes_nothing(
    live_stack: LiveStack, body: dict[str, Any], says: str
) -> None:
    assert (await _put(live_stack, ["198.51.100.7"])).status_code == 200
    refused = await _call(live_stack, "PUT", live_stack.settings.organiser_token, json=body)
    error = expect_error(refused, ErrorCode.INVALID_FIELD)
    assert says in error["message"], error
    assert await _listed(live_stack) == ["198.51.100.7"]


async def test_entries_are_kept_once_each_as_a_person_writes_them(live_stack: LiveStack) -> None:
    entries = ["2001:DB8::/32", "198.51.100.7/32", " 198.51.100.7 ", "203.0.113.0/24"]
    stored = await _put(live_stack, entries)
    assert stored.json() == {"entries": ["2001:db8::/32", "198.51.100.7", "203.0.113.0/24"]}
    assert await _listed(live_stack) == ["2001:db8::/32", "198.51.100.7", "203.0.113.0/24"]


async def test_a_blocked_address_is_refused_within_a_second_and_let_in_after_removal(
    live_stack: LiveStack,
) -> None:
    event_id = queued_sale(live_stack)
    fan = FanAt(live_stack, event_id, "203.0.113.50")
    neighbour = FanAt(live_stack, event_id, "203.0.113.51")
    other = FanAt(live_stack, event_id, "198.51.100.50")
    await fan.join()
    await other.join()

    followed = await _change(live_stack, ["203.0.113.0/24"])
    assert await _seconds_until(fan, 403) < WITHIN_S
    await _everywhere(fan, 403, followed)
    expect_error(await neighbour.request("POST", neighbour.path("/join")), ErrorCode.BLOCKED)
    # Other addresses go on as before.
    await _everywhere(other, 200, followed, tries=3)

    followed = await _change(live_stack, [])
    assert await _seconds_until(fan, 200) < WITHIN_S
    await _everywhere(fan, 200, followed)


async def test_every_fan_action_of_a_blocked_address_is_refused_but_not_the_pages(
    live_stack: LiveStack,
) -> None:
    event_id = queued_sale(live_stack)
    fan = FanAt(live_stack, event_id, "203.0.113.60")
    await fan.join()
    await _everywhere(fan, 403, await _change(live_stack, ["203.0.113.60"]))

    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", fan.path("/join"), None),
        ("POST", fan.path("/purchases"), {"admission_token": "t", "items": []}),
        ("POST", fan.path("/holds/h1/pay"), None),
        ("POST", fan.path("/holds/h1/release"), None),
        ("POST", fan.path("/presale/p1/holds"), {"items": []}),
        ("POST", "/api/sign-in/email/code", {"challenge": "c", "code": "123456"}),
        # A personal link, whatever it carries (logins: tests/web/test_oidc_sign_in.py).
        ("GET", "/sign-in/pass/not-a-pass", None),
    ]
    for method, path, body in calls:
        expect_error(await fan.request(method, path, json=body), ErrorCode.BLOCKED)
    message = await refused_socket(await fan.open_socket(), ErrorCode.BLOCKED)
    assert "blocked by the organiser" in message
    # The pages, their files and the organiser's API are not fan actions.
    for path in (f"/e/{event_id}", "/static/queue.js", f"/api/events/{event_id}"):
        assert (await fan.request("GET", path)).status_code == 200, path
    organiser = await fan.request("GET", fan.path("/stats"), headers=live_stack.organiser_headers)
    assert organiser.status_code == 200, organiser.text


async def test_ipv6_addresses_are_blocked_by_their_block(live_stack: LiveStack) -> None:
    event_id = queued_sale(live_stack)
    inside = FanAt(live_stack, event_id, "2001:db8:5::5")
    outside = FanAt(live_stack, event_id, "2001:db9::5")
    await _everywhere(inside, 403, await _change(live_stack, ["2001:db8::/32"]))
    await outside.join()
    socket = await outside.open_socket()
    await socket.next(is_status())
    await socket.close()
