"""The ``fairdrop`` command.

fairdrop --version | -V           the installed package's version
fairdrop web | worker | clock     one Procfile process (needs REDIS_URL)
fairdrop run [--host H] [--port P]  everything on the embedded default, until Ctrl-C
fairdrop demo [--host H] [--port P]    a live demo event, until Ctrl-C; or a whole drop:
fairdrop demo [--fans N --tickets T] [--payments local|localstripe [--late-payers SHARE]]
              [--access open|email|login|list] [--bots N [--bot-addresses K]] [--browser]
              [--cluster] [--web N] [--chaos [--chaos-postgres-seconds S]]
fairdrop verify-draw URL [--expect-seed-hash H] [--receipt FILE [--receipt-key HEX]]
fairdrop verify-draw URL --round N [--expect-seed-hash H]   a resale round of the sale
fairdrop db upgrade | current     the database's Alembic revision
fairdrop events create | list | export   a running server's sales (organiser API over HTTP)
fairdrop bench [--quick]          the drop's figures on this machine (source checkout only)
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from fairdrop.identity import ACCESS_POLICIES
from fairdrop.settings import Settings
from launch.db_command import add_db_parser, run_db
from launch.events_cli import add_events_parser, run_events
from launch.stack_options import add_stack_options
from launch.verify_command import add_verify_parser, run_verify
from launch.web_server import web_server_options

log = logging.getLogger("fairdrop.cli")


def _serve_web(settings: Settings) -> None:
    import uvicorn

    if settings.web_workers > 1 and not settings.secret_key:
        # Each process would sign with its own random key: fans' cookies and
        # tokens from one would be refused by the others.
        raise SystemExit("several web processes need FAIRDROP_SECRET_KEY set")

    from purchase.db import upgrade_database

    # Once, before uvicorn starts its worker processes (a no-op at head).
    _upgrade_if_reachable(settings, upgrade_database)
    uvicorn.run(
        "web.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.web_workers,
        log_level="warning",
        **web_server_options(settings),
    )


def _upgrade_if_reachable(settings: Settings, upgrade: Callable[[Settings], None]) -> None:
    """The migration check, unless the database is out of reach: a web process
    started again during a PostgreSQL outage must still serve the queue, which
    runs on Redis (the deployment's release step, or the stack, has run the
    migrations: `fairdrop db upgrade`). It used to exit, and a process manager
    restarting it met the same outage each time."""
    from sqlalchemy.exc import OperationalError

    try:
        upgrade(settings)
    except OperationalError as exc:
        log.warning("database out of reach, serving without the migration check: %s", exc)


def _run_clock(settings: Settings) -> None:
    from launch.clock import run_clock

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_clock(settings, stop)


def _run_worker(settings: Settings, args: argparse.Namespace) -> None:
    from launch.worker import run_worker

    run_worker(settings, burst=args.burst, worker_class=args.worker_class)


def _package_version() -> str:
    """The installed distribution's version (pyproject.toml's, through its metadata)."""
    try:
        return version("fairdrop")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    settings = settings.with_overrides(beacon_url="local")  # offline: a beacon of its own
    if args.fans is None:
        if args.chaos:
            print("--chaos runs a drop of simulated fans: give --fans", file=sys.stderr)
            return 2
        from launch.run_command import run_stack

        return run_stack(settings, "demo", with_demo_event=True, web_processes=args.web)
    if args.port is not None or args.host is not None:
        # run_demo's stack takes a free loopback port of its own for its fans.
        print(
            "--host and --port are for the live demo: a drop with --fans picks its own port",
            file=sys.stderr,
        )
        return 2
    from launch.chaos import ChaosPlan, chaos_survived
    from launch.demo import (
        LOCALSTRIPE_HOLD_SECONDS,
        LOCALSTRIPE_LATE_PAYERS,
        DemoPlan,
        run_demo,
    )
    from launch.demo_access import one_place_each

    stripe = args.payments == "localstripe"
    if stripe:
        logging.getLogger("stripe").setLevel(logging.WARNING)  # a line per request otherwise
    late_payers = args.late_payers
    if late_payers is None:
        late_payers = LOCALSTRIPE_LATE_PAYERS if stripe else 0.0
    if late_payers and not stripe:
        print("--late-payers needs --payments localstripe", file=sys.stderr)
        return 2
    if not 0 <= late_payers <= 1:
        print("--late-payers is a share, from 0 to 1", file=sys.stderr)
        return 2
    refused = _bots_refused(args) or _chaos_refused(args)
    if refused:
        print(refused, file=sys.stderr)
        return 2
    plan = DemoPlan(
        fans=args.fans,
        tickets=args.tickets,
        window_seconds=args.window,
        late_share=args.late_share,
        workers=args.workers,
        payments=args.payments,
        late_payers=late_payers,
        hold_seconds=LOCALSTRIPE_HOLD_SECONDS if stripe else DemoPlan.hold_seconds,
        access=args.access,
        bots=args.bots,
        bot_addresses=args.bot_addresses,
        browser=args.browser,
        web_processes=args.web,
        resellers=max(0, args.resellers),
        round_fans=max(0, args.round_fans),
        chaos=ChaosPlan(postgres_seconds=args.chaos_postgres_seconds) if args.chaos else None,
        # The faults' recoveries (PostgreSQL's outage, twice: orders are retried) come on top.
        deadline_seconds=DemoPlan.deadline_seconds + 2 * args.chaos_postgres_seconds
        if args.chaos
        else DemoPlan.deadline_seconds,
    )
    summary = run_demo(settings, plan)
    print(json.dumps(summary), flush=True)
    ok = summary["oversold"] == 0 and summary["admitted_in_order"] and summary["draw_verified"]
    # Every placed fan's receipt is in the list; a browser that ran found the draw right.
    ok = ok and summary["receipts_checked"] and summary["browser_verified"] is not False
    ok = ok and one_place_each(summary) and summary.get("payments_consistent", True)
    ok = ok and summary["stream_matches_changes"]  # one lifecycle entry per change
    return 0 if ok and _bots_held_back(summary) and chaos_survived(summary) else 1


def _bots_refused(args: argparse.Namespace) -> str | None:
    """Why these --bots options cannot run, if they cannot."""
    from launch.demo_bots import MAX_ADDRESSES

    if args.bots < 0:
        return "--bots is a number of scripts, 0 or more"
    if not 1 <= args.bot_addresses <= MAX_ADDRESSES:
        return f"--bot-addresses is from 1 to {MAX_ADDRESSES}"
    if args.bots and (args.access != "open" or args.payments != "local"):
        # A scalper mints anonymous entrants: only an open sale has them.
        return "--bots goes for an open sale with local payments (--access open --payments local)"
    return None


def _chaos_refused(args: argparse.Namespace) -> str | None:
    """Why these --chaos options cannot run, if they cannot."""
    if not args.chaos:
        return None
    if args.web < 2 or args.workers < 2:
        return "--chaos kills a web process and workers: it needs --web 2 and --workers 2 or more"
    if args.bots or args.access != "open" or args.payments != "local" or args.browser:
        return "--chaos runs an open sale with local payments (no --bots, --access, --browser)"
    if args.chaos_postgres_seconds < 0:
        return "--chaos-postgres-seconds is 0 or more"
    return None


def _bots_held_back(summary: dict[str, object]) -> bool:
    """The sale's defences held: no address got more places than its share allows, and
    no join without a proof (or with a used one) got in. Whether the bots' tickets
    stayed under the target is a draw's luck, reported as ``bots_within_target``."""
    if "bots" not in summary:
        return True
    return summary["bot_entries_within_limit"] is True and summary["bot_proof_bypassed"] == 0


