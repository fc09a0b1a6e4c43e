"""``fairdrop demo --bots N``: a scripted scalper beside the demo's fans.

A scalper on an open sale mints identities: browsers without a cookie, each
a new anonymous entrant. The bots here do what such a script does, against
the real server and its default limits, from a handful of loopback addresses
(127.0.0.2 and up), and count what came of it:

1. a join without a proof of work (the sale must refuse it: 428
   ``proof_of_work_required``);
2. a join replaying a solution already used (403 ``invalid_proof_of_work``);
3. then brute force: fetch a challenge, solve it in Python (altcha's solver,
   ``web.proof_of_work.solve``), join without a cookie; on a 429 wait its
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

Processes: each address is one OS process, forked from a forkserver that
imported this module once, running that address's scripts as asyncio tasks.
A farm's scripts behind one address share its machine; the solves (CPU-bound,
synchronous) stay off the fans' event loop; each process's CPU is its own and
measured exactly (``time.process_time``); and K processes rather than N leave
the machine's cores to the server and the fans. A solve holds up its
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
import math
import multiprocessing
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.synchronize import Event as EventType
from typing import Any
from urllib.parse import urlsplit

import httpx

from fairdrop.tokens import FAN_COOKIE
from launch.demo_fans import (
    CLIENT_TLS,
    PROOF_WORKERS,
    FanOutcome,
    FanProof,
    SimulatedFan,
    fan_proof,
)
from queue_engine.joining import AddressShare
from web.proof_of_work import challenge_path, solve

# The bots keep minting this long after the window closed: a late entrant
# still gets a place, after everyone drawn, as the demo's late fans do.
MINT_AFTER_WINDOW_SECONDS = 2.0
MAX_SESSIONS_PER_SCRIPT = 200
# After an answer that says nothing about when to try again (a 5xx, a 403).
PAUSE_SECONDS = 1.0
# How a script tries again after a 429 (the module docstring).
KEEP = "keep"
FRESH = "fresh"
# A join's status when it gave the entrant a place (join.lua).
PLACED = {"buffered", "queued"}
# 127.0.0.2 .. 127.0.0.251: the fans are on 127.1.x.y, the server on 127.0.0.1.
MAX_ADDRESSES = 250
# How often a bot process looks whether the demo told it to stop.
STOP_POLL_SECONDS = 0.2


def bot_address(index: int) -> str:
    """The ``index``-th bot address: 127.0.0.2, 127.0.0.3, ..."""
    if not 0 <= index < MAX_ADDRESSES:
        raise ValueError(f"bot addresses are 127.0.0.2 to 127.0.0.{MAX_ADDRESSES + 1}")
    return f"127.0.0.{index + 2}"


def allowed_entries(share: AddressShare, opens_at: float, entry_times: list[float]) -> int | None:
    """The most places one address can have had by its last one; None without a share.

    No place is had before the window opens; then ``burst`` at once and one
    more each ``interval``. The times are when the bot read each answer, after
    the server placed it, so the bound can only be generous, never wrong.
    """
    if not share.burst:
        return None
    last = max(entry_times, default=opens_at)
    return share.burst + math.floor(max(0.0, last - opens_at) * 1000 / share.interval_ms)


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
        self.join_path = f"/api/events/{plan.event['id']}/join"
        self.want = int(plan.event["ticket_types"][0]["per_person_limit"])
        # A session whose proof is paid but that has no place yet; a solution not spent.
        self.cookie: str | None = None
        self.altcha: str | None = None
        # The solution the last new session was made with: used up, so a replay.
        self._spent: str | None = None

    async def run(self) -> None:
        transport = httpx.AsyncHTTPTransport(local_address=self.plan.address, verify=CLIENT_TLS)
        async with httpx.AsyncClient(
            base_url=self.plan.base_url, timeout=30, transport=transport
        ) as self.http:
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
        while answer.status != "sold_out" and self.report.sessions < self._max_sessions:
            if answer.status == "not_open":
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

    async def _solve(self) -> str:
        challenge = (await self.http.get(challenge_path(str(self.plan.event["id"])))).json()
        self.report.solves += 1
        return solve(challenge)  # in this process's loop: its CPU is the bot's bill

    async def _join(self, cookie: str | None, altcha: str | None) -> Answer:
        headers = {"Cookie": f"{FAN_COOKIE}={cookie}"} if cookie else {}
        response = await self.http.post(
            self.join_path, json={"altcha": altcha} if altcha else None, headers=headers
        )
        self.http.cookies.clear()  # the Cookie header says who this is
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
        elif answer.status == "invalid_proof_of_work":
            self.altcha = None
        if answer.accepted and answer.status in PLACED:
            self._placed(answer.new_cookie or cookie, drawn=answer.status == "buffered")
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


# Set in each bot process (BotFarm): the demo stopped early, so must its bots.
_STOP: EventType | None = None


def _listen_for_stop(stop: EventType) -> None:
    global _STOP
    _STOP = stop


async def _told_to_stop() -> None:
    while _STOP is None or not _STOP.is_set():
        await asyncio.sleep(STOP_POLL_SECONDS)


def _ready() -> bool:
    return True


def process_pool(workers: int, stop: EventType | None = None) -> ProcessPoolExecutor:
    """Processes forked from a server that imported this module (and with it the
    demo and the web's proof of work) once: a fork costs milliseconds, a fresh
    interpreter's imports about 1.5 s of CPU, which 6 processes would take from
    the fans on a 2-core machine."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    if stop is None:
        return ProcessPoolExecutor(workers, mp_context=context)
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=_listen_for_stop, initargs=(stop,)
    )


