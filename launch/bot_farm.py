"""The processes beside the demo's event loop for ``fairdrop demo --bots``, and the
bots' figures.

Each bot address is one OS process (launch/demo_bots.py runs its scripts), and
the fans' browsers solve their proofs of work in a pool of their own: both are
forked from a forkserver that imported this module, and with it the bots, the
demo's fans and the fan client, once. The figures say what the bots got, and
whether each address stayed within its share of places.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.synchronize import Event as EventType
from typing import Any

from buffer.arrivals import AddressShare
from launch.demo_bots import (
    FRESH,
    KEEP,
    MINT_AFTER_WINDOW_SECONDS,
    AddressPlan,
    AddressReport,
    bot_address,
    epoch_of,
    listen_for_stop,
    run_address,
)
from launch.demo_fans import PROOF_WORKERS, FanProof, fan_proof


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


def _ready() -> bool:
    return True


def process_pool(workers: int, stop: EventType | None = None) -> ProcessPoolExecutor:
    """Processes forked from a server that imported this module (and with it the
    bots, the demo's fans and the fan client) once: a fork costs milliseconds, a fresh
    interpreter's imports about 1.5 s of CPU, which 6 processes would take from
    the fans on a 2-core machine."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    if stop is None:
        return ProcessPoolExecutor(workers, mp_context=context)
    return ProcessPoolExecutor(
        workers, mp_context=context, initializer=listen_for_stop, initargs=(stop,)
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
