"""The Alembic migrations in purchase/migrations, on real PostgreSQL and on SQLite.

``test_migrated_database_matches_the_models`` is the one that fails when a
model changes without a migration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text
from sqlmodel import Session, SQLModel, select

from fairdrop.settings import Settings
from purchase.db import (
    UPGRADE_LOCK_KEY,
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    upgrade_database,
)
from purchase.models import Event
from tests.servers import PostgresServer, fresh_database


@pytest.fixture(params=["postgresql", "sqlite"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """An empty database of each kind fairdrop runs on."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("database_url")
        return Settings(database_url=url, data_dir=tmp_path)
    return Settings(data_dir=tmp_path)  # the embedded default: SQLite in data_dir


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


def schema_of(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every table's columns, keys, constraints and indexes, with their names."""
    inspector = inspect(engine)
    return {
        table: {
            # By name: a later migration's add_column lands last, create_all's in model order.
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ),
            "primary_key": inspector.get_pk_constraint(table),
            "foreign_keys": sorted(
                (fk["name"] or "", fk["constrained_columns"], fk["referred_table"])
                for fk in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(
                (u["name"] or "", u["column_names"])
                for u in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"] or "", i["column_names"], i["unique"])
                for i in inspector.get_indexes(table)
            ),
        }
        for table in sorted(inspector.get_table_names())
        if table != "alembic_version"
    }


def differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, SQLModel.metadata))


