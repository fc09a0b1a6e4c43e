"""The lean bench client's frames, read back by the websockets library's own parser
(the one uvicorn's ``websockets-sansio`` protocol runs on the server)."""

from __future__ import annotations

import os

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from loadtests.raw_ws import PONG, TEXT, masked


def _parsed(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=True)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("the parser wanted more bytes than one whole frame")


# Each length form of a frame's head: 7 bits, 16 bits (126 and up), 64 bits (65,536 and up).
@pytest.mark.parametrize("size", [0, 5, 125, 126, 300, 65_535, 65_536])
def test_a_text_frame_reads_back_as_sent(size: int) -> None:
    payload = os.urandom(size)
    frame = _parsed(masked(TEXT, payload))
    assert frame.opcode == Opcode.TEXT and frame.fin
    assert frame.data == payload


def test_each_frame_has_its_own_mask() -> None:
    payload = b'{"t":"hold"}'
    first, second = masked(TEXT, payload), masked(TEXT, payload)
    assert first != second  # the key differs; both unmask to the payload
    assert _parsed(first).data == _parsed(second).data == payload


def test_a_pong_carries_the_ping_payload() -> None:
    frame = _parsed(masked(PONG, b"ping-1234"))
    assert frame.opcode == Opcode.PONG and frame.data == b"ping-1234"