class BotFarm:
    """The processes beside the demo's event loop: the bots', one per address (bot j
    on address j mod K), and the pool in which the fans' browsers solve their
    proofs of work (a sale the bots go for asks one of everyone)."""

    def __init__(self, bots: int, addresses: int, share: AddressShare) -> None:
        used = max(1, min(bots, addresses))
        self.addresses = [bot_address(i) for i in range(used)]
        self.scripts = [len(range(i, bots, used)) for i in range(used)]
        self.share = share
        self.stop = multiprocessing.get_context("forkserver").Event()
        self.bots_pool = process_pool(used, self.stop)
        # A fan's browser solves on its own device: here, on all of this machine's cores.
        self.fans_pool = process_pool(PROOF_WORKERS)
        self.running: list[Future[AddressReport]] = []

    def __enter__(self) -> BotFarm:
        return self

    def __exit__(self, failed: type[BaseException] | None, *exc: object) -> None:
        if failed is not None:
            # The demo stopped early: its bots must not run on to their deadline.
            self.stop.set()
        for pool in (self.bots_pool, self.fans_pool):
            pool.shutdown(wait=True, cancel_futures=True)

    def warm_up(self) -> None:
        """Starts the forkserver, and its imports, now: before the sale is made."""
        self.fans_pool.submit(_ready).result()

    def start(self, base_url: str, event: dict[str, Any], deadline: float) -> None:
        """The bots go for the sale, from now (before its window opens) to ``deadline``."""
        opens_at = epoch_of(event["opens_at"])
        mint_until = epoch_of(event["drop_at"]) + MINT_AFTER_WINDOW_SECONDS
        for i, (address, scripts) in enumerate(zip(self.addresses, self.scripts, strict=True)):
            strategy = (KEEP, FRESH)[i % 2]
            plan = AddressPlan(
                base_url, event, address, scripts, strategy, opens_at, mint_until, deadline
            )
            self.running.append(self.bots_pool.submit(run_address, plan))

    def solve_for(self, base_url: str, event_id: str, address: str) -> Future[FanProof]:
        """A fan's proof of work, fetched from its address and solved in the pool."""
        return self.fans_pool.submit(fan_proof, base_url, event_id, address)

    async def reports(self, timeout: float) -> list[AddressReport]:
        """What each address did, once its process has finished (by its deadline)."""
        waiting = asyncio.gather(*(asyncio.wrap_future(f) for f in self.running))
        return list(await asyncio.wait_for(waiting, timeout))

    def figures(
        self,
        reports: list[AddressReport],
        event: dict[str, Any],
        stats: dict[str, Any],
        fan_tickets: int,
    ) -> dict[str, Any]:
        return bot_figures(reports, self.share, event, stats, fan_tickets)


