"""``fairdrop db upgrade | current``: the database's tables, through Alembic.

Run ``fairdrop db upgrade`` once before starting web, worker and clock (a
release step); ``fairdrop run`` and ``fairdrop demo`` do it themselves.
"""

from __future__ import annotations

import argparse
import logging

from fairdrop.settings import Settings

# Alembic names each of its plugins at INFO when it is imported, in every
# command that upgrades (db, web); its "Running upgrade" lines stay.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def add_db_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="the database's tables (Alembic migrations)")
    actions = db.add_subparsers(dest="db_command", required=True)
    actions.add_parser("upgrade", help="create or update the tables to the newest revision")
    actions.add_parser("current", help="print the database's revision and the newest one")


def run_db(args: argparse.Namespace) -> int:
    # SQLAlchemy and Alembic take 0.4 s to import: the other commands need not wait.
    from purchase.db import current_revision, head_revision, upgrade_database

    settings = Settings.from_env()
    if args.db_command == "upgrade":
        upgrade_database(settings)
    current, head = current_revision(settings), head_revision()
    print(f"database at {current or 'no revision'}; newest revision {head}")
    return 0 if current == head else 1
