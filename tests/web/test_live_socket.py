"""web/sockets.py and the live fan-out (web/live.py, rooms.py, places.py): the
fan's websocket, from handshake to sold out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from websockets.exceptions import InvalidStatus

from fairdrop.errors import ErrorCode
from fairdrop.protocol import ProgressMessage, StatusMessage
from fairdrop.tokens import Session, Signer, anonymous_identity
from queue_engine.odds import admission_wait_s
from tests.live_stack import LiveStack
from tests.web.fans import (
    WAIT_S,
    Crowd,
    Fan,
    Message,
    Socket,
    expect_error,
    ga,
    in_protocol,
    is_admitted,
    is_message,
    is_status,
    open_sale,
    stats,
    ticket_type,
)

# How long a fan's socket may wait for the draw to let it in.
DRAWN_WAIT_S = 15.0


class PageView:
    """What a fan's page shows, built from its socket's messages as static/queue.js does.

    A ``status`` replaces the picture; a ``progress`` (the same for every fan)
    updates the shared figures and the page works out "ahead" and the wait
    from its own number, as ``placeFigures`` in static/queue_state.js does.
    """

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self.status: Message | None = None

    def apply(self, message: Message) -> bool:
        """True when the message changed what the page shows."""
        if message.get("t") == "status":
            self.status = message
        elif message.get("t") == "progress" and self.status is not None:
            state, number = self.status["state"], self.status["number"]
            ahead = max(0, number - message["serving"] - 1) if number else None
            rate = message["rate_per_min"] or 0
            wait_s = None
            if state == "queued" and rate > 0 and not message["paused"]:
                next_admit, now = message["next_admit_ms"], message["now_ms"]
                wait_s = admission_wait_s(ahead or 0, next_admit, rate, now)
            shared = {k: v for k, v in message.items() if k != "t"}
            self.status = {**self.status, **shared, "ahead": ahead, "wait_s": wait_s}
        else:
            return False
        return True

    async def next(
        self, matching: Callable[[Message], bool] = lambda m: True, timeout: float = WAIT_S
    ) -> Message:
        """The page's picture once it matches (it is checked after every message)."""

        def shown(message: Message) -> bool:
            return self.apply(message) and self.status is not None and matching(self.status)

        await self.socket.next(shown, timeout)
        assert self.status is not None
        return self.status


async def test_first_message_is_a_full_status(live_stack: LiveStack, crowd: Crowd) -> None:
    event_id = open_sale(live_stack)
    fan = crowd.fan(event_id)
    entry = await fan.join()
    socket = await fan.open_socket()
    first = await socket.next(timeout=2)
    assert first["t"] == "status"
    assert set(first) == StatusMessage.__required_keys__, first
    assert first["number"] == entry["number"] > 0
    assert first["remaining"] == {ga(event_id): 10}
    assert first["remaining_total"] == 10
    assert first["tickets_may_return"] is False
    assert first["paused"] is False
    assert isinstance(first["opens_at"], int) and isinstance(first["drop_at"], int)
    assert first["opens_at"] < first["drop_at"]


async def test_a_quiet_socket_hears_the_heartbeat(live_stack: LiveStack, crowd: Crowd) -> None:
    # Opens in an hour: nothing changes, so every message is a heartbeat.
    later = datetime.now(UTC) + timedelta(hours=1)
    event_id = live_stack.create_event(
        opens_at=later.isoformat(), drop_at=(later + timedelta(hours=1)).isoformat()
    )["id"]
    fan = crowd.fan(event_id)
    assert (await fan.join())["status"] == "not_open"
    socket = await fan.open_socket()
    await socket.next(is_status(state="not_open"), timeout=2)
    heartbeat = live_stack.settings.heartbeat_seconds
    assert heartbeat == 1.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(3):
        beat = await socket.next(
            is_message("progress", event_state="scheduled"), timeout=2 * heartbeat
        )
        assert set(beat) == ProgressMessage.__required_keys__, beat
    assert loop.time() - started <= 4 * heartbeat
    # Nothing changed for this fan: the heartbeats were shared progress, no status.
    assert [m["t"] for m in socket.seen].count("status") == 1


