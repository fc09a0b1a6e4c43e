"""``fairdrop demo --bots N``: a scripted scalper beside the demo's fans.

A scalper on an open sale mints identities: browsers without a cookie, each
a new anonymous entrant. The bots here do what such a script does, against
the real server and its default limits, from a handful of loopback addresses
(127.0.0.2 and up), and count what came of it:

1. a join without a proof of work (the sale must refuse it: 428
   ``proof_of_work_required``);
2. a join replaying a solution already used (403 ``invalid_proof_of_work``);
3. then brute force: fetch a challenge, solve it in Python (altcha's solver,
   ``launch.fan_client.solve``), join without a cookie; on a 429 wait its
   ``Retry-After`` and try again. From before the window opens (a join then
   only makes a session) until a little after it closed. Each identity that
   gets a place opens its socket and, once admitted, holds the per-person
   maximum and pays straight over HTTP, through the same ``SimulatedFan`` the
   fans use.

Two ways to try again after a 429 are compared, one per address, alternating.
``keep``: rejoin with the session (cookie) an earlier join made, or with the
solution a refusal left unspent (the address's share is checked before the
proof), so each place costs about one solve. ``fresh``: a new challenge solved
for every try, as a script that keeps nothing would.

Processes (launch/bot_farm.py, with the figures): each address is one OS
process, forked from a forkserver that imported this module once, running
that address's scripts as asyncio tasks. A farm's scripts behind one address
share its machine; the solves (CPU-bound, synchronous) stay off the fans'
event loop; each process's CPU is its own and measured exactly
(``time.process_time``); and K processes rather than N leave the machine's
cores to the server and the fans. A solve holds up its
process's other scripts for its 10-30 ms, which costs them nothing: the
address's share of places (one every 6 s by default), not the CPU (one core
solves about 40 a second), is what paces them.

Bounded: each script makes at most ``MAX_SESSIONS_PER_SCRIPT`` sessions and
stops minting a little after the window closed, everything stops at the
demo's deadline, and only loopback addresses are spoken from or to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.synchronize import Event as EventType
from typing import Any
from urllib.parse import urlsplit

import httpx

from fairdrop.errors import ErrorCode
from fairdrop.protocol import PLACED, EntryStatus
from fairdrop.tokens import FAN_COOKIE
from launch.demo_fans import FanOutcome, SimulatedFan
from launch.fan_client import FanClient, http_client
from launch.fan_proof import solve

# The bots keep minting this long after the window closed: a late entrant
# still gets a place, after everyone drawn, as the demo's late fans do.
MINT_AFTER_WINDOW_SECONDS = 2.0
MAX_SESSIONS_PER_SCRIPT = 200
# After an answer that says nothing about when to try again (a 5xx, a 403).
PAUSE_SECONDS = 1.0
# How a script tries again after a 429 (the module docstring).
KEEP = "keep"
FRESH = "fresh"
# 127.0.0.2 .. 127.0.0.251: the fans are on 127.1.x.y, the server on 127.0.0.1.
MAX_ADDRESSES = 250
# How often a bot process looks whether the demo told it to stop.
STOP_POLL_SECONDS = 0.2


def bot_address(index: int) -> str:
    """The ``index``-th bot address: 127.0.0.2, 127.0.0.3, ..."""
    if not 0 <= index < MAX_ADDRESSES:
        raise ValueError(f"bot addresses are 127.0.0.2 to 127.0.0.{MAX_ADDRESSES + 1}")
    return f"127.0.0.{index + 2}"


def epoch_of(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass(frozen=True)
class AddressPlan:
    """What one bot process does: the scripts of one address, and when (epoch seconds)."""

    base_url: str
    event: dict[str, Any]
    address: str
    scripts: int
    strategy: str
    opens_at: float  # the window opens: places can be had from now
    mint_until: float  # no new identity is tried for after this
    deadline: float  # everything stops

    def __post_init__(self) -> None:
        host = urlsplit(self.base_url).hostname or ""
        if not all(ipaddress.ip_address(a).is_loopback for a in (self.address, host)):
            raise ValueError("the demo's bots speak only from and to loopback addresses")


@dataclass
class AddressReport:
    """What one address's scripts did and got."""

    address: str
    strategy: str
    scripts: int
    sessions: int = 0  # answers that set a new session cookie
    solves: int = 0
    entry_times: list[float] = field(default_factory=list)  # epoch s, one per place
    drawn_entries: int = 0  # places in the buffer, before the draw
    refusals: Counter[str] = field(default_factory=Counter)
    # Joins without a proof, or with a used one, that the sale did not refuse.
    proof_bypassed: int = 0
    outcomes: list[FanOutcome] = field(default_factory=list)
    unfinished: int = 0
    errors: list[str] = field(default_factory=list)
    cpu_s: float = 0.0


@dataclass(frozen=True)
class Answer:
    """What a join said: the entry's status, or the refusal's code."""

    http_status: int
    status: str
    retry_after_s: float
    new_cookie: str | None

    @property
    def accepted(self) -> bool:
        return self.http_status < 300


