"""``fairdrop demo``: a whole drop with simulated fans on real websockets.

It starts the real processes (launch.stack), creates an event through the
organiser API, sends fans through the fan API and websockets like browsers
would, and checks the outcome from outside: sold, oversold, admission order,
and the draw recomputed by the same check as ``fairdrop verify-draw``.

With ``payments="localstripe"`` the fans pay through the real ``stripe``
library against localstripe on loopback, as Stripe.js would on their pages,
and a share of them pays only after their hold ended, on purpose: each of
those must end with tickets (still free) or with a refund.

With ``access`` other than "open" every fan signs in first, the way the
sale asks (launch/demo_access.py), and the summary says whether each
identity was one entrant with one place, whatever device it came back on.

With ``bots`` a scripted scalper goes for the sale beside the fans
(launch/demo_bots.py). The sale then asks the server's default proof of
work of every new entrant, so each fan's browser solves one too: on its own
device on the night, here in processes beside this event loop, while the
sale's page is open before the window (``POW_LEAD_SECONDS``).
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from buffer.arrivals import NO_SHARE, AddressShare, entrant_share
from fairdrop.protocol import FanState
from fairdrop.settings import Settings
from launch.bot_farm import BotFarm
from launch.chaos import Chaos, ChaosPlan, chaos_stack
from launch.chaos_fans import ChaosFan
from launch.demo_access import (
    Doorway,
    Entry,
    access_servers,
    identity_figures,
    outsiders_refused,
    second_devices,
)
from launch.demo_browser import browser_fan
from launch.demo_discounts import discount_figures, hand_out_code
from launch.demo_draw import draw_figures
from launch.demo_event import create_demo_event
from launch.demo_fans import (
    PROOF_WORKERS,
    FanOutcome,
    SimulatedFan,
    StripePayer,
    fan_address,
    proof_figures,
)
from launch.demo_metrics import metrics_figures
from launch.demo_payments import count_orders, payment_figures, with_localstripe
from launch.demo_resale import DemoResale, resale_figures
from launch.demo_round import ROUND_SETTINGS, round_figures
from launch.demo_steer import rate_change_figures, turn_up_the_rate
from launch.demo_stream import check_in_some, stream_figures
from launch.localstripe_server import (
    register_webhook,
    running_localstripe,
    stripe_client,
)
from launch.stack import Stack

# Short holds, so the late payers' holds end within the demo (5 s is the least allowed).
LOCALSTRIPE_HOLD_SECONDS = 8
LOCALSTRIPE_LATE_PAYERS = 0.15
# A list sale's window opens this long after it is made: the organiser imports
# the list and fans open their personal links (about 1 ms each) meanwhile.
LIST_LEAD_SECONDS = 2.0
# A sale the bots go for opens this long after it is made, and longer by the
# fans' proofs of work: their pages fetch and solve them meanwhile (each on its
# own device on the night; here, in PROOF_WORKERS processes, each fetch and
# solve costs about FAN_PROOF_CPU_S of a core at the default difficulty), and
# the bots start.
POW_LEAD_SECONDS = 2.0
FAN_PROOF_CPU_S = 0.035


@dataclass(frozen=True)
class DemoPlan:
    fans: int
    tickets: int
    window_seconds: float = 3.0
    late_share: float = 0.1
    workers: int = 2
    rate_per_min: int = 6_000
    cap: int = 50
    hold_seconds: int = 20
    per_person_limit: int = 2
    deadline_seconds: float = 90.0
    seed: int | None = None
    # "local": the instant local provider; "localstripe": see the module docstring.
    payments: str = "local"
    # With localstripe: the share of the paying fans who pay after their hold ended.
    late_payers: float = 0.0
    # Who may enter (fairdrop/identity.py ACCESS_POLICIES) and how fans sign in.
    access: str = "open"
    # The share of identities that come back on a second device.
    second_devices: float = 0.1
    # Browsers nobody signed in that try to join a sale asking who they are.
    outsiders: int = 5
    # Scalper scripts beside the fans (launch/demo_bots.py), and their addresses.
    bots: int = 0
    bot_addresses: int = 4
    # One more fan on the real fan page in headless Chromium (launch/demo_browser.py).
    browser: bool = False
    web_processes: int = 1  # above one, behind nginx
    # Every fault of launch/chaos.py during the drop, its fans as patient as the page.
    chaos: ChaosPlan | None = None
    # Fans who put a ticket back mid-sale (launch/demo_resale.py), and new fans at an
    # after-sale resale round (launch/demo_round.py): open sales without bots or chaos.
    resellers: int = 0
    round_fans: int = 0


async def _access_figures(
    doorway: Doorway, http: httpx.AsyncClient, plan: DemoPlan, fans: list[SimulatedFan]
) -> dict[str, Any]:
    """Who got in how: identities, entrants, second devices and refused outsiders."""
    joined = [(who, fan) for who, fan in enumerate(fans) if fan.outcome.entrant_id]
    every = max(1, round(1 / plan.second_devices)) if plan.second_devices else 0
    cookies = {who: fan.cookie for who, fan in joined[::every]} if every else {}
    first, again = await second_devices(doorway, http, cookies)
    entries = [Entry(who, fan.outcome.entrant_id, fan.outcome.number) for who, fan in joined]
    return {
        "access": doorway.policy,
        **identity_figures([*entries, *first], again, first),
        "outsiders": plan.outsiders if doorway.policy != "open" else 0,
        "outsiders_refused": await outsiders_refused(doorway, http, plan.outsiders),
    }


def admitted_in_order(outcomes: list[FanOutcome], serving: int) -> bool:
    """Nobody was let in before someone with a lower number (invariant 4).

    Admission time is the server's own (the admission deadline minus the hold
    time, equal for everyone), so a lower number must never have a later one;
    and every number up to the final serving counter must have been let in.
    """
    admitted = sorted(
        (o.number, o.admitted_deadline_ms) for o in outcomes if o.admitted_deadline_ms
    )
    times = [t for _, t in admitted]
    numbers = {n for n, _ in admitted}
    waiting_fans = {o.number for o in outcomes if o.number and not o.admitted_deadline_ms}
    return (
        times == sorted(times)
        and all(n <= serving for n in numbers)
        and all(n > serving for n in waiting_fans)
    )


async def simulate_drop(
    base_url: str,
    token: str,
    plan: DemoPlan,
    payer: StripePayer | None = None,
    doorway: Doorway | None = None,
    share: AddressShare = NO_SHARE,
    chaos: Chaos | None = None,
) -> dict[str, Any]:
    """Runs one drop against a running fairdrop and returns its figures.

    ``payer``: the fans pay through Stripe with it (the stack must take Stripe
    payments); without it the stack's payments must complete by themselves.
    ``doorway``: how fans sign in for the plan's access policy (its servers
    running); none for an open sale. ``share``: each address's share of new
    entrants, as the server's settings make it; the bots' places are checked
    against it.
    """
    if not plan.bots:
        return await _drop(base_url, token, plan, payer, doorway, chaos=chaos)
    # Imported only when asked for: the bots build on this module's fans.

    with BotFarm(plan.bots, plan.bot_addresses, share) as farm:
        await asyncio.to_thread(farm.warm_up)
        return await _drop(base_url, token, plan, payer, doorway, farm)


def _lead_seconds(plan: DemoPlan) -> float:
    """How long after it is made the sale's window opens."""
    if plan.access == "list":
        return LIST_LEAD_SECONDS
    if plan.bots:
        # Fans who arrive in the window come with their proof solved, as they would.
        return POW_LEAD_SECONDS + plan.fans * FAN_PROOF_CPU_S / PROOF_WORKERS
    return 0.0


