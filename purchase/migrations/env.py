"""Alembic's environment for fairdrop's tables.

There is no alembic.ini: ``purchase.db.alembic_config`` points Alembic here and
passes the :class:`Settings` in ``config.attributes``; run any other way, the
settings come from the environment like every fairdrop process.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text
from sqlmodel import SQLModel

from fairdrop.settings import Settings
from purchase import models, round_models  # noqa: F401  (registers the tables on SQLModel.metadata)
from purchase.db import UPGRADE_LOCK_KEY, make_engine


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        # SQLite can alter little in place: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Two upgrades started at once (say two deploys) run one after the
            # other; the second then finds the database at head and does nothing.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY}
            )
        context.run_migrations()


def run_online() -> None:
    settings = context.config.attributes.get("settings") or Settings.from_env()
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("fairdrop's migrations run against a database; --sql is not supported")
run_online()