def add_event(engine: Engine, event_id: str) -> None:
    """An event row with only revision 0001's columns, so it fits any older schema."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO event (id, name, opens_at, drop_at, rate_per_min, cap,"
                " hold_seconds, currency, seed_hash, seed, created_at) VALUES (:id, 'kept',"
                " :now, :now, 60, 10, 60, 'EUR', :hash, :seed, :now)"
            ),
            {"id": event_id, "now": now, "hash": "0" * 64, "seed": "1" * 64},
        )


def test_upgrade_from_empty_creates_every_table(settings: Settings, engine: Engine) -> None:
    assert current_revision(settings) is None

    upgrade_database(settings)

    tables = set(inspect(engine).get_table_names())
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}
    assert current_revision(settings) == head_revision()


def test_migrated_database_matches_the_models(settings: Settings, engine: Engine) -> None:
    upgrade_database(settings)

    assert differences(engine) == []


def test_upgrading_twice_changes_nothing(settings: Settings, engine: Engine) -> None:
    upgrade_database(settings)
    add_event(engine, "e1")
    before = schema_of(engine)

    upgrade_database(settings)

    assert schema_of(engine) == before
    assert current_revision(settings) == head_revision()
    with Session(engine) as session:
        assert [e.id for e in session.exec(select(Event)).all()] == ["e1"]


def test_downgrade_to_base_removes_every_table(settings: Settings, engine: Engine) -> None:
    upgrade_database(settings)

    command.downgrade(alembic_config(settings), "base")

    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(settings) is None


def test_tables_made_by_create_all_are_taken_over(settings: Settings, engine: Engine) -> None:
    # Databases from before the migrations: create_all made them (the tables of
    # revision 0001), with no version table.
    command.upgrade(alembic_config(settings), "0001")
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    add_event(engine, "from-before")

    upgrade_database(settings)

    assert current_revision(settings) == head_revision()
    assert differences(engine) == []
    with Session(engine) as session:
        assert session.get(Event, "from-before") is not None


def test_migrations_build_what_create_all_builds_on_postgresql(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    with (
        fresh_database(postgres_server) as migrated_url,
        fresh_database(postgres_server) as created_url,
    ):
        upgrade_database(Settings(database_url=migrated_url, data_dir=tmp_path))
        migrated = create_engine(migrated_url)
        created = create_engine(created_url)
        try:
            SQLModel.metadata.create_all(created)
            # Same columns and types, and the same constraint and index names.
            assert schema_of(migrated) == schema_of(created)
        finally:
            migrated.dispose()
            created.dispose()


def run_fairdrop(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env = {**inherited, **settings.as_env()}
    return subprocess.run(
        [sys.executable, "-m", "launch.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_fairdrop_db_upgrade_makes_a_fresh_database_current(settings: Settings) -> None:
    before = run_fairdrop(settings, "db", "current")
    assert before.returncode == 1, before.stderr
    assert "database at no revision" in before.stdout

    upgraded = run_fairdrop(settings, "db", "upgrade")

    assert upgraded.returncode == 0, upgraded.stderr
    assert f"database at {head_revision()}" in upgraded.stdout
    assert current_revision(settings) == head_revision()
    after = run_fairdrop(settings, "db", "current")
    assert after.returncode == 0, after.stderr


def test_an_upgrade_waits_for_one_already_running_on_postgresql(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    engine = create_engine(database_url)
    try:
        with engine.connect() as running:
            # Stand in for an upgrade in progress: hold the lock every upgrade takes.
            running.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": UPGRADE_LOCK_KEY})
            waiting = subprocess.Popen(
                [sys.executable, "-m", "launch.cli", "db", "upgrade"],
                env={**os.environ, **settings.as_env()},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            time.sleep(2)
            assert waiting.poll() is None, waiting.communicate()
            assert "alembic_version" not in inspect(engine).get_table_names()
            running.rollback()  # the first upgrade ends; the second goes on
        _, errors = waiting.communicate(timeout=60)
    finally:
        engine.dispose()

    assert waiting.returncode == 0, errors
    assert current_revision(settings) == head_revision()


def test_revision_0010_keeps_events_and_gives_them_the_v1_draw(
    settings: Settings, engine: Engine
) -> None:
    command.upgrade(alembic_config(settings), "0009")
    add_event(engine, "before-v2")

    command.upgrade(alembic_config(settings), "0010")

    # Read as SQL: the models are the newest revision's.
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT algorithm, beacon FROM event WHERE id = 'before-v2'")
        ).one()
    # Made before v2: it drew (or draws) with v1 and has no beacon round.
    assert tuple(row) == ("fairdrop-draw-v1", None)
    assert {"draw_record", "drawn_entrant"} <= set(inspect(engine).get_table_names())

    command.downgrade(alembic_config(settings), "0009")

    assert not {"draw_record", "drawn_entrant"} & set(inspect(engine).get_table_names())
    columns = {c["name"] for c in inspect(engine).get_columns("event")}
    assert not {"algorithm", "beacon"} & columns
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM event")).scalars().all() == ["before-v2"]


def test_revision_0011_gives_events_no_pause_message_and_a_change_log(
    settings: Settings, engine: Engine
) -> None:
    command.upgrade(alembic_config(settings), "0010")
    add_event(engine, "before-steering")

    command.upgrade(alembic_config(settings), "0011")

    with Session(engine) as session:
        event = session.get(Event, "before-steering")
        assert event is not None and event.pause_message == ""
    assert "sale_change" in set(inspect(engine).get_table_names())

    command.downgrade(alembic_config(settings), "0010")

    assert "sale_change" not in set(inspect(engine).get_table_names())
    assert "pause_message" not in {c["name"] for c in inspect(engine).get_columns("event")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM event")).scalars().all() == [
            "before-steering"
        ]


def test_revision_0014_keeps_resale_rounds_in_tables_of_their_own(
    settings: Settings, engine: Engine
) -> None:
    command.upgrade(alembic_config(settings), "0013")
    add_event(engine, "before-rounds")

    command.upgrade(alembic_config(settings), "0014")

    tables = set(inspect(engine).get_table_names())
    assert {"round_record", "round_entrant", "drawn_entrant"} <= tables
    # A fan drawn in the sale may enter a round too: the same entry id in both.
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO round_record (event_id, round, algorithm, seed_hash, opens_at,"
                " drop_at, beacon, created_at) VALUES ('before-rounds', 1, 'fairdrop-draw-v2',"
                " :hash, :now, :now, '', :now)"
            ),
            {"hash": "0" * 64, "now": now},
        )
        connection.execute(
            text(
                "INSERT INTO drawn_entrant (event_id, number, entry_id)"
                " VALUES ('before-rounds', 1, 'fan')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO round_entrant (event_id, round, number, entry_id)"
                " VALUES ('before-rounds', 1, 2, 'fan')"
            )
        )

    command.downgrade(alembic_config(settings), "0013")

    assert not {"round_record", "round_entrant"} & set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM event")).scalars().all() == ["before-rounds"]
