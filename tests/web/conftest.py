from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.live_stack import LiveStack
from tests.web.fans import Crowd


@pytest.fixture
async def crowd(live_stack: LiveStack) -> AsyncIterator[Crowd]:
    """Fans for one test; their sockets are closed when it ends."""
    fans = Crowd(live_stack)
    try:
        yield fans
    finally:
        await fans.close()