async def test_second_tab_and_reload_keep_the_place(live_stack: LiveStack, crowd: Crowd) -> None:
    event_id = open_sale(live_stack)
    first, fan = await crowd.joined(event_id, 2)
    number = (await fan.join())["number"]
    assert number == (await first.join())["number"] + 1
    tab_one = await fan.open_socket()
    tab_two = await fan.open_socket()
    assert (await tab_one.next(is_status()))["number"] == number
    assert (await tab_two.next(is_status()))["number"] == number
    await tab_one.close()
    reloaded = await fan.open_socket()
    assert (await reloaded.next(is_status()))["number"] == number
    assert (await fan.join())["number"] == number


async def test_buffered_fans_wait_then_get_their_drawn_number(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = live_stack.create_event()["id"]  # the window is open; the drop is in 2 s
    fans = await crowd.joined(event_id, 3)
    sockets = [await fan.open_socket() for fan in fans]
    for socket in sockets:
        waiting = await socket.next(is_status(), timeout=2)
        assert (waiting["state"], waiting["number"]) == ("waiting_room", 0)
    drawn = [
        await socket.next(lambda m: m.get("t") == "status" and m["number"] > 0, timeout=6)
        for socket in sockets
    ]
    numbers = [message["number"] for message in drawn]
    assert sorted(numbers) == [1, 2, 3]
    assert all(message["state"] in {"queued", "admitted"} for message in drawn)
    assert [(await fan.join())["number"] for fan in fans] == numbers


async def _fan_socket(crowd: Crowd, event_id: str) -> Socket:
    """A joined fan's open socket, past its first status."""
    [fan] = await crowd.joined(event_id, 1)
    socket = await fan.open_socket()
    await socket.next(is_status())
    return socket


def _error(code: ErrorCode) -> Callable[[Message], bool]:
    return is_message("error", code=code.value)


async def _refused(socket: Socket, code: ErrorCode, close_code: int) -> None:
    """The server says why, then closes the socket with this code."""
    await socket.next(_error(code), timeout=2)
    assert await socket.close_code() == close_code


async def test_ping_gets_pong_and_bad_messages_get_errors(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    socket = await _fan_socket(crowd, open_sale(live_stack))
    await socket.send('{"t":"ping"}')
    await socket.next(is_message("pong"))
    for bad, code in [
        ("not json", ErrorCode.MALFORMED_JSON),
        ("[1, 2]", ErrorCode.MALFORMED_JSON),
        ('{"t":"buy"}', ErrorCode.INVALID_FIELD),
    ]:
        await socket.send(bad)
        error = await socket.next(lambda m: m.get("t") in {"error", "pong"})
        assert error["code"] == code.value, (bad, error)
    # Still open and answering.
    await socket.send('{"t":"ping"}')
    await socket.next(is_message("pong"))


async def test_a_message_at_the_limit_is_read(live_stack: LiveStack, crowd: Crowd) -> None:
    socket = await _fan_socket(crowd, open_sale(live_stack))
    message = '{"t":"ping","pad":"'
    message += "x" * (live_stack.settings.max_ws_message_bytes - len(message) - 2) + '"}'
    assert len(message.encode()) == live_stack.settings.max_ws_message_bytes
    await socket.send(message)
    await socket.next(is_message("pong"))


async def test_an_oversized_message_closes_the_socket(live_stack: LiveStack, crowd: Crowd) -> None:
    socket = await _fan_socket(crowd, open_sale(live_stack))
    await socket.send('{"t":"ping","pad":"' + "x" * live_stack.settings.max_ws_message_bytes + '"}')
    await _refused(socket, ErrorCode.MESSAGE_TOO_LARGE, 1009)


async def test_the_size_limit_counts_bytes_not_characters(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    socket = await _fan_socket(crowd, open_sale(live_stack))
    text = "é" * 600
    assert len(text.encode()) > live_stack.settings.max_ws_message_bytes
    await socket.send(text)
    error = await socket.next(lambda m: m.get("t") == "error")
    assert error["code"] == ErrorCode.MESSAGE_TOO_LARGE.value


async def test_a_flood_closes_the_socket(live_stack: LiveStack, crowd: Crowd) -> None:
    socket = await _fan_socket(crowd, open_sale(live_stack))
    limit = live_stack.settings.max_ws_messages_per_second
    for _ in range(limit + 2):
        await socket.send('{"t":"ping"}')
    await _refused(socket, ErrorCode.TOO_MANY_MESSAGES, 1008)
    assert sum(m["t"] == "pong" for m in socket.seen) == limit


# The forged cookie is well formed, but signed with a key that is not the stack's.
@pytest.mark.parametrize(
    "cookie",
    ["", Signer("not-the-key").sign_session(Session(anonymous_identity(), 0, 2**40))],
    ids=["none", "forged"],
)
async def test_a_socket_without_a_fan_id_is_refused(
    live_stack: LiveStack, crowd: Crowd, cookie: str
) -> None:
    socket = await crowd.fan(open_sale(live_stack), cookie).open_socket()
    await _refused(socket, ErrorCode.NO_FAN_ID, 4401)


async def test_a_socket_for_an_unknown_event_is_refused(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    [fan] = await crowd.joined(open_sale(live_stack), 1)
    socket = await crowd.fan("no-such-event", fan.cookie).open_socket()
    await _refused(socket, ErrorCode.UNKNOWN_EVENT, 4404)


async def test_another_sites_page_cannot_open_a_fans_socket(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    [fan] = await crowd.joined(open_sale(live_stack), 1)
    with pytest.raises(InvalidStatus) as refused:
        await fan.open_socket(origin="http://evil.example")
    assert refused.value.response.status_code == 403
    # The page's own origin is let in: the refusal above was about the origin.
    own = await fan.open_socket(origin=live_stack.base_url)
    await own.next(is_status(), timeout=2)


async def _paid(socket: Socket, fan: Fan, hold_id: str) -> Message:
    paid = await fan.pay(hold_id)
    assert paid.status_code == 202, paid.text
    order = await socket.next(is_message("order"))
    assert order["ok"] is True, order
    return order


async def test_a_fan_is_let_in_holds_pays_and_gets_tickets(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id = open_sale(live_stack)
    fan = crowd.fan(event_id)
    await fan.join()
    socket = await fan.open_socket()
    # Longer than one message's wait: the sale is drawn first, on a beacon
    # round after its drop (a second apart here), and a loaded box has kept
    # it "drawing" past 5 s (several full runs, this test only).
    admitted = await socket.next(is_admitted, DRAWN_WAIT_S)
    assert admitted["state"] == "admitted"
    items = [{"type": ga(event_id), "quantity": 2}]
    asked = await fan.ask_for(admitted["admission"]["token"], items)
    assert asked.status_code == 202, asked.text
    held = await socket.next(is_message("hold_result"))
    assert held["ok"] is True, held
    assert held["hold"]["items"] == [[ga(event_id), 2]]
    hold_id = held["hold"]["id"]
    # The fan's new status comes inside the answer (one frame), and is read after it.
    assert held["status"]["t"] == "status" and held["status"]["hold_id"] == hold_id
    assert (await socket.next(is_status()))["hold_id"] == hold_id
    order = await _paid(socket, fan, hold_id)
    assert [t["type"] for t in order["tickets"]] == [ga(event_id)] * 2
    codes = [t["code"] for t in order["tickets"]]
    assert all(isinstance(c, str) and c for c in codes) and len(set(codes)) == 2
    await socket.next(is_status(state="done"))
    figures = stats(live_stack, event_id)
    assert (figures["sold"], figures["held"], figures["remaining_total"]) == (2, 0, 8)
    # Every message on the way, as fairdrop/protocol.py describes it.
    assert [m for m in socket.seen if not in_protocol(m)] == []


async def test_the_last_ticket_goes_round_until_it_is_sold(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    one_ticket = [ticket_type(stock=1, per_person_limit=1)]
    event_id = open_sale(live_stack, cap=1, ticket_types=one_ticket)
    first, second, third = await crowd.joined(event_id, 3)
    sockets = [PageView(await fan.open_socket()) for fan in (first, second, third)]
    hold_id = await first.hold()
    for socket in sockets[1:]:
        waiting = await socket.next(is_status(remaining_total=0))
        assert (waiting["state"], waiting["tickets_may_return"]) == ("queued", True)

    released = await first.release(hold_id)
    assert released.status_code == 202, released.text
    let_go = await sockets[0].socket.next(is_message("released", ok=True))
    assert in_protocol(let_go), let_go
    await sockets[0].next(is_status(state="turn_over"))
    # The ticket is back, and it is the second fan's turn, not the third's.
    back = await sockets[2].next(is_status(remaining_total=1))
    assert (back["state"], back["number"]) == ("queued", 3)
    await sockets[1].next(is_admitted)
    second_hold = await second.hold()
    gone_again = await sockets[2].next(is_status(remaining_total=0))
    assert (gone_again["state"], gone_again["tickets_may_return"]) == ("queued", True)

    await _paid(sockets[1].socket, second, second_hold)
    await asyncio.gather(
        *(socket.next(is_status(state="sold_out"), timeout=2) for socket in sockets[::2])
    )
    await sockets[1].next(is_status(state="done"))
    figures = stats(live_stack, event_id)
    assert (figures["state"], figures["sold"], figures["held"]) == ("sold_out", 1, 0)


async def test_an_idle_admitted_fan_loses_the_turn(live_stack: LiveStack, crowd: Crowd) -> None:
    hold_seconds = 5
    event_id = open_sale(live_stack, cap=1, hold_seconds=hold_seconds)
    idle, next_fan = await crowd.joined(event_id, 2)
    idle_socket = await idle.open_socket()
    next_socket = await next_fan.open_socket()
    token = (await idle_socket.next(is_admitted))["admission"]["token"]
    assert (await next_socket.next(is_status()))["state"] == "queued"

    await idle_socket.next(is_status(state="turn_over"), timeout=hold_seconds + 2)
    await next_socket.next(is_admitted, timeout=2)
    # The old token is spent with the turn.
    expect_error(await idle.ask_for(token), ErrorCode.TOKEN_EXPIRED)
    assert stats(live_stack, event_id)["admitted"] == 2


def _admission_came_first(socket: Socket, number: int) -> bool:
    """No message showed the counter at or past this fan before its own admission did."""
    for message in socket.seen:
        if is_admitted(message):
            return True
        if message.get("serving", 0) >= number:
            return False
    return False


async def test_every_fan_hears_its_own_admission(live_stack: LiveStack, crowd: Crowd) -> None:
    # Two a second: the counter passes each queued fan in its own step. One
    # ticket each, so the ten tickets serve all six fans choosing at once.
    one_each = [ticket_type(per_person_limit=1)]
    event_id = open_sale(live_stack, rate_per_min=120, ticket_types=one_each)
    fans = await crowd.joined(event_id, 6)
    numbers = [(await fan.join())["number"] for fan in fans]
    sockets = [await fan.open_socket() for fan in fans]
    admitted = await asyncio.gather(*(s.next(is_admitted, timeout=8) for s in sockets))
    for socket, number, status in zip(sockets, numbers, admitted, strict=True):
        assert (status["number"], status["state"]) == (number, "admitted")
        assert status["admission"]["token"] and status["ahead"] == 0
        assert _admission_came_first(socket, number), socket.seen
    # The fans let in last waited on shared progress, not on statuses of their own.
    last = sockets[-1].seen
    assert any(m["t"] == "progress" for m in last), last
    assert sum(m["t"] == "status" for m in last) <= 2, last


def _serving_at_least(serving: int) -> Callable[[Message], bool]:
    return lambda status: bool(status["serving"] >= serving)


async def test_the_page_works_out_ahead_and_wait_as_the_server_does(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    # One a second, so the counter moves while the last fan waits.
    event_id = open_sale(live_stack, rate_per_min=60)
    fans = await crowd.joined(event_id, 7)
    last = fans[-1]
    number = (await last.join())["number"]
    page = PageView(await last.open_socket())
    await page.next(is_status(state="queued"))
    servings = set()
    for _ in range(3):
        # A fresh socket's first status is the server's own figures for this place.
        fresh = await last.open_socket()
        truth = await fresh.next(is_status())
        await fresh.close()
        if truth["state"] != "queued":
            break
        shown = page.status
        if shown is None or shown["serving"] != truth["serving"]:
            shown = await page.next(_serving_at_least(truth["serving"]), timeout=4)
        for name in ("state", "number", "ahead", "remaining_total", "paused"):
            assert shown[name] == truth[name], (name, shown, truth)
        assert shown["ahead"] == number - truth["serving"] - 1
        # The same moment of admission, each said at its own time: ahead + 1
        # intervals after the bucket's last count (queue_engine/odds.py).
        said_at = (
            shown["now_ms"] + 1000 * shown["wait_s"],
            truth["now_ms"] + 1000 * truth["wait_s"],
        )
        assert abs(said_at[0] - said_at[1]) <= 1000, (shown, truth)
        assert truth["wait_s"] >= truth["ahead"], truth
        servings.add(truth["serving"])
        await page.next(_serving_at_least(truth["serving"] + 1), timeout=4)
    assert len(servings) >= 2, servings  # the counter moved between the comparisons
