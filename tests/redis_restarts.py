"""A live stack whose Redis the tests empty or restart, and what the clock must
have saved before: the API tests (tests/web/test_redis_restart.py) and the
page's (tests/pages/test_redis_restart_page.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer

# The clock looks for lost sales every second; a restored sale is back well within this.
RESTORE_WAIT_S = 15.0


@contextmanager
def restorable_stack(postgres_server: PostgresServer, workdir: Path) -> Iterator[LiveStack]:
    """A stack whose clock counts sales older than a second as lost when Redis lacks them."""
    with running_stack(postgres_server, workdir, restore_grace_seconds=1.0) as stack:
        yield stack


def draw_saved(stack: LiveStack, event_id: str) -> bool:
    with redis.Redis.from_url(str(stack.settings.redis_url)) as live:
        return bool(live.hget(EventKeys(event_id).meta, "draw_saved") == b"1")


def wait_for_saved_draw(stack: LiveStack, event_id: str) -> None:
    """Until the clock has copied the sale's draw to the database (purchase/drawn.py)."""
    deadline = time.monotonic() + RESTORE_WAIT_S
    while not draw_saved(stack, event_id):
        assert time.monotonic() < deadline, f"the clock did not save the draw of {event_id}"
        time.sleep(0.05)
