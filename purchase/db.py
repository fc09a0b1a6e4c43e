"""The database engine: PostgreSQL through psycopg, or SQLite by default.

The tables come from the Alembic migrations in ``purchase/migrations``:
:func:`upgrade_database` runs them, once, before fairdrop's processes start
(``fairdrop db upgrade``, or the stack that starts web, worker and clock).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import Session, create_engine

from fairdrop.settings import Settings
from purchase import models, round_models  # noqa: F401  (registers the tables)


def database_url(settings: Settings) -> str:
    if settings.database_url:
        url = settings.database_url
        # Plain postgres URLs get the psycopg 3 driver.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url
    path = Path(settings.data_dir).resolve() / "fairdrop.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def make_engine(settings: Settings) -> Engine:
    url = database_url(settings)
    if url.startswith("sqlite"):
        # Web, worker and demo are separate processes on one file.
        return create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The revision that made the tables create_all used to make.
FIRST_REVISION = "0001"
# PostgreSQL advisory lock every upgrade holds (any fixed number; this is "fairdrop").
UPGRADE_LOCK_KEY = 0x6661697264726F70


def alembic_config(settings: Settings) -> Config:
    """Alembic's configuration without an alembic.ini: migrations/env.py reads ``settings``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["settings"] = settings
    return config


def upgrade_database(settings: Settings) -> None:
    """Bring the database to the newest revision (``alembic upgrade head``); a no-op at head."""
    config = alembic_config(settings)
    engine = make_engine(settings)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    if "event" in tables and "alembic_version" not in tables:
        # Made by create_all before fairdrop had migrations: those tables are
        # exactly the first revision's.
        command.stamp(config, FIRST_REVISION)
    command.upgrade(config, "head")


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def current_revision(settings: Settings) -> str | None:
    """The database's revision; None when no migration has run on it."""
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def open_session(engine: Engine) -> Session:
    # Rows outlive their session (cached in the catalog, returned from jobs),
    # so they must not expire on commit.
    return Session(engine, expire_on_commit=False)