def _resale_runs(plan: DemoPlan, chaos: Chaos | None) -> bool:
    """Resale (mid-sale, and after-sale rounds) runs on an open sale without bots or chaos."""
    return plan.access == "open" and not (plan.bots or chaos)


async def _drop(
    base_url: str,
    token: str,
    plan: DemoPlan,
    payer: StripePayer | None,
    doorway: Doorway | None,
    farm: BotFarm | None = None,
    chaos: Chaos | None = None,
) -> dict[str, Any]:
    doorway = doorway or Doorway("open")
    doorway.base_url = base_url
    rng = random.Random(plan.seed)
    late = round(plan.fans * plan.late_share)
    lead = _lead_seconds(plan)
    # Fans sign in before the window opens, as they would on the night: with an
    # email or a login before the sale even exists, with a personal link once
    # the organiser has imported the list.
    signing_in = time.monotonic()
    cookies = await doorway.sign_in_all(plan.fans) if plan.access in {"email", "login"} else []
    event = await create_demo_event(
        base_url,
        token,
        tickets=plan.tickets,
        window_seconds=plan.window_seconds,
        rate_per_min=plan.rate_per_min,
        cap=plan.cap,
        hold_seconds=plan.hold_seconds,
        per_person_limit=plan.per_person_limit,
        access=plan.access,
        opens_in_seconds=lead,
        # The simulated fans are measured on the queue, not on the proof of work
        # (loadtests/pow_bench.py measures that): no proof. A person's browser
        # on the demo's own sale (`fairdrop demo` without --fans) solves the
        # default, and so does everyone on a sale the bots go for.
        pow_difficulty=None if farm else 0,
    )
    doorway.event_id = str(event["id"])
    if chaos is not None:
        chaos.begin(event)
    if farm is not None:
        farm.start(base_url, event, deadline=time.time() + plan.deadline_seconds)
    started = time.monotonic() + lead
    arrivals = [
        started + rng.uniform(0.1, plan.window_seconds - 0.4) for _ in range(plan.fans - late)
    ]
    arrivals += [started + plan.window_seconds + rng.uniform(0.3, 1.5) for _ in range(late)]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        await doorway.open_event(http, token, plan.fans)
        if plan.access == "list":
            cookies = await doorway.sign_in_all(plan.fans)
        sign_in_seconds = time.monotonic() - signing_in
        fans = [
            (ChaosFan if chaos else SimulatedFan)(
                base_url,
                event,
                rng.choice([1, 2]),
                payer,
                cookies[who] if cookies else None,
                fan_address(who),
            )
            for who in range(len(arrivals))
        ]
        await hand_out_code(http, token, doorway.event_id, fans)
        if farm is not None:
            # Solved in the order the fans arrive, so the first to come are ready first.
            for fan, _ in sorted(zip(fans, arrivals, strict=True), key=lambda pair: pair[1]):
                fan.proof = farm.solve_for(base_url, doorway.event_id, fan.address)
        tasks = [asyncio.create_task(fan.run(at)) for fan, at in zip(fans, arrivals, strict=True)]
        steering = asyncio.create_task(
            turn_up_the_rate(
                http, token, doorway.event_id, plan.rate_per_min, started + plan.deadline_seconds
            )
        )
        browser_check = None
        if plan.browser:
            browser_check = asyncio.create_task(
                browser_fan(base_url, event["id"], plan.deadline_seconds)
            )
        sellers = plan.resellers if _resale_runs(plan, chaos) else 0
        reselling = DemoResale(base_url, event, fans, sellers, payer, plan.deadline_seconds)
        _, pending = await asyncio.wait(tasks, timeout=plan.deadline_seconds)
        for task in [*pending, steering]:
            task.cancel()
        fans += await reselling.finish()
        if chaos is not None:
            await chaos.settle()  # every fault over before the sale's figures are read
        # The bots stop by the same deadline; their tickets are in the stats below.
        bot_reports = await farm.reports(plan.deadline_seconds) if farm is not None else []
        access = await _access_figures(doorway, http, plan, fans)
        if plan.access != "open":
            access["sign_in_seconds"] = round(sign_in_seconds, 2)
        headers = {"Authorization": f"Bearer {token}"}
        stats = (await http.get(f"/api/events/{event['id']}/stats", headers=headers)).json()
        steered = await rate_change_figures(http, token, doorway.event_id)
    outcomes = [fan.outcome for fan in fans]
    bot_outcomes = [o for report in bot_reports for o in report.outcomes]
    receipts = [o.receipt for o in outcomes if o.receipt]
    draw = await draw_figures(base_url, event["id"], receipts)
    stock = stats["stock_by_type"]
    oversold = sum(
        max(0, stats["sold_by_type"][t] + stats["held_by_type"][t] - stock[t]) for t in stock
    )
    summary: dict[str, Any] = {
        "fans": plan.fans,
        "tickets": plan.tickets,
        "sold": stats["sold"],
        "oversold": oversold,
        "admitted_in_order": admitted_in_order(outcomes + bot_outcomes, int(stats["serving"])),
        **draw,
        "browser_verified": await browser_check if browser_check else None,
        "event_id": event["id"],
        "entrants_drawn": stats["entrants"],
        "late_joiners": stats["last_number"] - stats["entrants"],
        # Fans who arrived once everything was sold get no number, only "sold out".
        "joined_after_sold_out": sum(
            1 for o in outcomes if o.number == 0 and o.final_state == FanState.SOLD_OUT
        ),
        "admitted": stats["serving"],
        "fans_with_tickets": sum(1 for o in outcomes if o.tickets),
        "tickets_received": sum(o.tickets for o in outcomes),
        "fans_unfinished": len(pending),
        "fan_errors": sum(len(o.errors) for o in outcomes),
        **FanOutcome.admitted_found_empty(outcomes, int(stats["serving"])),
        **access,
        **steered,
    }
    # One place per identity, on the server's side too: no more queue places than
    # people (and the bots' identities, each of which had to be placed).
    bot_entries = sum(len(report.entry_times) for report in bot_reports)
    summary["places_within_identities"] = (
        stats["last_number"] <= summary["identities"] + bot_entries + plan.browser
    )
    if payer is not None:
        paid_late = [o for o in outcomes if o.pays_late]
        summary["late_payers"] = len(paid_late)
        # Their orders must say late: they paid after the hold ended.
        summary["late_paid"] = sum(1 for o in paid_late if o.tickets and o.late_order)
        summary["late_refunded"] = sum(1 for o in paid_late if o.refunded)
    if chaos is not None:
        summary.update(await chaos.figures([f for f in fans if isinstance(f, ChaosFan)], stats))
    if farm is not None:
        summary.update(proof_figures(fans))
        summary.update(farm.figures(bot_reports, event, stats, summary["tickets_received"]))
    return summary


