"""An example consumer of a sale's ticket lifecycle stream (queue_engine/lifecycle.py).

    python -m launch.lifecycle_consumer --event <sale id> --db changes.sqlite3

It follows the stream with a consumer group, so several copies share the work
and a copy that dies loses nothing:

- ``XGROUP CREATE ... MKSTREAM`` once (a group made before the first entry
  starts at the beginning: it sees every change the stream keeps);
- on start, the entries this consumer was given but never acknowledged
  (``XREADGROUP ... 0``), then every ``--claim-idle-ms`` those another
  consumer left pending that long (``XAUTOCLAIM``: it died);
- then new entries as they come (``XREADGROUP ... >``, blocking);
- each entry is applied, then acknowledged (``XACK``).

Redis delivers an entry at least once: a consumer killed after applying an
entry and before its XACK gets it again. So the effect is committed together
with the entry's id, in one SQLite transaction (the ``applied`` table's
primary key): a redelivered entry finds its id there and is only
acknowledged, never applied twice. Each change applied is also printed as one
JSON line. A real integration would write its own system in place of SQLite,
with the entry id in the same transaction.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, cast

import redis

from fairdrop.connections import SaleRedis, sync_redis
from fairdrop.settings import Settings
from queue_engine.keys import EventKeys
from queue_engine.lifecycle import LifecycleEntry, parse_entry

DEFAULT_GROUP = "lifecycle-example"
# Entries asked for at once, and how long one XREADGROUP waits for new ones.
READ_COUNT = 50
BLOCK_MS = 1_000
# How long the consumer waits before asking a Redis out of reach again.
RETRY_S = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS applied (
    entry_id TEXT PRIMARY KEY, sale TEXT NOT NULL, kind TEXT NOT NULL,
    hold TEXT NOT NULL, order_id TEXT NOT NULL, items TEXT NOT NULL,
    codes TEXT NOT NULL, at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets_by_kind (
    sale TEXT NOT NULL, kind TEXT NOT NULL, tickets INTEGER NOT NULL,
    PRIMARY KEY (sale, kind)
);
"""


