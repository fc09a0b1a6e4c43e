"""A running fairdrop (web, worker and clock processes) for API and browser tests.

One stack per test module: starting the processes takes a couple of seconds,
and tests in a module keep out of each other's way by using their own events.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fairdrop.settings import RATE_LIMITS, Settings
from launch.redis_server import RedisServer, start_redis_server
from launch.stack import Stack
from tests.servers import (
    TEST_BEACON_MARGIN_SECONDS,
    PostgresServer,
    fresh_database,
    local_beacon_url,
)

DEFAULT_TICKET_TYPE: dict[str, Any] = {
    "id": "ga",
    "name": "GA",
    "price_cents": 4_000,
    "currency": "EUR",
    "stock": 10,
    "per_person_limit": 2,
}
# The tests of one module share one stack and come from one address
# (127.0.0.1): no limit of the defaults' size may stop them. A test of the
# limits names its own (tests/web/test_rate_limits.py).
GENEROUS_LIMITS: dict[str, object] = {
    **dict.fromkeys(RATE_LIMITS, "100000/minute"),
    "limit_open_sockets_per_address": 100_000,
}

# Lines of each process's log a failed live test shows.
LOG_TAIL_LINES = 30


@dataclass
class LiveStack:
    stack: Stack
    # The stack's Redis, for tests that crash and restart it (tests/web/test_redis_restart.py).
    redis_server: RedisServer | None = None

    @property
    def base_url(self) -> str:
        return self.stack.base_url

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    @property
    def organiser_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.organiser_token}"}

    def create_event(self, **overrides: Any) -> dict[str, Any]:
        """An event through the organiser API; by default its window is open now."""
        now = datetime.now(UTC)
        body: dict[str, Any] = {
            "name": "test drop",
            "opens_at": (now - timedelta(seconds=1)).isoformat(),
            "drop_at": (now + timedelta(seconds=2)).isoformat(),
            "rate_per_min": 6_000,
            "cap": 100,
            "hold_seconds": 60,
            "ticket_types": [DEFAULT_TICKET_TYPE],
        }
        body.update(overrides)
        response = httpx.post(
            f"{self.base_url}/api/events", json=body, headers=self.organiser_headers, timeout=10
        )
        assert response.status_code == 201, response.text
        event: dict[str, Any] = response.json()
        return event


@contextmanager
def running_stack(
    postgres_server: PostgresServer, workdir: Path, **changes: object
) -> Iterator[LiveStack]:
    """Web, worker and clock on a fresh database and Redis; ``changes`` to the settings."""
    with running_fleet(postgres_server, workdir, 1, changes) as stack:
        yield stack


@contextmanager
def running_fleet(
    postgres_server: PostgresServer,
    workdir: Path,
    web_processes: int,
    changes: Mapping[str, object] | None = None,
    workers: int = 1,
) -> Iterator[LiveStack]:
    """:func:`running_stack` with ``web_processes`` web processes (behind nginx when
    more than one) and ``workers`` purchase workers."""
    with (
        fresh_database(postgres_server) as database_url,
        start_redis_server(workdir / "redis") as redis_server,
    ):
        settings = Settings(
            redis_url=redis_server.url,
            database_url=database_url,
            data_dir=workdir,
            port=0,
            heartbeat_seconds=1.0,
            # No proof of work unless a test names a difficulty for its sale
            # (tests/web/test_proof_of_work.py); Fan.join solves one when asked.
            pow_default=0,
            beacon_url=local_beacon_url(),
            # The digest is out within a tick of the drop here, and the tests'
            # fans wait seconds, not the margin a real sale keeps.
            beacon_margin_seconds=TEST_BEACON_MARGIN_SECONDS,
        ).with_overrides(**GENEROUS_LIMITS)
        stack_settings = settings.with_overrides(**(changes or {}))
        with Stack(stack_settings, workers=workers, web_processes=web_processes) as stack:
            yield LiveStack(stack, redis_server)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test on a live stack shows the end of each process's log:
    CI keeps nothing else of the clock's or the web process's side."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("live_stack")
    if report.failed and isinstance(stack, LiveStack):
        for log in sorted((stack.settings.data_dir / "logs").glob("*.log")):
            lines = log.read_text("utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
            report.sections.append((f"{log.name} (last lines)", "\n".join(lines)))
    return report


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    with running_stack(postgres_server, tmp_path_factory.mktemp("stack")) as stack:
        yield stack


def live_stack_with(**changes: object) -> Any:
    """A module's ``live_stack`` fixture whose stack has ``changes`` to the settings:
    ``live_stack = live_stack_with(resale_round_seconds=2.0)`` at the module's top."""

    @pytest.fixture(scope="module")
    def live_stack(
        postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
    ) -> Iterator[LiveStack]:
        with running_stack(postgres_server, tmp_path_factory.mktemp("stack"), **changes) as stack:
            yield stack

    return live_stack


FLEET_WEB_PROCESSES = 2


@pytest.fixture(scope="module")
def fleet(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    """Two web processes behind nginx, with a worker and the clock: one per module."""
    workdir = tmp_path_factory.mktemp("fleet")
    with running_fleet(postgres_server, workdir, FLEET_WEB_PROCESSES) as stack:
        yield stack