# The target: the bots end with at most this share of the sale's tickets.
TARGET_SHARE = 0.05


def _per_entry(cpu_s: float, entries: int) -> float | None:
    return round(cpu_s / entries, 3) if entries else None


def _strategies(reports: list[AddressReport]) -> dict[str, dict[str, Any]]:
    """The two ways of trying again, side by side: what each cost per place."""
    figures: dict[str, dict[str, Any]] = {}
    for strategy in (KEEP, FRESH):
        mine = [r for r in reports if r.strategy == strategy]
        if mine:
            entries = sum(len(r.entry_times) for r in mine)
            figures[strategy] = {
                "addresses": len(mine),
                "bots": sum(r.scripts for r in mine),
                "solves": sum(r.solves for r in mine),
                "sessions": sum(r.sessions for r in mine),
                "entries": entries,
                "cpu_s_per_entry": _per_entry(sum(r.cpu_s for r in mine), entries),
            }
    return figures


def bot_figures(
    reports: list[AddressReport],
    share: AddressShare,
    event: dict[str, Any],
    stats: dict[str, Any],
    fan_tickets: int,
) -> dict[str, Any]:
    """The summary's bot figures: what the bots got, within their addresses' share or not.

    ``event`` as the organiser API made it, ``stats`` as it tells them at the end.
    """
    opens_at = epoch_of(event["opens_at"])
    tickets = sum(int(t["stock"]) for t in event["ticket_types"])
    entries = {r.address: len(r.entry_times) for r in reports}
    allowed = {r.address: allowed_entries(share, opens_at, r.entry_times) for r in reports}
    bot_entries = sum(entries.values())
    in_draw = sum(r.drawn_entries for r in reports)
    bot_tickets = sum(o.tickets for r in reports for o in r.outcomes)
    cpu_s = sum(r.cpu_s for r in reports)
    sold = int(stats["sold"])
    return {
        "bots": sum(r.scripts for r in reports),
        "bot_addresses": len(reports),
        "bot_sessions": sum(r.sessions for r in reports),
        "bot_solves": sum(r.solves for r in reports),
        "bot_entries": bot_entries,
        "bot_entries_by_address": entries,
        "bot_entries_allowed_by_address": allowed,
        "bot_entries_within_limit": all(
            limit is None or entries[address] <= limit for address, limit in allowed.items()
        ),
        # The bots' places among those drawn: the ticket share the defaults control.
        "bot_entries_in_draw": in_draw,
        "bot_draw_share": round(in_draw / max(1, int(stats["entrants"])), 4),
        "bot_refusals": dict(sorted(sum((r.refusals for r in reports), Counter()).items())),
        "bot_proof_bypassed": sum(r.proof_bypassed for r in reports),
        "bot_tickets": bot_tickets,
        "fan_tickets": fan_tickets,
        "bot_ticket_share": round(bot_tickets / sold, 4) if sold else 0.0,
        "bots_within_target": bot_tickets <= TARGET_SHARE * tickets,
        "tickets_accounted": bot_tickets + fan_tickets == sold,
        "bot_cpu_s": round(cpu_s, 3),
        "bot_cpu_s_per_entry": _per_entry(cpu_s, bot_entries),
        "bot_strategies": _strategies(reports),
        "bots_unfinished": sum(r.unfinished for r in reports),
        "bot_errors": sum(len(r.errors) + sum(len(o.errors) for o in r.outcomes) for r in reports),
    }