def run_demo(settings: Settings, plan: DemoPlan) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fairdrop-demo-") as tmp, ExitStack() as servers:
        demo_settings = settings.with_overrides(data_dir=Path(tmp), port=0, **ROUND_SETTINGS)
        client = None
        if plan.payments == "localstripe":
            api_base = servers.enter_context(running_localstripe(Path(tmp) / "localstripe.log"))
            demo_settings = with_localstripe(demo_settings, api_base)
            client = stripe_client(api_base, demo_settings.stripe_secret_key)
        demo_settings, doorway = servers.enter_context(
            access_servers(plan.access, demo_settings, Path(tmp))
        )
        chaos = None
        if plan.chaos is None:
            stack = Stack(demo_settings, workers=plan.workers, web_processes=plan.web_processes)
            servers.enter_context(stack)
        else:
            layout = (plan.chaos, plan.workers, plan.web_processes)
            stack, chaos = servers.enter_context(chaos_stack(demo_settings, *layout))
        payer = None
        if client is not None:
            s = stack.settings
            register_webhook(s.stripe_api_base, stack.base_url, s.stripe_webhook_secret)
            payer = StripePayer(client, plan.late_payers)
        share = entrant_share(stack.settings)
        summary = asyncio.run(
            simulate_drop(
                stack.base_url, stack.settings.organiser_token, plan, payer, doorway, share, chaos
            )
        )
        summary["checked_in"] = asyncio.run(
            check_in_some(stack.base_url, stack.settings.organiser_token, summary["event_id"])
        )
        summary.update(count_orders(stack.settings, summary["event_id"]), **stack.topology())
        summary.update(resale_figures(stack.settings, summary["event_id"]))
        summary.update(metrics_figures(stack.settings, stack.base_url, summary))
        if client is not None:
            summary.update(payment_figures(stack.settings, client, summary))
        summary.update(discount_figures(stack.settings, summary["event_id"], client))
        # A chaos drop killed a Redis master: the sale is read from the live nodes.
        reads = chaos.reads() if chaos is not None else stack.settings
        summary.update(stream_figures(reads, summary["event_id"], summary.get("resold")))
        if _resale_runs(plan, chaos):  # last: its own sale's payments and metrics come on top
            round_plan = (plan.round_fans, plan.fans, plan.deadline_seconds)
            summary.update(asyncio.run(round_figures(stack, payer, *round_plan)))
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary
