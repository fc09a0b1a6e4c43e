"""The clock killed mid-admission with a second clock running (issue 14's
faults): admission goes on from the survivor, no queue number is skipped or
let in twice, and waiting fans keep hearing heartbeats.

Its own module: the test kills its stack's clock, which no other test may share.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from launch.processes import stop_processes
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, Message, Socket, stats, ticket_type

FANS = 24
# 5 a second: the admissions span several seconds, so the kill lands mid-way.
RATE_PER_MIN = 300
# The stack's heartbeat is 1 s (tests/live_stack.py); a fan's page calls the
# connection lost after far longer, and a clock step is 0.2 s.
LONGEST_SILENCE_S = 2.5


@dataclass
class Watched:
    """What one fan's socket heard: each message with the loop time it arrived."""

    socket: Socket
    heard: list[tuple[float, Message]] = field(default_factory=list)

    def number(self) -> int:
        return max(int(m.get("number") or 0) for _, m in self.heard if m.get("t") == "status")

    def admitted_at(self) -> float | None:
        for at, message in self.heard:
            if message.get("t") == "status" and message.get("state") == "admitted":
                return at
        return None

    def admissions(self) -> set[str]:
        """Each distinct admission token this fan was given."""
        return {
            str(m["admission"]["token"])
            for _, m in self.heard
            if m.get("t") == "status" and m.get("admission")
        }

    async def listen(self, until: float) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < until:
            try:
                message = await self.socket.next(timeout=until - loop.time())
            except AssertionError:  # nothing more before ``until``
                return
            self.heard.append((loop.time(), message))


@pytest.fixture
def second_clock(live_stack: LiveStack) -> Iterator[subprocess.Popen[bytes]]:
    """Another clock process on the stack's Redis and database, as a failover pair runs."""
    log = (live_stack.settings.data_dir / "logs" / "clock-2.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "launch.cli", "clock"],
        env={**os.environ, **live_stack.settings.as_env()},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        stop_processes([process])
        log.close()


async def test_killing_one_of_two_clocks_skips_nobody_and_lets_nobody_in_twice(
    live_stack: LiveStack, crowd: Crowd, second_clock: subprocess.Popen[bytes]
) -> None:
    now = datetime.now(UTC)
    event_id = live_stack.create_event(
        opens_at=(now - timedelta(seconds=1)).isoformat(),
        drop_at=(now + timedelta(seconds=2)).isoformat(),
        rate_per_min=RATE_PER_MIN,
        cap=FANS,
        # Enough that the tickets left never hold admission back (tick.lua).
        ticket_types=[ticket_type(stock=10 * FANS)],
    )["id"]
    fans = [crowd.fan(event_id) for _ in range(FANS)]
    await asyncio.gather(*(fan.join() for fan in fans))
    watched = [Watched(await fan.open_socket()) for fan in fans]
    loop = asyncio.get_running_loop()
    # Long enough for every admission at the rate, with the draw before them.
    until = loop.time() + 4 + FANS * 60 / RATE_PER_MIN + 6
    listening = asyncio.gather(*(w.listen(until) for w in watched))

    # Kill the stack's clock once a few fans are in and most still wait.
    while stats(live_stack, event_id).get("serving", 0) < 4:
        assert loop.time() < until, "admission never started"
        await asyncio.sleep(0.1)
    clock = live_stack.stack.processes["clock"]
    clock.send_signal(signal.SIGKILL)
    killed_at = loop.time()
    clock.wait(timeout=5)
    assert second_clock.poll() is None, "the second clock must outlive the first"
    await listening

    numbers = sorted(w.number() for w in watched)
    assert numbers == list(range(1, FANS + 1)), numbers
    # Every fan let in, each once, and no later number before an earlier one
    # by more than a clock step (a step admits a batch at once).
    admitted = sorted((w.number(), w.admitted_at()) for w in watched)
    missing = [n for n, at in admitted if at is None]
    assert not missing, f"never admitted after the kill: {missing}"
    times = [at for _, at in admitted if at is not None]
    assert all(later >= earlier - 0.3 for earlier, later in itertools.pairwise(times)), admitted
    assert all(len(w.admissions()) == 1 for w in watched)
    assert any(at > killed_at for at in times), "the kill came after everyone was in"
    assert stats(live_stack, event_id)["serving"] == FANS

    # Fans still waiting when the clock died heard something at least every
    # LONGEST_SILENCE_S until they were let in.
    for w in watched:
        admitted_at = w.admitted_at()
        assert admitted_at is not None
        heard = [at for at, _ in w.heard if killed_at - 1 <= at <= admitted_at]
        gaps = [b - a for a, b in itertools.pairwise(heard)]
        assert max(gaps, default=0.0) < LONGEST_SILENCE_S, (w.number(), gaps)
