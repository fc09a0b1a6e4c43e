"""The fan's websocket under generated abuse: malformed, oversized, binary and
out-of-order frames (holds without a turn, pings mid-hold, unknown kinds, deep
JSON), from a fan with a place. Every frame gets an answer or a clean close;
nothing else changes; and a bystander fan's socket keeps being served
throughout (answers its pings, hears the sale) — one abusive socket never
takes the room down. Bounded: a few dozen examples of a few frames each.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.live_stack import LiveStack
from tests.web.fans import Crowd, Fan, Socket, in_protocol, is_message, open_sale, stats

EXAMPLES = 30
# web/sockets.py: a flood (1008), a frame over the size limit (1009).
CLEAN_CLOSES = {1008, 1009}

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Messages a page could send, shuffled in kind and order, with wrong fields.
_MESSAGE = st.fixed_dictionaries(
    {"t": st.sampled_from(["ping", "hold", "pay", "status", "", "HOLD"]) | st.text(max_size=6)},
    optional={
        "admission_token": st.text(max_size=40) | _JSON,
        "items": _JSON,
        "request_id": _JSON,
    },
)
_FRAME = st.one_of(
    _MESSAGE.map(json.dumps),
    _JSON.map(json.dumps),
    st.text(max_size=60),  # not JSON at all
    st.binary(max_size=60),
    st.integers(1, 40).map(lambda depth: "[" * depth * 100 + "]" * depth * 100),  # deep nesting
    st.integers(1_100, 5_000).map(lambda size: '{"t":"ping","pad":"' + "x" * size + '"}'),
)


async def _served(socket: Socket) -> None:
    """The socket is alive and served: a ping gets its pong."""
    await socket.send('{"t":"ping"}')
    await socket.next(is_message("pong"), timeout=10)


async def _abuse(fan: Fan, frames: list[str | bytes]) -> None:
    socket = await fan.open_socket()
    try:
        for frame in frames:
            await socket.connection.send(frame)
            # Under the flood guard's rate: the frames' content is what is tested.
            await asyncio.sleep(0.12)
        # Anything the server said is a message of the protocol; a close is a clean one.
        while True:
            raw = await asyncio.wait_for(socket.connection.recv(), timeout=0.3)
            message: Any = json.loads(raw)
            assert isinstance(message, dict) and in_protocol(message), raw
    except TimeoutError:
        pass
    except ConnectionClosed as closed:
        # Closed on purpose, with a frame saying why; never a crash (1011) or
        # a dropped connection (1006).
        code = closed.rcvd.code if closed.rcvd else None
        assert code in CLEAN_CLOSES, (code, frames)
    finally:
        await socket.close()


async def test_garbage_frames_never_take_the_room_down(live_stack: LiveStack, crowd: Crowd) -> None:
    event_id = open_sale(live_stack)
    [abuser, bystander] = await crowd.joined(event_id, 2)
    watching = await bystander.open_socket()
    before = stats(live_stack, event_id)
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(frames=st.lists(_FRAME, min_size=1, max_size=5))
    def one_abuse(frames: list[str | bytes]) -> None:
        asyncio.run_coroutine_threadsafe(_abuse(abuser, frames), loop).result(timeout=60)

    await asyncio.to_thread(one_abuse)
    await _served(watching)
    after = stats(live_stack, event_id)
    # Nothing a frame said held or sold anything.
    for figure in ("held", "sold", "live_holds"):
        assert after[figure] == before[figure], (figure, before, after)
    # And the abuser itself still has its place and a working socket.
    assert (await abuser.join())["number"] > 0
    await _served(await abuser.open_socket())
