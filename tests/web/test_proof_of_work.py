"""web/proof_of_work.py on a live stack: a new entrant of a sale with a difficulty
joins with a solved ALTCHA challenge, bound to the sale and the session, once."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fairdrop.errors import ErrorCode
from fairdrop.settings import POW_MAX, Settings, SettingsError
from fairdrop.tokens import FAN_COOKIE, Signer
from launch.fan_proof import solve
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import Crowd, Fan, expect_error, is_status, open_sale, stats
from web.proof_of_work import CHALLENGE_SECONDS, NO_SESSION, new_challenge

# Small enough that Python solves it in milliseconds; the page test uses a real one.
DIFFICULTY = 2_000
INVALID = ErrorCode.INVALID_PROOF_OF_WORK


def _sale(stack: LiveStack, **overrides: Any) -> str:
    """An open sale past its window (fans are queued at once) asking for a proof."""
    return open_sale(stack, pow_difficulty=DIFFICULTY, **overrides)


async def _challenge(fan: Fan) -> dict[str, Any]:
    response = await fan.request("GET", fan.path("/challenge"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    challenge: dict[str, Any] = response.json()
    return challenge


async def _join(fan: Fan, solution: Any = None, **kwargs: Any) -> httpx.Response:
    body = {"altcha": solution} if solution is not None else kwargs.pop("json", None)
    return await fan.request("POST", fan.path("/join"), json=body, **kwargs)


def _entrants(stack: LiveStack, event_id: str) -> int:
    figures = stats(stack, event_id)
    return int(figures["last_number"]) + int(figures["buffered"])


def _key(stack: LiveStack) -> bytes:
    return Signer(stack.settings.secret_key).proof_of_work_key


async def test_a_join_without_a_solution_is_refused_and_makes_no_entry_and_no_cookie(
    crowd: Crowd, live_stack: LiveStack
) -> None:
    event_id = _sale(live_stack)
    fan = crowd.fan(event_id)

    for body in (None, {}, {"altcha": None}):
        response = await _join(fan, json=body)
        error = expect_error(response, ErrorCode.PROOF_OF_WORK_REQUIRED)
        assert f"/api/events/{event_id}/challenge" in error["message"]
        assert "set-cookie" not in response.headers

    assert _entrants(live_stack, event_id) == 0


async def _visitor(crowd: Crowd, stack: LiveStack, event_id: str) -> Fan:
    """A fan of ``event_id`` whose session was made at another sale (one asking no proof)."""
    elsewhere = crowd.fan(open_sale(stack))
    await elsewhere.join()
    return crowd.fan(event_id, elsewhere.cookie)


async def test_a_solved_join_works_once(crowd: Crowd, live_stack: LiveStack) -> None:
    event_id = _sale(live_stack)
    fan = crowd.fan(event_id)

    challenge = await _challenge(fan)
    assert challenge["required"] is True
    assert challenge["algorithm"] == "SHA-256"
    assert challenge["maxnumber"] == challenge["pow_difficulty"] == DIFFICULTY
    expires = datetime.fromisoformat(challenge["expires_at"])
    assert abs((expires - datetime.now(UTC)).total_seconds() - CHALLENGE_SECONDS) < 5
    solution = solve(challenge)

    joined = await _join(fan, solution)
    assert joined.status_code == 200, joined.text
    assert joined.json()["status"] == "queued" and joined.json()["number"] == 1
    cookie = joined.cookies[FAN_COOKIE]

    # The same solution again: cookie-less (a new session), and with the session it made.
    replayed = await _join(crowd.fan(event_id), solution)
    assert "used already" in expect_error(replayed, INVALID)["message"]
    assert "set-cookie" not in replayed.headers
    expect_error(await _join(crowd.fan(event_id, cookie), solution), INVALID)
    # A challenge a session asked for itself works once too.
    visitor = await _visitor(crowd, live_stack, event_id)
    own = solve(await _challenge(visitor))
    assert (await _join(visitor, own)).status_code == 200
    assert "used already" in expect_error(await _join(visitor, own), INVALID)["message"]

    assert _entrants(live_stack, event_id) == 2


async def test_one_solution_sent_by_many_at_once_lets_in_one(
    crowd: Crowd, live_stack: LiveStack
) -> None:
    event_id = _sale(live_stack)
    solution = solve(await _challenge(crowd.fan(event_id)))
    fans = [crowd.fan(event_id) for _ in range(8)]

    answers = await asyncio.gather(*(_join(fan, solution) for fan in fans))

    assert sorted(a.status_code for a in answers) == [200] + [403] * 7
    assert sum("set-cookie" in a.headers for a in answers) == 1
    assert _entrants(live_stack, event_id) == 1


async def test_a_solution_for_another_sale_or_session_is_refused(
    crowd: Crowd, live_stack: LiveStack
) -> None:
    event_id, other_id = _sale(live_stack), _sale(live_stack)
    one = await _visitor(crowd, live_stack, event_id)
    another = await _visitor(crowd, live_stack, event_id)

    cases = [
        # (who asks for the challenge, at which sale; who joins with it; why it is refused)
        (crowd.fan(other_id), crowd.fan(event_id), "another sale"),
        (one, another, "another session"),
        (crowd.fan(event_id), one, "another session"),  # asked without a session
        (one, crowd.fan(event_id), "another session"),  # used without one
    ]
    for asker, joiner, why in cases:
        response = await _join(joiner, solve(await _challenge(asker)))
        assert why in expect_error(response, INVALID)["message"], why
        assert "set-cookie" not in response.headers

    assert _entrants(live_stack, event_id) == 0


async def test_an_expired_forged_or_malformed_solution_is_refused(
    crowd: Crowd, live_stack: LiveStack
) -> None:
    event_id = _sale(live_stack)
    fan = crowd.fan(event_id)
    key = _key(live_stack)
    expired = new_challenge(key, event_id, NO_SESSION, DIFFICULTY, time.time() - 601)
    forged = new_challenge(b"another server's key", event_id, NO_SESSION, DIFFICULTY)
    genuine = solve(await _challenge(fan))
    payload = json.loads(base64.b64decode(genuine))

    def encoded(value: Any) -> str:
        return base64.b64encode(json.dumps(value).encode()).decode()

    refused = {
        "expired": solve(expired),
        "forged": solve(forged),
        "wrong number": encoded({**payload, "number": payload["number"] + 1}),
        "tampered salt": encoded({**payload, "salt": payload["salt"].replace(event_id, "x")}),
        "true as number": encoded({**payload, "number": True}),
        "sha-1": encoded({**payload, "algorithm": "SHA-1"}),
        "a list": encoded([payload]),
        "not base64": "%%%",
        "empty": "",
        "too long": "A" * 3_000,
    }
    for case, solution in refused.items():
        response = await _join(fan, solution)
        error = expect_error(response, INVALID)
        assert "set-cookie" not in response.headers, case
        if case == "expired":
            assert "expired" in error["message"]
    for body in ({"altcha": 5}, {"altcha": genuine, "number": 1}):
        expect_error(await _join(fan, json=body), ErrorCode.INVALID_FIELD)

    assert _entrants(live_stack, event_id) == 0
    # None of that used the genuine solution up.
    assert (await _join(fan, genuine)).status_code == 200


async def test_a_fan_with_a_place_joins_and_connects_again_without_a_proof(
    crowd: Crowd, live_stack: LiveStack
) -> None:
    event_id = _sale(live_stack)
    fan = crowd.fan(event_id)
    entry = await fan.join()  # solves

    assert (await _challenge(fan)) == {"required": False, "pow_difficulty": DIFFICULTY}
    again = await _join(fan)
    assert again.status_code == 200, again.text
    assert again.json()["entrant_id"] == entry["entrant_id"]
    assert again.json()["number"] == entry["number"]
    second_tab = crowd.fan(event_id, fan.cookie)
    socket = await second_tab.open_socket()
    assert (await socket.next(is_status()))["number"] == entry["number"]
    assert _entrants(live_stack, event_id) == 1


async def test_a_socket_cannot_enter_a_fan_who_has_not_proved(
    crowd: Crowd, live_stack: LiveStack
) -> None:
    free_id = open_sale(live_stack)  # no proof asked here
    event_id = _sale(live_stack)
    fan = crowd.fan(free_id)
    await fan.join()

    # The session from the free sale, straight to the other sale's socket.
    socket = await crowd.fan(event_id, fan.cookie).open_socket()

    assert await socket.close_code() == 4428
    assert _entrants(live_stack, event_id) == 0


async def test_a_page_opened_before_the_window_proves_once(
    crowd: Crowd, live_stack: LiveStack
) -> None:
    now = datetime.now(UTC)
    event_id = live_stack.create_event(
        opens_at=(now + timedelta(seconds=1.5)).isoformat(),
        drop_at=(now + timedelta(seconds=60)).isoformat(),
        pow_difficulty=DIFFICULTY,
    )["id"]
    fan = crowd.fan(event_id)

    early = await fan.join()  # solves, though the window has not opened
    socket = await fan.open_socket()
    assert early["status"] == "not_open"

    # The socket's own join at the opening places the fan: no second proof.
    assert (await socket.next(is_status(state="waiting_room"), timeout=10))["number"] == 0
    assert (await _join(fan)).json()["status"] == "buffered"
    assert _entrants(live_stack, event_id) == 1


async def test_a_sale_that_asks_who_fans_are_says_sign_in_before_any_work(
    crowd: Crowd, live_stack: LiveStack
) -> None:
    event_id = _sale(live_stack, access="list")
    fan = crowd.fan(event_id)

    expect_error(await fan.request("GET", fan.path("/challenge")), ErrorCode.SIGN_IN_REQUIRED)
    expect_error(await _join(fan), ErrorCode.SIGN_IN_REQUIRED)


def test_the_difficulty_is_in_the_event_data_and_bounded(live_stack: LiveStack) -> None:
    event = live_stack.create_event(pow_difficulty=123_456)
    assert event["pow_difficulty"] == 123_456
    public = httpx.get(f"{live_stack.base_url}/api/events/{event['id']}", timeout=10)
    assert public.json()["pow_difficulty"] == 123_456
    assert live_stack.create_event(pow_difficulty=POW_MAX)["pow_difficulty"] == POW_MAX

    for bad in (-1, POW_MAX + 1, "hard", True, 1.5, None):
        body = {**_event_body(live_stack), "pow_difficulty": bad}
        response = httpx.post(
            f"{live_stack.base_url}/api/events",
            json=body,
            headers=live_stack.organiser_headers,
            timeout=10,
        )
        error = expect_error(response, ErrorCode.INVALID_FIELD)
        assert "pow_difficulty" in error["message"]


def _event_body(stack: LiveStack) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "name": "bounded",
        "opens_at": now.isoformat(),
        "drop_at": (now + timedelta(seconds=5)).isoformat(),
        "rate_per_min": 60,
        "cap": 10,
        "hold_seconds": 60,
        "ticket_types": [
            {"name": "GA", "price_cents": 100, "currency": "EUR", "stock": 5, "per_person_limit": 1}
        ],
    }


@pytest.fixture(scope="module")
def stack_with_a_default(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    workdir: Path = tmp_path_factory.mktemp("pow-default")
    with running_stack(postgres_server, workdir, pow_default=12_345) as stack:
        yield stack


def test_fairdrop_pow_default_is_what_open_sales_get(stack_with_a_default: LiveStack) -> None:
    stack = stack_with_a_default
    assert stack.create_event()["pow_difficulty"] == 12_345
    # A sale that asks who fans are gets none unless the organiser names one.
    assert stack.create_event(access="list")["pow_difficulty"] == 0
    assert stack.create_event(access="list", pow_difficulty=3_000)["pow_difficulty"] == 3_000
    assert stack.create_event(pow_difficulty=0)["pow_difficulty"] == 0


def test_the_setting_is_read_and_bounded() -> None:
    assert Settings.from_env({"FAIRDROP_POW_DEFAULT": "20000"}).pow_default == 20_000
    assert Settings.from_env({"FAIRDROP_POW_DEFAULT": "0"}).pow_default == 0
    settings = Settings(pow_default=777)
    assert Settings.from_env(settings.as_env()).pow_default == 777
    for bad in ("-1", str(POW_MAX + 1), "lots"):
        with pytest.raises(SettingsError, match="FAIRDROP_POW_DEFAULT"):
            Settings.from_env({"FAIRDROP_POW_DEFAULT": bad})
