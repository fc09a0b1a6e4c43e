"""web/rate_limits.py on a live stack with small limits: per address and per fan,
429 with Retry-After, sockets at once, and X-Forwarded-For only from a trusted proxy.

Every test speaks from addresses of its own (through the trusted proxy, as
tests/web/addressed_fans.py explains), since the module's tests share one
stack and its counts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis.asyncio

from buffer.arrivals import NO_SHARE, AddressShare
from fairdrop.errors import ErrorCode
from fairdrop.settings import RATE_LIMITS, Settings, SettingsError
from fairdrop.tokens import FAN_COOKIE
from launch.fan_proof import solve
from tests.live_stack import LiveStack, live_stack_with, running_stack
from tests.servers import PostgresServer
from tests.web.addressed_fans import (
    TRUSTED_PROXIES,
    FanAt,
    expect_too_many,
    queued_sale,
    refused_socket,
    untrusted_client,
)
from tests.web.fans import WAIT_S, expect_error, ga, is_message, is_status, stats
from web.openapi import DOCUMENT
from web.rate_limits import Action, RateLimits

NEW_FANS_PER_ADDRESS = 5
JOINS_PER_FAN = 20
CONNECTS_PER_ADDRESS = 6
CONNECTS_PER_FAN = 3
OPEN_SOCKETS_PER_ADDRESS = 2
ACTIONS_PER_FAN = 3
LIMITS: dict[str, object] = {
    "trusted_proxies": TRUSTED_PROXIES,
    "limit_join_per_address": f"{NEW_FANS_PER_ADDRESS}/minute",
    # Fan.admission_token joins again until the fan is let in.
    "limit_join_per_fan": f"{JOINS_PER_FAN}/minute",
    "limit_connect_per_address": f"{CONNECTS_PER_ADDRESS}/minute",
    "limit_connect_per_fan": f"{CONNECTS_PER_FAN}/minute",
    "limit_open_sockets_per_address": OPEN_SOCKETS_PER_ADDRESS,
    "limit_hold_per_fan": f"{ACTIONS_PER_FAN}/minute",
    "limit_pay_per_fan": f"{ACTIONS_PER_FAN}/minute",
    "limit_release_per_fan": f"{ACTIONS_PER_FAN}/minute",
    "limit_presale_hold_per_fan": f"{ACTIONS_PER_FAN}/minute",
}


live_stack = live_stack_with(**LIMITS)


class Fans:
    """Makes fans at addresses for one test and closes their sockets at the end."""

    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack
        self.made: list[FanAt] = []

    def at(self, address: str, event_id: str) -> FanAt:
        fan = FanAt(self.stack, event_id, address)
        self.made.append(fan)
        return fan

    async def joined(self, address: str, event_id: str, count: int) -> list[FanAt]:
        fans = [self.at(address, event_id) for _ in range(count)]
        for fan in fans:
            await fan.join()
        return fans


@pytest.fixture
async def fans(live_stack: LiveStack) -> AsyncIterator[Fans]:
    made = Fans(live_stack)
    try:
        yield made
    finally:
        for fan in made.made:
            await fan.close()


def _entrants(stack: LiveStack, event_id: str) -> int:
    figures = stats(stack, event_id)
    return int(figures["last_number"]) + int(figures["buffered"])


# --- joins -------------------------------------------------------------------


async def test_the_join_past_the_address_limit_is_429_and_makes_no_fan_and_no_cookie(
    live_stack: LiveStack, fans: Fans
) -> None:
    event_id = queued_sale(live_stack)
    for _ in range(NEW_FANS_PER_ADDRESS):
        assert (await fans.at("203.0.113.1", event_id).new_join()).status_code == 200
    assert _entrants(live_stack, event_id) == NEW_FANS_PER_ADDRESS

    refused = await fans.at("203.0.113.1", event_id).new_join()

    expect_too_many(refused)
    message = refused.json()["error"]["message"]
    assert (
        f"new fans joining from your network address: at most {NEW_FANS_PER_ADDRESS} per minute"
        in message
    )
    assert FAN_COOKIE not in refused.cookies and "set-cookie" not in refused.headers
    assert _entrants(live_stack, event_id) == NEW_FANS_PER_ADDRESS
    # Another address is not held back by this one.
    assert (await fans.at("203.0.113.2", event_id).new_join()).status_code == 200


async def test_reloads_count_for_the_fan_not_the_address(live_stack: LiveStack, fans: Fans) -> None:
    event_id = queued_sale(live_stack)
    fan = fans.at("203.0.113.3", event_id)
    first = await fan.join()
    for _ in range(JOINS_PER_FAN):
        again = await fan.join()
        assert again["entrant_id"] == first["entrant_id"]
    # The address has made one new fan: it may make the rest of its allowance.
    for _ in range(NEW_FANS_PER_ADDRESS - 1):
        assert (await fans.at("203.0.113.3", event_id).new_join()).status_code == 200

    reload = await fan.request("POST", fan.path("/join"))

    expect_too_many(reload)
    assert "joins from this fan" in reload.json()["error"]["message"]


async def test_joins_a_sale_refuses_anyway_are_not_counted_as_new_fans(
    live_stack: LiveStack, fans: Fans
) -> None:
    """A browser with no session on a list sale makes no fan: 401, never 429."""
    listed = queued_sale(live_stack, access="list")
    for _ in range(NEW_FANS_PER_ADDRESS + 2):
        refused = await fans.at("203.0.113.4", listed).new_join()
        expect_error(refused, ErrorCode.SIGN_IN_REQUIRED)
    event_id = queued_sale(live_stack)
    for _ in range(NEW_FANS_PER_ADDRESS):
        assert (await fans.at("203.0.113.4", event_id).new_join()).status_code == 200


async def test_a_new_fan_refused_keeps_its_proof_of_work(live_stack: LiveStack, fans: Fans) -> None:
    """The address's limit is asked before the solution is checked and used up."""
    event_id = queued_sale(live_stack, pow_difficulty=2_000)
    for _ in range(NEW_FANS_PER_ADDRESS):
        await fans.at("203.0.113.5", event_id).join()
    late = fans.at("203.0.113.5", event_id)
    challenge = (await late.request("GET", late.path("/challenge"))).json()
    solution = solve(challenge)

    expect_too_many(await late.request("POST", late.path("/join"), json={"altcha": solution}))

    # The same browser's solution, from an address with room: still unused.
    elsewhere = fans.at("203.0.113.6", event_id)
    joined = await elsewhere.request("POST", elsewhere.path("/join"), json={"altcha": solution})
    assert joined.status_code == 200, joined.text


