"""Door tokens on a live stack (web/door.py, purchase/door_tokens.py): one event's doors only.

The organiser makes, lists and revokes tokens. A token checks its own
event's tickets in, once, and nobody else's; the organiser's token works at
every door. Every refused call is read back through the ticket API: the
ticket must still be unchecked.
"""

from __future__ import annotations

from typing import Any

from fairdrop.errors import ErrorCode
from fairdrop.tokens import Signer
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, client, expect_error, open_sale
from tests.web.test_tickets import check_in, door_headers, new_door_token, ticket

WHOAMI = "/api/door/whoami"
# What the organiser sees of a token after the answer that made it.
TOKEN_FIELDS = {"id", "event_id", "door", "created_at", "revoked_at"}


def _tokens_path(event_id: str, tail: str = "") -> str:
    return f"/api/events/{event_id}/door-tokens{tail}"


def _revoke_path(event_id: str, token_id: str) -> str:
    return _tokens_path(event_id, f"/{token_id}/revoke")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _sale_with_a_ticket(stack: LiveStack, crowd: Crowd, name: str) -> tuple[str, str]:
    """A new sale where a fan has just bought one ticket: the event id and the ticket's code."""
    event_id = open_sale(stack, name=name)
    order = await crowd.fan(event_id).buy(1)
    return event_id, str(order["tickets"][0]["code"])


async def _unchecked(stack: LiveStack, code: str) -> bool:
    seen = await ticket(stack, code)
    return seen["checked_in_at"] is None and seen["checked_in_by"] is None


async def _as_organiser(stack: LiveStack, method: str, path: str, **kwargs: Any) -> Any:
    async with client(stack, stack.organiser_headers) as http:
        return await http.request(method, path, **kwargs)


async def test_a_door_token_checks_its_events_ticket_in_once_and_refuses_anothers(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    ours, our_code = await _sale_with_a_ticket(live_stack, crowd, "Night A")
    theirs, their_code = await _sale_with_a_ticket(live_stack, crowd, "Night B")
    made = new_door_token(live_stack, ours, "North gate")
    assert set(made) == TOKEN_FIELDS | {"token"}
    assert (made["event_id"], made["door"], made["revoked_at"]) == (ours, "North gate", None)
    north = _bearer(made["token"])

    # The token's door is what is recorded, whatever the page calls its door.
    first = await check_in(live_stack, {"code": our_code, "door": "south"}, north)
    assert first.status_code == 200, first.text
    assert (first.json()["result"], first.json()["checked_in_by"]) == ("valid", "North gate")
    # A token that names its door needs no door name from the page.
    again = await check_in(live_stack, {"code": our_code}, north)
    assert again.status_code == 200, again.text
    assert (again.json()["result"], again.json()["checked_in_by"]) == (
        "already_used",
        "North gate",
    )
    assert again.json()["checked_in_at"] == first.json()["checked_in_at"]

    refused = await check_in(live_stack, {"code": their_code, "door": "south"}, north)

    error = expect_error(refused, ErrorCode.TICKET_OF_ANOTHER_EVENT)
    assert "Night B" in error["message"] and theirs in error["message"], error
    assert await _unchecked(live_stack, their_code)
    # The organiser's token works at every door (the page's door name is recorded).
    anywhere = await check_in(live_stack, {"code": their_code, "door": "west"})
    assert anywhere.status_code == 200, anywhere.text
    assert (anywhere.json()["result"], anywhere.json()["checked_in_by"]) == ("valid", "west")


async def test_refused_tokens_check_nothing_in(live_stack: LiveStack, crowd: Crowd) -> None:
    event_id, code = await _sale_with_a_ticket(live_stack, crowd, "Refusals")
    other_event = open_sale(live_stack)
    live = new_door_token(live_stack, event_id)
    revoked = new_door_token(live_stack, event_id, "East")
    revoking = await _as_organiser(live_stack, "POST", _revoke_path(event_id, revoked["id"]))
    assert revoking.status_code == 200, revoking.text
    key = live_stack.settings.secret_key
    refusals = [
        ({}, ErrorCode.UNAUTHORIZED),
        ({"Authorization": live["token"]}, ErrorCode.UNAUTHORIZED),  # no "Bearer"
        (_bearer("forged"), ErrorCode.FORBIDDEN),
        (_bearer(live["token"] + "x"), ErrorCode.FORBIDDEN),
        (_bearer(key), ErrorCode.FORBIDDEN),
        # Well formed, signed with a key that is not the server's.
        (
            _bearer(Signer("another-" + key).sign_door_token(live["id"], event_id)),
            ErrorCode.FORBIDDEN,
        ),
        # The server's key, but naming another event than the token's row says ...
        (_bearer(Signer(key).sign_door_token(live["id"], other_event)), ErrorCode.FORBIDDEN),
        # ... or a row that does not exist.
        (_bearer(Signer(key).sign_door_token("0" * 32, event_id)), ErrorCode.FORBIDDEN),
        (_bearer(revoked["token"]), ErrorCode.DOOR_TOKEN_REVOKED),
    ]
    for headers, expected in refusals:
        answer = await check_in(live_stack, {"code": code, "door": "north"}, headers)
        expect_error(answer, expected)
        async with client(live_stack, headers) as http:
            expect_error(await http.get(WHOAMI), expected)
    assert await _unchecked(live_stack, code)
    # The event's live token still lets the ticket in, once.
    answer = await check_in(live_stack, {"code": code, "door": "north"}, _bearer(live["token"]))
    assert answer.status_code == 200 and answer.json()["result"] == "valid", answer.text


async def test_a_revoked_token_stops_at_once_and_revoking_again_changes_nothing(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id, code = await _sale_with_a_ticket(live_stack, crowd, "Revoked")
    made = new_door_token(live_stack, event_id)
    async with client(live_stack, _bearer(made["token"])) as http:
        assert (await http.get(WHOAMI)).status_code == 200

    first = await _as_organiser(live_stack, "POST", _revoke_path(event_id, made["id"]))
    second = await _as_organiser(live_stack, "POST", _revoke_path(event_id, made["id"]))

    assert first.status_code == 200 and second.status_code == 200, (first.text, second.text)
    assert first.json()["revoked_at"] is not None
    assert second.json() == first.json()  # the first revocation's time stands
    # No cache to wait for: the very next scan is refused.
    answer = await check_in(live_stack, {"code": code, "door": "north"}, _bearer(made["token"]))
    expect_error(answer, ErrorCode.DOOR_TOKEN_REVOKED)
    assert await _unchecked(live_stack, code)


async def test_the_organiser_lists_an_events_tokens_without_their_secrets(
    live_stack: LiveStack,
) -> None:
    event_id, other_event = open_sale(live_stack), open_sale(live_stack)
    north = new_door_token(live_stack, event_id, "North gate")
    anywhere = new_door_token(live_stack, event_id)
    foreign = new_door_token(live_stack, other_event)
    revoked = await _as_organiser(live_stack, "POST", _revoke_path(event_id, anywhere["id"]))

    listed = await _as_organiser(live_stack, "GET", _tokens_path(event_id))

    assert listed.status_code == 200, listed.text
    without_secret = {k: v for k, v in north.items() if k != "token"}
    assert listed.json() == {"door_tokens": [without_secret, revoked.json()]}
    assert revoked.json()["door"] is None and revoked.json()["revoked_at"] is not None
    for made in (north, anywhere, foreign):
        assert made["token"] not in listed.text


async def test_whoami_names_the_tokens_event_and_door(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack, name="Whoami night")
    async with client(live_stack, door_headers(live_stack, event_id, "North gate")) as http:
        staff = await http.get(WHOAMI)
    async with client(live_stack, live_stack.organiser_headers) as http:
        organiser = await http.get(WHOAMI)

    assert staff.status_code == 200, staff.text
    assert staff.json() == {
        "all_events": False,
        "event_id": event_id,
        "event_name": "Whoami night",
        "door": "North gate",
    }
    assert organiser.json() == {
        "all_events": True,
        "event_id": None,
        "event_name": None,
        "door": None,
    }


async def test_only_the_organiser_manages_tokens_and_bad_input_changes_nothing(
    live_stack: LiveStack,
) -> None:
    event_id, other_event = open_sale(live_stack), open_sale(live_stack)
    made = new_door_token(live_stack, event_id)
    foreign = new_door_token(live_stack, other_event)
    calls = [
        ("POST", _tokens_path(event_id)),
        ("GET", _tokens_path(event_id)),
        ("POST", _revoke_path(event_id, made["id"])),
    ]
    strangers = [
        ({}, ErrorCode.UNAUTHORIZED),
        (_bearer("not-the-token"), ErrorCode.FORBIDDEN),
        # The event's own door staff cannot make, list or revoke tokens.
        (_bearer(made["token"]), ErrorCode.FORBIDDEN),
    ]
    async with client(live_stack) as http:
        for method, path in calls:
            for headers, expected in strangers:
                expect_error(await http.request(method, path, headers=headers), expected)
            ghost = path.replace(event_id, "no-such-event")
            answer = await http.request(method, ghost, headers=live_stack.organiser_headers)
            expect_error(answer, ErrorCode.UNKNOWN_EVENT)
    bad_bodies: list[Any] = [
        {"door": ""},
        {"door": "   "},
        {"door": "x" * 65},
        {"door": "north\x00"},
        {"door": 7},
        ["North gate"],
        "North gate",
    ]
    for body in bad_bodies:
        answer = await _as_organiser(live_stack, "POST", _tokens_path(event_id), json=body)
        expect_error(answer, ErrorCode.INVALID_FIELD)
    answer = await _as_organiser(
        live_stack,
        "POST",
        _tokens_path(event_id),
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    expect_error(answer, ErrorCode.MALFORMED_JSON)
    # An unknown token, and another event's token asked for through this event.
    for token_id in ("0" * 32, foreign["id"]):
        answer = await _as_organiser(live_stack, "POST", _revoke_path(event_id, token_id))
        expect_error(answer, ErrorCode.UNKNOWN_DOOR_TOKEN)

    listed = await _as_organiser(live_stack, "GET", _tokens_path(event_id))
    assert [t["id"] for t in listed.json()["door_tokens"]] == [made["id"]]
    assert listed.json()["door_tokens"][0]["revoked_at"] is None
    async with client(live_stack, _bearer(foreign["token"])) as http:
        assert (await http.get(WHOAMI)).json()["event_id"] == other_event
