"""`fairdrop verify-draw URL` against a running server: true for the real draw,
false once the served order has been tampered with."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import redis

from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack
from tests.reads import zset_scores


def _verify(url: str) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "launch.cli", "verify-draw", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    verdict: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return done.returncode, verdict


def test_the_verifier_needs_neither_redis_nor_numpy() -> None:
    """Anyone can check a draw with the standard library and httpx: importing
    the verifier, in a fresh interpreter, brings in no Redis client and no numpy."""
    check = (
        "import sys, buffer.verify; "
        "print(sorted(m for m in ('redis', 'hiredis', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_verify_draw_command_checks_the_served_order(live_stack: LiveStack) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(drop_at=(now + timedelta(seconds=2)).isoformat())
    draw_url = f"{live_stack.base_url}/api/events/{event['id']}/draw"
    for _ in range(25):
        assert httpx.post(f"{live_stack.base_url}/api/events/{event['id']}/join").status_code == 200

    code, verdict = _verify(draw_url)
    assert code == 1 and verdict["verified"] is False  # before the drop there is nothing to check

    deadline = time.monotonic() + 20
    while not httpx.get(draw_url).json()["drawn"]:
        assert time.monotonic() < deadline, "the clock did not draw in time"
        time.sleep(0.2)
    code, verdict = _verify(draw_url)
    assert (code, verdict["verified"], verdict["entrants"]) == (0, True, 25)

    # Swap two fans' places behind the server's back: the check must notice.
    client = redis.Redis.from_url(live_stack.settings.redis_url or "")
    queue = EventKeys(event["id"]).queue
    by_number = {n: f for f, n in zset_scores(client, queue).items()}
    client.zadd(queue, {by_number[1]: 2, by_number[2]: 1})
    code, verdict = _verify(draw_url)
    assert code == 1 and verdict["verified"] is False
    assert "wrong fan" in str(verdict["reason"])
