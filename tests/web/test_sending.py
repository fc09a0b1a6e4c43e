"""web/sending.py: a send that completes at once costs no task; one that waits
finishes in a task of its own, or is given up on after its timeout, without
holding up the others."""

from __future__ import annotations

import asyncio

import pytest
from starlette.websockets import WebSocketState

from web import sending


class Page:
    """A socket whose sends wait until ``room`` is set (a slow reader's full buffer)."""

    client_state = WebSocketState.CONNECTED

    def __init__(self, room: bool, turns: int = 0) -> None:
        self.room = asyncio.Event()
        if room:
            self.room.set()
        self.turns = turns  # bare yields on the way, as asyncio.sleep(0) makes
        self.got: list[str] = []
        self.given_up = False

    async def send_text(self, text: str) -> None:
        try:
            await self.room.wait()
            for _ in range(self.turns):
                await asyncio.sleep(0)
            await self.room.wait()
        except GeneratorExit:
            self.given_up = True
            raise
        self.got.append(text)


async def test_stalled_sends_finish_in_tasks_and_the_rest_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sending, "SEND_TIMEOUT_S", 0.3)
    ready, slow, stuck = Page(room=True), Page(room=False, turns=2), Page(room=False)
    sending.send_all([(ready, "a"), (slow, "b"), (stuck, "c")])  # type: ignore[list-item]
    # The socket with room has its message before send_all returns; the others wait.
    assert (ready.got, slow.got, stuck.got) == (["a"], [], [])
    assert len(sending._STALLED_SENDS) == 2
    await asyncio.sleep(0.05)
    slow.room.set()
    await asyncio.sleep(0.05)
    assert slow.got == ["b"] and not slow.given_up
    # The stuck one is given up on: its send stops where it waited, and leaves nothing behind.
    await asyncio.sleep(0.4)
    assert stuck.got == [] and stuck.given_up
    assert not sending._STALLED_SENDS
    stuck.room.set()  # room at last: the send given up on sends nothing late
    await asyncio.sleep(0.05)
    assert stuck.got == []


async def test_a_closed_socket_is_skipped() -> None:
    gone = Page(room=True)
    gone.client_state = WebSocketState.DISCONNECTED
    sending.send_all([(gone, "a")])  # type: ignore[list-item]
    assert gone.got == []