def _bench(options: list[str]) -> int:
    """``python -m loadtests.bench`` with the options: the benches are a source
    checkout's, not the product's, so the product imports none of them."""
    return subprocess.call([sys.executable, "-m", "loadtests.bench", *options])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fairdrop", description="fair-queue ticket drops")
    parser.add_argument(
        "-V",
        "--version",
        action="version",
        version=f"fairdrop {_package_version()}",
        help="print fairdrop's version and exit",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    web = sub.add_parser("web", help="the web process (Starlette on uvicorn)")
    web.add_argument(
        "--processes",
        type=int,
        help="uvicorn worker processes sharing the port (default: FAIRDROP_WEB_WORKERS, 1); "
        "each holds its own fans' sockets and one Redis subscription per event",
    )
    worker = sub.add_parser("worker", help="the purchase worker (RQ)")
    worker.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    worker.add_argument(
        "--worker-class",
        choices=["simple", "fork"],
        default="simple",
        help="simple: jobs in this process (default); fork: RQ's fork per job",
    )
    sub.add_parser("clock", help="the clock: windows, draws, admission, expiries")
    run = sub.add_parser("run", help="everything on the embedded default until Ctrl-C")
    demo = sub.add_parser("demo", help="a whole drop with simulated fans, or a live demo event")
    for command in (run, demo):
        add_stack_options(command)
    demo.add_argument("--fans", type=int, help="simulated fans; without it the demo keeps running")
    demo.add_argument(
        "--tickets", type=int, default=60, help="tickets on sale, in one type (default 60)"
    )
    demo.add_argument("--window", type=float, default=3.0, help="buffer window in seconds")
    demo.add_argument(
        "--late-share", type=float, default=0.1, help="share of fans who arrive after the drop"
    )
    demo.add_argument("--workers", type=int, default=2, help="purchase worker processes")
    demo.add_argument(
        "--payments",
        choices=["local", "localstripe"],
        default="local",
        help="local: instant, no money moves (default); localstripe: the stripe library "
        "against localstripe on loopback",
    )
    demo.add_argument(
        "--access",
        choices=list(ACCESS_POLICIES),
        default="open",
        help="who may enter, and how the simulated fans sign in: open (default), email "
        "(links and codes from a local SMTP server), login (a local OpenID provider), "
        "list (an imported list and personal links)",
    )
    demo.add_argument(
        "--late-payers",
        type=float,
        help="with localstripe: share of paying fans who pay after their hold ended (default 0.15)",
    )
    demo.add_argument(
        "--bots",
        type=int,
        default=0,
        help="scripted scalpers beside the fans, minting identities as fast as the sale "
        "lets them (an open sale; it then asks the default proof of work of everyone)",
    )
    demo.add_argument(
        "--bot-addresses",
        type=int,
        default=4,
        help="loopback addresses the bots speak from: 127.0.0.2 and up (default 4)",
    )
    demo.add_argument(
        "--browser",
        action="store_true",
        help="one more fan on the real fan page in headless Chromium, whose page checks "
        "the draw itself (needs Chromium and Playwright; browser_verified says how it went)",
    )
    demo.add_argument(
        "--resellers",
        type=int,
        default=1,
        help="fans who put a ticket back mid-sale for the next fans in line to buy, on an "
        "open sale without --bots or --chaos (default 1; 0 for none); the last JSON line's "
        "resold counts, from the database, those resold with the seller refunded",
    )
    demo.add_argument(
        "--round-fans",
        type=int,
        default=8,
        help="after the drop, a small sale of its own sells out, a buyer puts a ticket back, "
        "and this many new fans come to the resale round the clock opens (3 s window); "
        "round_first_bought says the round's first number bought it (default 8; 0 for none)",
    )
    demo.add_argument(
        "--chaos",
        action="store_true",
        help="every fault during the drop: workers killed -9 mid hold batch and after a "
        "payment's confirm, a web process and a clock killed -9, the sale's Redis master "
        "killed, PostgreSQL stopped a while (implies --cluster; a private PostgreSQL; "
        "needs --web 2); the last JSON line says when each happened and what was lost",
    )
    demo.add_argument(
        "--chaos-postgres-seconds",
        type=float,
        default=30.0,
        help="with --chaos: how long PostgreSQL stays stopped (default 30)",
    )
    add_verify_parser(sub)
    # Listed for --help; main() hands "bench ..." to the bench before parsing.
    sub.add_parser(
        "bench",
        help="measure the drop's figures on private local servers (--help: its options)",
        add_help=False,
    )
    add_db_parser(sub)
    add_events_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["bench"]:
        return _bench(given[1:])  # its options, --help included, are the bench's own
    args = _parser().parse_args(given)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.command == "verify-draw":
        return run_verify(args)
    if args.command == "db":
        return run_db(args)
    if args.command == "events":
        return run_events(args)
    settings = Settings.from_env()
    if args.command == "web":
        if args.processes:
            settings = settings.with_overrides(web_workers=max(1, args.processes))
        _serve_web(settings)
    elif args.command == "clock":
        _run_clock(settings)
    elif args.command == "worker":
        _run_worker(settings, args)
    elif args.command in ("run", "demo"):
        return _run_or_demo(settings, args)
    return 0


def _run_or_demo(settings: Settings, args: argparse.Namespace) -> int:
    if args.web < 1:
        print("--web is a number of web processes, 1 or more", file=sys.stderr)
        return 2
    if args.host is not None:
        settings = settings.with_overrides(host=args.host)
    if args.port is not None:
        settings = settings.with_overrides(port=args.port)
    if args.cluster or getattr(args, "chaos", False):
        settings = settings.with_overrides(redis_cluster=True)
    if args.command == "demo":
        return _demo(settings, args)
    from launch.run_command import run_stack

    return run_stack(settings, "run", with_demo_event=False, web_processes=args.web)


if __name__ == "__main__":
    sys.exit(main())