async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(live_stack: LiveStack) -> None:
    event_id = queued_sale(live_stack)
    path = f"/api/events/{event_id}/join"
    async with untrusted_client(live_stack) as http:
        for n in range(NEW_FANS_PER_ADDRESS):
            # Each claims another address: all count against the peer, 127.0.0.2.
            answer = await http.post(path, headers={"X-Forwarded-For": f"198.51.100.{n}"})
            assert answer.status_code == 200, answer.text
            http.cookies.clear()
        expect_too_many(await http.post(path, headers={"X-Forwarded-For": "198.51.100.99"}))
    # From the trusted proxy, the same header names a client with room.
    async with httpx.AsyncClient(base_url=live_stack.base_url, timeout=WAIT_S) as http:
        answer = await http.post(path, headers={"X-Forwarded-For": "198.51.100.99"})
        assert answer.status_code == 200, answer.text


def test_no_proxy_is_trusted_unless_the_settings_name_it(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Not even 127.0.0.1, which uvicorn itself would believe by default."""
    with running_stack(postgres_server, tmp_path, limit_join_per_address="3/minute") as stack:
        path = f"/api/events/{queued_sale(stack)}/join"
        with httpx.Client(base_url=stack.base_url, timeout=WAIT_S) as http:
            for n in range(3):
                answer = http.post(path, headers={"X-Forwarded-For": f"198.51.100.{n}"})
                assert answer.status_code == 200, answer.text
                http.cookies.clear()
            expect_too_many(http.post(path, headers={"X-Forwarded-For": "198.51.100.9"}))


# --- holds, payments, releases, presale holds ---------------------------------


async def test_holds_per_fan_are_limited_over_http_and_the_socket_alike(
    live_stack: LiveStack, fans: Fans
) -> None:
    event_id = queued_sale(live_stack)
    fan = fans.at("203.0.113.10", event_id)
    token = await fan.admission_token()
    socket = await fan.open_socket()
    hold = {"t": "hold", "admission_token": token, "items": [{"type": ga(event_id), "quantity": 1}]}
    assert (await fan.ask_for(token)).status_code == 202
    await socket.send(json.dumps(hold))
    await socket.next(is_message("hold_queued"))
    assert (await fan.ask_for(token)).status_code == 202

    await socket.send(json.dumps(hold))
    refused = await socket.next(is_message("error"))

    assert refused["code"] == ErrorCode.TOO_MANY_REQUESTS.value, refused
    assert "ticket requests from this fan" in refused["message"]
    # The socket stays open and keeps answering.
    await socket.send('{"t": "ping"}')
    await socket.next(is_message("pong"))
    expect_too_many(await fan.ask_for(token))
    # Another fan at the same address is not held back by this one.
    other = fans.at("203.0.113.10", event_id)
    assert (await other.ask_for(await other.admission_token())).status_code == 202


async def test_payments_and_releases_per_fan_are_limited(live_stack: LiveStack, fans: Fans) -> None:
    event_id = queued_sale(live_stack)
    fan = fans.at("203.0.113.11", event_id)
    hold_id = await fan.hold()
    paid = await fan.request("POST", fan.path(f"/holds/{hold_id}/pay"))
    assert paid.status_code == 202, paid.text
    # Refused asks count too: a flood of them is what the limit stops.
    for _ in range(ACTIONS_PER_FAN - 1):
        missing = await fan.request("POST", fan.path("/holds/no-such-hold/pay"))
        expect_error(missing, ErrorCode.UNKNOWN_HOLD)
    expect_too_many(await fan.request("POST", fan.path(f"/holds/{hold_id}/pay")))

    for _ in range(ACTIONS_PER_FAN):
        missing = await fan.request("POST", fan.path("/holds/no-such-hold/release"))
        expect_error(missing, ErrorCode.UNKNOWN_HOLD)
    refused = await fan.request("POST", fan.path(f"/holds/{hold_id}/release"))
    expect_too_many(refused)
    assert "releases from this fan" in refused.json()["error"]["message"]


async def test_presale_holds_per_fan_are_limited(live_stack: LiveStack, fans: Fans) -> None:
    event_id = queued_sale(live_stack)
    expires_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    async with httpx.AsyncClient(base_url=live_stack.base_url, timeout=WAIT_S) as http:
        made = await http.post(
            f"/api/events/{event_id}/presale-links",
            json={"allowance": 5, "expires_at": expires_at},
            headers=live_stack.organiser_headers,
        )
    assert made.status_code == 201, made.text
    fan = fans.at("203.0.113.12", event_id)
    await fan.join()
    path = fan.path(f"/presale/{made.json()['id']}/holds")
    body = {"items": [{"type": ga(event_id), "quantity": 1}]}
    answers = [await fan.request("POST", path, json=body) for _ in range(ACTIONS_PER_FAN)]
    assert answers[0].status_code == 200, answers[0].text
    expect_too_many(await fan.request("POST", path, json=body))


# --- sockets -------------------------------------------------------------------


async def test_sockets_at_once_per_address_are_capped(live_stack: LiveStack, fans: Fans) -> None:
    event_id = queued_sale(live_stack)
    first, second, third = await fans.joined("203.0.113.20", event_id, 3)
    open_ones = [await fan.open_socket() for fan in (first, second)]
    for socket in open_ones:
        await socket.next(is_status())

    message = await refused_socket(await third.open_socket(), ErrorCode.TOO_MANY_REQUESTS)

    assert f"{OPEN_SOCKETS_PER_ADDRESS} sockets are open" in message
    # Sockets of other addresses still work, and those open keep working.
    [elsewhere] = await fans.joined("203.0.113.21", event_id, 1)
    await (await elsewhere.open_socket()).next(is_status())
    await open_ones[0].send('{"t": "ping"}')
    await open_ones[0].next(is_message("pong"))
    # Once one closes, its place is free again.
    await open_ones[1].close()
    await asyncio.sleep(0.3)
    await (await third.open_socket()).next(is_status())


async def test_connects_per_address_and_per_fan_are_limited(
    live_stack: LiveStack, fans: Fans
) -> None:
    event_id = queued_sale(live_stack)
    [fan] = await fans.joined("203.0.113.22", event_id, 1)
    for _ in range(CONNECTS_PER_FAN):
        socket = await fan.open_socket()
        await socket.next(is_status())
        await socket.close()
    message = await refused_socket(await fan.open_socket(), ErrorCode.TOO_MANY_REQUESTS)
    assert "socket connections from this fan" in message

    others = await fans.joined("203.0.113.23", event_id, 3)
    for other in others[:2]:
        for _ in range(CONNECTS_PER_ADDRESS // 2):
            socket = await other.open_socket()
            await socket.next(is_status())
            await socket.close()
    message = await refused_socket(await others[2].open_socket(), ErrorCode.TOO_MANY_REQUESTS)
    assert "socket connections from your network address" in message


# --- settings and the document --------------------------------------------------


@pytest.mark.parametrize("bad", ["lots", "0/minute", "-1/minute", "5/fortnight", "1/minute;2/hour"])
def test_a_bad_limit_setting_is_refused(bad: str) -> None:
    with pytest.raises(SettingsError, match="FAIRDROP_LIMIT_HOLD_PER_FAN"):
        Settings.from_env({"FAIRDROP_LIMIT_HOLD_PER_FAN": bad})


@pytest.mark.parametrize("bad", ["nginx", "10.0.0.1/8", "10.0.0.0/33", "::1/200"])
def test_a_bad_trusted_proxy_is_refused(bad: str) -> None:
    with pytest.raises(SettingsError, match="FAIRDROP_TRUSTED_PROXIES"):
        Settings.from_env({"FAIRDROP_TRUSTED_PROXIES": f"127.0.0.1,{bad}"})


def test_limit_settings_reach_a_child_process_unchanged(tmp_path: Path) -> None:
    changed = {name: "7 per 30 seconds" for name in RATE_LIMITS}
    settings = Settings(data_dir=tmp_path).with_overrides(
        trusted_proxies=("10.0.0.0/8", "2001:db8::/32"),
        limit_open_sockets_per_address=9,
        **changed,
    )
    assert Settings.from_env(settings.as_env()) == settings
    assert Settings.from_env({}).trusted_proxies == ()


def test_every_limit_setting_limits_an_action() -> None:
    limits = RateLimits(Settings(), redis.asyncio.Redis())
    # All but the share of new entrants, which join.lua counts.
    assert len(limits.per_address) + len(limits.per_fan) == len(RATE_LIMITS) - 1
    assert limits.entrant_share == AddressShare(6_000, 1)


def test_off_turns_a_limit_off() -> None:
    settings = Settings.from_env(
        {"FAIRDROP_LIMIT_HOLD_PER_FAN": "Off", "FAIRDROP_LIMIT_OPEN_SOCKETS_PER_ADDRESS": "0"}
    )
    limits = RateLimits(settings, redis.asyncio.Redis())
    assert Action.HOLD not in limits.per_fan and Action.HOLD in limits.per_address
    assert len({limits.open_socket(None) for _ in range(10_000)}) == 1
    quiet = RateLimits(Settings().without_rate_limits(), redis.asyncio.Redis())
    assert quiet.per_address == {} == quiet.per_fan
    assert quiet.entrant_share == NO_SHARE


def test_limited_operations_document_their_429() -> None:
    limited = [
        ("/api/events/{event_id}/join", "post"),
        ("/api/events/{event_id}/purchases", "post"),
        ("/api/events/{event_id}/holds/{hold_id}/pay", "post"),
        ("/api/events/{event_id}/holds/{hold_id}/release", "post"),
        ("/api/events/{event_id}/presale/{link_id}/holds", "post"),
        ("/api/sign-in/email", "post"),
    ]
    answer = DOCUMENT["components"]["responses"]["TooManyRequests"]
    assert "Retry-After" in answer["headers"]
    for path, method in limited:
        responses = DOCUMENT["paths"][path][method]["responses"]
        assert responses["429"] == {"$ref": "#/components/responses/TooManyRequests"}, path
