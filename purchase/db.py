"""The database engine: PostgreSQL through psycopg, or SQLite by default."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, create_engine

from fairdrop.settings import Settings
from purchase import models  # noqa: F401  (registers the tables)


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


def create_tables(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)


def open_session(engine: Engine) -> Session:
    # Rows outlive their session (cached in the catalog, returned from jobs),
    # so they must not expire on commit.
    return Session(engine, expire_on_commit=False)