class BotScript:
    """One scalper script: identities, one after another, each as soon as the sale
    will place it; every one placed is followed by a ``SimulatedFan``."""

    def __init__(
        self, plan: AddressPlan, report: AddressReport, followers: list[asyncio.Task[FanOutcome]]
    ) -> None:
        self.plan = plan
        self.report = report
        self.followers = followers
        self.want = int(plan.event["ticket_types"][0]["per_person_limit"])
        # A session whose proof is paid but that has no place yet; a solution not spent.
        self.cookie: str | None = None
        self.altcha: str | None = None
        # The solution the last new session was made with: used up, so a replay.
        self._spent: str | None = None

    async def run(self) -> None:
        async with http_client(self.plan.base_url, self.plan.address) as self.http:
            await self._probe(None)  # no proof at all
            answer = await self._try_for_a_place()
            if answer.new_cookie:
                await self._probe(self._spent)  # the proof that answer used up
            await self._mint(answer)

    async def _probe(self, altcha: str | None) -> None:
        """A join the sale must refuse: without a proof, or with one used already."""
        if (await self._join(None, altcha)).accepted:
            self.report.proof_bypassed += 1

    async def _mint(self, answer: Answer) -> None:
        while answer.status != EntryStatus.SOLD_OUT and self.report.sessions < self._max_sessions:
            if answer.status == EntryStatus.NOT_OPEN:
                pause = self.plan.opens_at - time.time()
            elif answer.status in PLACED:
                pause = 0.0
            elif answer.http_status == 429:
                pause = answer.retry_after_s
            else:
                pause = PAUSE_SECONDS
            if time.time() + pause >= self.plan.mint_until:
                return
            await asyncio.sleep(pause)
            answer = await self._try_for_a_place()

    @property
    def _max_sessions(self) -> int:
        """The address's scripts count their sessions together, in its report."""
        return MAX_SESSIONS_PER_SCRIPT * self.plan.scripts

    async def _try_for_a_place(self) -> Answer:
        if self.cookie is not None and self.plan.strategy == KEEP:
            return await self._join(self.cookie, None)
        if self.altcha is None or self.plan.strategy == FRESH:
            self.altcha = await self._solve()
        return await self._join(None, self.altcha)

    def _as(self, cookie: str | None) -> FanClient:
        """The calls of a browser with this session (None: a browser without one)."""
        event_id = str(self.plan.event["id"])
        return FanClient(self.plan.base_url, event_id, cookie or "", http=self.http)

    async def _solve(self) -> str:
        challenge = await self._as(None).challenge()
        self.report.solves += 1
        return solve(challenge)  # in this process's loop: its CPU is the bot's bill

    async def _join(self, cookie: str | None, altcha: str | None) -> Answer:
        response = await self._as(cookie).post_join(altcha)
        answer = Answer(
            response.status_code,
            _status_of(response),
            float(response.headers.get("Retry-After") or PAUSE_SECONDS),
            response.cookies.get(FAN_COOKIE),
        )
        if not answer.accepted:
            self.report.refusals[answer.status] += 1
        if answer.new_cookie:
            # A new session: its proof is spent, and it waits for a place.
            self.report.sessions += 1
            self._spent, self.altcha, self.cookie = altcha, None, answer.new_cookie
        elif answer.status == ErrorCode.INVALID_PROOF_OF_WORK:
            self.altcha = None
        if answer.accepted and answer.status in PLACED:
            self._placed(answer.new_cookie or cookie, drawn=answer.status == EntryStatus.BUFFERED)
        return answer

    def _placed(self, cookie: str | None, drawn: bool) -> None:
        assert cookie is not None  # a place is always a session's
        self.report.entry_times.append(time.time())
        self.report.drawn_entries += drawn
        if cookie == self.cookie:
            self.cookie = None
        fan = SimulatedFan(
            self.plan.base_url, self.plan.event, self.want, cookie=cookie, address=self.plan.address
        )
        self.followers.append(asyncio.create_task(fan.run(time.monotonic())))


def _status_of(response: httpx.Response) -> str:
    """A join's entry status, or its error's code (``http_<status>`` if the body has none)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"http_{response.status_code}"
    if response.is_success:
        return str(body.get("status"))
    error = body.get("error")
    return str(error.get("code")) if isinstance(error, dict) else f"http_{response.status_code}"


def run_address(plan: AddressPlan) -> AddressReport:
    """One bot process: the address's scripts until the deadline; what they did and got."""
    started = time.process_time()
    report = asyncio.run(_run_address(plan))
    report.cpu_s = time.process_time() - started
    return report


async def _run_address(plan: AddressPlan) -> AddressReport:
    report = AddressReport(plan.address, plan.strategy, plan.scripts)
    followers: list[asyncio.Task[FanOutcome]] = []
    minting = [
        asyncio.create_task(BotScript(plan, report, followers).run()) for _ in range(plan.scripts)
    ]
    await _until(minting, plan.deadline, report)
    # Followers are added while the scripts mint: wait for them only now.
    await _until(followers, plan.deadline, report)
    report.unfinished = sum(1 for task in followers if task.cancelled())
    report.outcomes = [
        task.result() for task in followers if not task.cancelled() and not task.exception()
    ]
    return report


async def _until(tasks: list[asyncio.Task[Any]], deadline: float, report: AddressReport) -> None:
    """Waits for the tasks until the deadline, or the demo says stop; cancels the rest.

    Their failures go in the report.
    """
    if not tasks:
        return
    everything: asyncio.Future[Any] = asyncio.gather(*tasks, return_exceptions=True)
    stop: asyncio.Future[Any] = asyncio.create_task(_told_to_stop())
    await asyncio.wait(
        [everything, stop], timeout=max(0.0, deadline - time.time()), return_when="FIRST_COMPLETED"
    )
    stop.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            report.errors.append(f"{type(task.exception()).__name__}: {task.exception()}")


# Set in each bot process (launch/bot_farm.py): the demo stopped early, so must its bots.
_STOP: EventType | None = None


def listen_for_stop(stop: EventType) -> None:
    global _STOP
    _STOP = stop


async def _told_to_stop() -> None:
    while _STOP is None or not _STOP.is_set():
        await asyncio.sleep(STOP_POLL_SECONDS)
