"""``fairdrop events create | list | export``: a running server's sales, from a terminal.

The commands speak the organiser API over HTTP (launch/organiser_client.py),
so they work against any fairdrop a person can reach, local or not. The
server and the token come from the options or from the settings the server
itself reads: ``FAIRDROP_PUBLIC_URL`` (else ``http://FAIRDROP_HOST:FAIRDROP_PORT``)
and ``FAIRDROP_ORGANISER_TOKEN``. The token is never printed.

Exit status: 0 done; 1 the server refused or failed (its error code and
message on one line); 2 a bad command line or input file; 3 no server answered.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from fairdrop.identity import ACCESS_POLICIES
from fairdrop.settings import Settings, SettingsError
from launch.event_fields import TICKET_TYPE_FIELDS, BadInput, event_body
from launch.event_table import events_table
from launch.organiser_client import OrganiserApiError, OrganiserClient

EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3


def add_events_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # On each action, so they may follow it: `fairdrop events list --url ...`.
    server = argparse.ArgumentParser(add_help=False)
    server.add_argument(
        "--url",
        help="the server's base URL (default: FAIRDROP_PUBLIC_URL, else "
        "http://FAIRDROP_HOST:FAIRDROP_PORT, i.e. http://127.0.0.1:8000)",
    )
    server.add_argument(
        "--token",
        help="the organiser token (default: FAIRDROP_ORGANISER_TOKEN, which is better: "
        "a command line is visible to other users of the machine)",
    )
    server.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds to wait for the server (default 30)",
    )
    events = sub.add_parser("events", help="create, list and export sales on a running server")
    actions = events.add_subparsers(dest="events_command", required=True)
    _add_create(actions, server)
    listing = actions.add_parser("list", parents=[server], help="the server's sales as a table")
    listing.add_argument("--json", action="store_true", help="the server's JSON instead")
    export = actions.add_parser(
        "export", parents=[server], help="a sale's orders, one CSV row per ticket"
    )
    export.add_argument("event_id", help="the sale's id (fairdrop events list shows them)")
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        help="write the CSV to this file (written whole or not at all); default: stdout",
    )


def _add_create(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], server: argparse.ArgumentParser
) -> None:
    create = actions.add_parser(
        "create",
        parents=[server],
        help="a new sale, from options or a JSON file",
        description="Times are ISO 8601 with an offset (2026-12-24T18:00:00+01:00), 'now', "
        "or from now: +30s, +10m, +2h, +1d. The options override the JSON file's fields.",
    )
    create.add_argument(
        "--from-json",
        metavar="FILE",
        type=Path,
        help="the sale as the API's JSON body (EventIn in /openapi.json); - reads stdin",
    )
    create.add_argument("--id", help="the sale's id, a slug (default: 8 random hex digits)")
    create.add_argument("--name", help="the sale's name, as fans see it")
    create.add_argument("--opens-at", metavar="WHEN", help="the buffer window opens")
    create.add_argument("--drop-at", metavar="WHEN", help="the window closes and the draw runs")
    create.add_argument("--rate-per-min", type=int, metavar="N", help="fans admitted per minute")
    create.add_argument("--cap", type=int, metavar="N", help="most fans shopping at once")
    create.add_argument(
        "--hold-seconds", type=int, metavar="SECONDS", help="how long an admitted fan's hold lasts"
    )
    create.add_argument(
        "--access",
        choices=list(ACCESS_POLICIES),
        help="who may enter: anyone (open, the default), a proven email, an OpenID login, "
        "or only those on the organiser's list",
    )
    create.add_argument(
        "--pow-difficulty",
        type=int,
        metavar="N",
        help="proof of work asked of each new entrant, 0 for none (default: the server's)",
    )
    create.add_argument(
        "--ticket-type",
        metavar="FIELDS",
        action="append",
        help="a ticket type as comma-separated key=value, repeatable: "
        f"{', '.join(TICKET_TYPE_FIELDS)} (id optional), e.g. "
        "name=GA,price_cents=4000,currency=EUR,stock=100,per_person_limit=4",
    )
    create.add_argument("--json", action="store_true", help="print the created sale's JSON")


def run_events(args: argparse.Namespace) -> int:
    command = f"fairdrop events {args.events_command}"
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    url = args.url or settings.public_base_url
    token = settings.organiser_token if args.token is None else args.token
    try:
        with OrganiserClient(url, token, timeout=args.timeout) as client:
            if args.events_command == "create":
                return _create(client, args)
            if args.events_command == "list":
                return _list(client, args)
            return _export(client, args)
    except BadInput as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OrganiserApiError as exc:
        print(f"{command}: {exc}{_hint(exc)}", file=sys.stderr)
        return EXIT_UNREACHABLE if exc.status is None else EXIT_REFUSED


def _hint(exc: OrganiserApiError) -> str:
    if exc.status in (401, 403):
        return " (the organiser token: FAIRDROP_ORGANISER_TOKEN or --token)"
    return ""


def _create(client: OrganiserClient, args: argparse.Namespace) -> int:
    event = client.create_event(event_body(args))
    if args.json:
        print(json.dumps(event, indent=2))
        return 0
    base = client.base_url.rstrip("/")
    print(f"created sale {event['id']} ({event['name']})")
    print(f"  fan page:  {base}{event['fan_url']}")
    print(f"  organiser: {base}{event.get('organiser_url', '/organiser')}")
    return 0


def _list(client: OrganiserClient, args: argparse.Namespace) -> int:
    events = client.list_events()
    if args.json:
        print(json.dumps({"events": events}, indent=2))
    else:
        print(events_table(events))
    return 0


def _export(client: OrganiserClient, args: argparse.Namespace) -> int:
    if args.output is None:
        client.export_orders(args.event_id, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    _export_to_file(client, args.event_id, args.output)
    print(f"wrote {args.event_id}'s orders to {args.output}", file=sys.stderr)
    return 0


def _export_to_file(client: OrganiserClient, event_id: str, path: Path) -> None:
    """Into a file beside ``path`` then renamed: a refused or broken download leaves
    no half file, and an older export at ``path`` stays until the new one is whole."""
    try:
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise BadInput(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(handle, "wb") as out:
            client.export_orders(event_id, out)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