class ChangeStore:
    """The consumer's effect: every change applied, and tickets per kind, in SQLite."""

    def __init__(self, path: Path) -> None:
        # One consumer uses it at a time, from whichever thread runs it.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.executescript(_SCHEMA)

    def apply(self, entry: LifecycleEntry) -> bool:
        """Applies the change once: False when its entry id was applied before."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            inserted = self.db.execute(
                "INSERT OR IGNORE INTO applied VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.id, entry.sale, entry.kind, entry.hold, entry.order,
                    json.dumps(entry.items), json.dumps(entry.codes), entry.at_ms,
                ),
            ).rowcount  # fmt: skip
            if inserted:
                self.db.execute(
                    "INSERT INTO tickets_by_kind VALUES (?, ?, ?) ON CONFLICT (sale, kind)"
                    " DO UPDATE SET tickets = tickets + excluded.tickets",
                    (entry.sale, entry.kind, entry.tickets),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return bool(inserted)

    def close(self) -> None:
        self.db.close()


class LifecycleConsumer:
    def __init__(
        self,
        client: SaleRedis,
        event_id: str,
        store: ChangeStore,
        group: str = DEFAULT_GROUP,
        name: str = "consumer-1",
        claim_idle_ms: int = 30_000,
        slow_ms: int = 0,
    ) -> None:
        self.client = client
        self.key = EventKeys(event_id).lifecycle
        self.store = store
        self.group = group
        self.name = name
        self.claim_idle_ms = claim_idle_ms
        # Time taken between applying and acknowledging each entry: a slow
        # consumer to watch, or to kill at the worst moment (the tests do).
        self.slow_ms = slow_ms
        self.stopping = False

    def join_group(self) -> None:
        try:
            self.client.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def handle(self, entry_id: bytes | str, fields: dict[Any, Any] | None) -> None:
        """Applies one entry (once) and acknowledges it. An entry trimmed away
        while pending comes with no fields: there is nothing left to apply."""
        if fields:
            entry = parse_entry(entry_id, fields)
            applied = self.store.apply(entry)
            view = {"id": entry.id, "kind": entry.kind, "sale": entry.sale, "items": entry.items,
                    "hold": entry.hold, "order": entry.order, "codes": entry.codes,
                    "at_ms": entry.at_ms, "applied": applied}  # fmt: skip
            print(json.dumps(view), flush=True)
            if self.slow_ms:
                time.sleep(self.slow_ms / 1000)
        self.client.xack(self.key, self.group, entry_id)

    def _read(self, start: str, block_ms: int | None) -> int:
        # [[key, [(id, fields), ...]]] for a client that decodes nothing (RESP2).
        answer: list[Any] = cast(
            list[Any],
            self.client.xreadgroup(
                self.group, self.name, {self.key: start}, count=READ_COUNT, block=block_ms
            ),
        )
        entries = answer[0][1] if answer else []
        for entry_id, fields in entries:
            self.handle(entry_id, fields)
        return len(entries)

    def own_pending(self) -> int:
        """What this consumer (by name) was given before and never acknowledged."""
        total = 0
        while (done := self._read("0", None)) and not self.stopping:
            total += done
        return total

    def claim_abandoned(self) -> int:
        """Entries other consumers left pending for claim_idle_ms: they died."""
        total, start = 0, "0-0"
        while not self.stopping:
            next_start, claimed, *deleted = self.client.xautoclaim(
                self.key, self.group, self.name, self.claim_idle_ms, start, count=READ_COUNT
            )
            for entry_id, fields in claimed:
                self.handle(entry_id, fields)
            # Redis 7 names the claimed entries trimmed away meanwhile: acknowledged.
            for entry_id in deleted[0] if deleted else []:
                self.client.xack(self.key, self.group, entry_id)
            total += len(claimed)
            if next_start in (b"0-0", "0-0"):
                return total
            start = next_start
        return total

    def run(self, idle_exit_s: float | None = None) -> None:
        """Follows the stream until stopped (SIGTERM, SIGINT), or until nothing
        new came for ``idle_exit_s`` (for scripts and tests)."""
        self.join_group()
        self.own_pending()
        next_claim = 0.0
        quiet_since = time.monotonic()
        while not self.stopping:
            got = 0
            try:
                if time.monotonic() >= next_claim:
                    got += self.claim_abandoned()
                    next_claim = time.monotonic() + self.claim_idle_ms / 1000 / 2
                got += self._read(">", BLOCK_MS)
            except redis.ResponseError as error:
                # The stream and its group are gone (a Redis that restarted
                # empty, or the key deleted while this read waited: UNBLOCKED);
                # the sale restored from PostgreSQL starts a new stream.
                if not str(error).startswith(("NOGROUP", "UNBLOCKED")):
                    raise
                self.join_group()
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(RETRY_S)  # down or restarting: asked again
            if got:
                quiet_since = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - quiet_since >= idle_exit_s:
                return


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m launch.lifecycle_consumer",
        description="Follow a sale's ticket lifecycle stream with a consumer group.",
    )
    parser.add_argument("--event", required=True, help="the sale's id")
    parser.add_argument(
        "--redis-url", help="the sale's Redis (default: REDIS_URL, as every fairdrop process)"
    )
    parser.add_argument("--group", default=DEFAULT_GROUP, help="consumer group name")
    parser.add_argument("--name", default="consumer-1", help="this consumer's name in the group")
    parser.add_argument(
        "--db", type=Path, default=Path("lifecycle-changes.sqlite3"), help="SQLite file it writes"
    )
    parser.add_argument(
        "--claim-idle-ms", type=int, default=30_000,
        help="claim entries another consumer left unacknowledged this long",
    )  # fmt: skip
    parser.add_argument(
        "--idle-exit", type=float, default=None,
        help="stop after this many seconds with nothing new (default: run until stopped)",
    )  # fmt: skip
    parser.add_argument(
        "--slow-ms", type=int, default=0, help="wait this long after applying each entry"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.from_env()
    if args.redis_url:
        settings = settings.with_overrides(redis_url=args.redis_url)
    client = sync_redis(settings)
    store = ChangeStore(args.db)
    consumer = LifecycleConsumer(
        client, args.event, store, args.group, args.name, args.claim_idle_ms, args.slow_ms
    )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        consumer.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        consumer.run(args.idle_exit)
    finally:
        store.close()
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
