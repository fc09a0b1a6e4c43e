"""How often a client may act: rate limits per address and per fan, sockets at
once, and the organiser's blocklist (an address that may not act at all).

Every fan action asks :meth:`RateLimits.spend` first: the blocklist, then the
fan's own limit, then the address's. The fan's comes first so that one fan
flooding uses up its own allowance, never its neighbours' on a shared
address. The limits are the ``limits`` library's moving windows in the sale's
Redis (so every web process counts together), each one atomic Lua call
(``limits/resources/redis/lua_scripts/acquire_moving_window.lua``: a list of
timestamps per key, trimmed to the limit); the library builds its keys under
:data:`KEY_PREFIX`. A refused attempt is not counted, so a client that waits
for Retry-After is let in then.

Sockets open at once are counted per web process, not in Redis: what a
socket costs (memory, a file descriptor, a share of each broadcast) is the
process's, the count is exact and needs no round trip, and a process that
dies takes its counts with it, where a Redis counter would keep them until
it expired. With N processes sharing a port, one address may hold N times
the cap in all.

The blocklist is one Redis hash (:data:`BLOCKLIST_KEY`): the entries as JSON
and a version bumped by every change. Each process asks for the version at
most every :data:`BLOCKLIST_REFRESH_S` and reads the entries only when it
changed, so a change takes effect everywhere within about a second.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from enum import StrEnum
from urllib.parse import urlsplit

import redis.asyncio
from limits import RateLimitItem
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import HTTPConnection

from buffer.arrivals import entrant_share
from buffer.entry_tallies import tally_refusal
from fairdrop.connections import AsyncSaleRedis, cluster_nodes
from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.settings import Settings, parse_rate_limit
from queue_engine.keys import EventKeys
from web.client_address import (
    IPAddress,
    Networks,
    client_address,
    limit_key,
    parse_network,
)

# Every key the limits library writes starts with this.
KEY_PREFIX = "fairdrop:limits"
# One key for the whole site: the blocklist is not any sale's.
BLOCKLIST_KEY = "fairdrop:blocklist"
# Where a request's scope keeps its client's address once read (ASGI lets an
# app add keys of its own).
_ADDRESS = "fairdrop.client_address"
BLOCKLIST_REFRESH_S = 1.0


class Action(StrEnum):
    """What a fan does that costs the server something, as a limit counts it."""

    # A join that makes a new session: a new fan, counted per address only.
    NEW_FAN = "new_fan"
    # A join of a fan who has a session (a reload, a tab): counted per fan only.
    JOIN = "join"
    SIGN_IN = "sign_in"
    CONNECT = "connect"
    HOLD = "hold"
    PRESALE_HOLD = "presale_hold"
    PAY = "pay"
    RELEASE = "release"


# The actions that are a fan's joins: a refusal of one is counted for its
# sale's fairness report (buffer/entry_tallies.py), at the join's event_id.
_JOINS = frozenset({Action.NEW_FAN, Action.JOIN})

# What a refusal calls each action.
_SAID = {
    Action.NEW_FAN: "new fans joining",
    Action.JOIN: "joins",
    Action.SIGN_IN: "sign-in emails asked for",
    Action.CONNECT: "socket connections",
    Action.HOLD: "ticket requests",
    Action.PRESALE_HOLD: "presale ticket requests",
    Action.PAY: "payments",
    Action.RELEASE: "releases",
}


# The setting (fairdrop/settings.py RATE_LIMITS) that limits each action per
# address and per fan. A new fan has no fan id yet; a sign-in email is asked
# for before there is a fan; a join of a fan with a session makes no new fan.
_PER_ADDRESS = {
    Action.NEW_FAN: "limit_join_per_address",
    Action.SIGN_IN: "limit_sign_in_per_address",
    Action.CONNECT: "limit_connect_per_address",
    Action.HOLD: "limit_hold_per_address",
    Action.PRESALE_HOLD: "limit_presale_hold_per_address",
    Action.PAY: "limit_pay_per_address",
    Action.RELEASE: "limit_release_per_address",
}
_PER_FAN = {
    Action.JOIN: "limit_join_per_fan",
    Action.CONNECT: "limit_connect_per_fan",
    Action.HOLD: "limit_hold_per_fan",
    Action.PRESALE_HOLD: "limit_presale_hold_per_fan",
    Action.PAY: "limit_pay_per_fan",
    Action.RELEASE: "limit_release_per_fan",
}


def _parsed(settings: Settings, fields: dict[Action, str]) -> dict[Action, RateLimitItem]:
    """The limits in force ("off" ones left out)."""
    items = {
        action: parse_rate_limit(f"FAIRDROP_{name.upper()}", getattr(settings, name))
        for action, name in fields.items()
    }
    return {action: item for action, item in items.items() if item is not None}


def _rate(item: RateLimitItem) -> str:
    """A limit as a refusal says it: "60 per minute", "10 per 30 seconds"."""
    unit = item.GRANULARITY.name
    if item.multiples == 1:
        return f"{item.amount} per {unit}"
    return f"{item.amount} per {item.multiples} {unit}s"


async def read_blocklist(client: AsyncSaleRedis) -> list[str]:
    raw = await client.hget(BLOCKLIST_KEY, "entries")
    entries: list[str] = json.loads(raw) if raw else []
    return entries


async def write_blocklist(client: AsyncSaleRedis, entries: list[str]) -> None:
    """Replaces the list; its new version tells every process to read it again."""
    async with client.pipeline(transaction=True) as pipe:
        pipe.hset(BLOCKLIST_KEY, "entries", json.dumps(entries))
        pipe.hincrby(BLOCKLIST_KEY, "version", 1)
        await pipe.execute()


class Blocklist:
    """This process's copy of the blocklist, read again at most every second."""

    def __init__(self, client: AsyncSaleRedis) -> None:
        self.client = client
        self._networks = Networks()
        self._version: bytes | str | None = None
        self._checked_at = -math.inf
        self._reading = asyncio.Lock()

    async def networks(self) -> Networks:
        if time.monotonic() - self._checked_at < BLOCKLIST_REFRESH_S:
            return self._networks
        # One read at a time: the requests that arrive meanwhile wait for it.
        async with self._reading:
            if time.monotonic() - self._checked_at >= BLOCKLIST_REFRESH_S:
                await self._refresh()
        return self._networks

    async def _refresh(self) -> None:
        version = await self.client.hget(BLOCKLIST_KEY, "version")
        if version != self._version:
            version, raw = await self.client.hmget(BLOCKLIST_KEY, ["version", "entries"])
            entries = json.loads(raw) if raw else []
            self._networks = Networks(parse_network(entry) for entry in entries)
            self._version = version
        self._checked_at = time.monotonic()

    def forget(self) -> None:
        """Reads the list again at the next check (this process just changed it)."""
        self._checked_at = -math.inf


class RateLimits:
    """The limits of one web process (one in its WebContext), built from the settings."""

    def __init__(self, settings: Settings, client: AsyncSaleRedis) -> None:
        self.trusted = Networks(parse_network(p) for p in settings.trusted_proxies)
        self.per_address = _parsed(settings, _PER_ADDRESS)
        self.per_fan = _parsed(settings, _PER_FAN)
        entrants = parse_rate_limit(
            "FAIRDROP_LIMIT_ENTRANTS_PER_ADDRESS", settings.limit_entrants_per_address
        )
        self.entrants_item = entrants
        self.entrant_share = entrant_share(settings)
        self.client = client
        self.open_sockets_cap = settings.limit_open_sockets_per_address
        # The sale's Redis, through the web process's own connection pool.
        # limits types its options as scalars, but passes connection_pool on
        # to redis-py (limits/aio/storage/redis/redispy.py use_basic).
        storage: RedisStorage
        if isinstance(client, redis.asyncio.RedisCluster):
            # limits cannot share a cluster client's pools: it keeps a cluster
            # client of its own, from the same node address (any node will do).
            first, more = cluster_nodes(settings)
            hosts = ",".join([urlsplit(first).netloc, *(f"{h}:{port}" for h, port in more)])
            storage = RedisClusterStorage(
                f"async+redis+cluster://{hosts}",
                implementation="redispy",
                key_prefix=KEY_PREFIX,
            )
        else:
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                connection_pool=client.connection_pool,  # type: ignore[arg-type]
            )
        self.limiter = MovingWindowRateLimiter(storage)
        self.blocklist = Blocklist(client)
        self._open_sockets: Counter[str] = Counter()

    def address_of(self, conn: HTTPConnection) -> IPAddress | None:
        # Read once per request: a new fan's join asks for it five times (the
        # blocklist, the checks, the counts, its entrant address), and parsing
        # it each time was several per cent of a join's web CPU. Not kept for a
        # socket, which asks twice: its scope lives as long as the socket, and
        # one more key can make a dict grow its table.
        scope = conn.scope
        if scope["type"] != "http":
            return client_address(conn, self.trusted)
        if _ADDRESS in scope:
            address: IPAddress | None = scope[_ADDRESS]
            return address
        address = scope[_ADDRESS] = client_address(conn, self.trusted)
        return address

    async def admit(self, conn: HTTPConnection) -> IPAddress | None:
        """The client's address, unless the blocklist holds it (403 ``blocked``)."""
        address = self.address_of(conn)
        if address in await self.blocklist.networks():
            raise FairdropError(
                ErrorCode.BLOCKED,
                "requests from your network address are blocked by the organiser",
            )
        return address

    async def spend(
        self, conn: HTTPConnection, action: Action, fan_id: str | None = None
    ) -> IPAddress | None:
        """Counts one ``action`` of this client (and of ``fan_id``), or refuses it with 429.

        Returns the client's address. The blocklist is asked first (403).
        """
        address = await self.admit(conn)
        try:
            if fan_id is not None and action in self.per_fan:
                await self._hit(self.per_fan[action], action, "fan", fan_id)
            if action in self.per_address:
                await self._hit(self.per_address[action], action, "address", limit_key(address))
        except FairdropError:
            await self._tally_join_refused(conn, action)
            raise
        return address

    async def check(self, conn: HTTPConnection, action: Action) -> None:
        """Refuses now what :meth:`spend` would refuse for the address, counting nothing.

        For work worth sparing: a new fan refused here has not yet used up
        its proof of work, which a refusal after checking it would waste.
        """
        address = await self.admit(conn)
        item, who = self.per_address.get(action), limit_key(address)
        if item is not None and not await self.limiter.test(item, action, "address", who):
            await self._tally_join_refused(conn, action)
            raise await self._refusal(item, action, "address", who)

    async def _tally_join_refused(self, conn: HTTPConnection, action: Action) -> None:
        event_id = conn.path_params.get("event_id")
        if action in _JOINS and event_id:
            await tally_refusal(self.client, event_id, "rate_limited")

    async def _hit(self, item: RateLimitItem, action: Action, scope: str, who: str) -> None:
        if not await self.limiter.hit(item, action, scope, who):
            raise await self._refusal(item, action, scope, who)

    async def _refusal(
        self, item: RateLimitItem, action: Action, scope: str, who: str
    ) -> FairdropError:
        # The window frees a place when its oldest entry leaves it.
        stats = await self.limiter.get_window_stats(item, action, scope, who)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        whose = "this fan" if scope == "fan" else "your network address"
        return FairdropError(
            ErrorCode.TOO_MANY_REQUESTS,
            f"too many {_SAID[action]} from {whose}: at most {_rate(item)}; try again in {wait} s",
            retry_after_s=wait,
        )

    def entrant_address(self, conn: HTTPConnection) -> str:
        """What a new anonymous entrant of this client is counted as in join.lua."""
        return limit_key(self.address_of(conn))

    async def check_entrant_share(self, conn: HTTPConnection, event_id: str) -> None:
        """Refuses now a new anonymous entrant join.lua would refuse for its address.

        Before the proof of work is checked, so a fan refused keeps its
        solution. join.lua's answer is the one that counts: this is the same
        arithmetic on a read, at Redis's time.
        """
        share = self.entrant_share
        if not share.burst:
            return
        key = EventKeys(event_id).addresses
        if isinstance(self.client, redis.asyncio.RedisCluster):
            # A cluster pipeline takes no TIME; the clock of the master of the
            # sale's slot, the one join.lua reads.
            due_raw = await self.client.hget(key, self.entrant_address(conn))
            seconds, micros = await self.client.time(
                target_nodes=self.client.get_node_from_key(key)
            )
        else:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hget(key, self.entrant_address(conn))
                pipe.time()
                due_raw, (seconds, micros) = await pipe.execute()
        now_ms = seconds * 1000 + micros // 1000
        free_at = max(int(due_raw or 0), now_ms) + share.interval_ms * (1 - share.burst)
        if free_at > now_ms:
            await tally_refusal(self.client, event_id, "address_busy")
            raise self.address_busy(free_at, now_ms)

    def address_busy(self, free_at_ms: int, now_ms: int) -> FairdropError:
        """The 429 for a new entrant past its address's share (join.lua's address_busy)."""
        assert self.entrants_item is not None  # no share, no refusal
        wait = max(1, math.ceil((free_at_ms - now_ms) / 1000))
        return FairdropError(
            ErrorCode.ADDRESS_BUSY,
            f"too many new fans from your network address: at most "
            f"{_rate(self.entrants_item)} join this sale from one address; "
            f"try again in {wait} s (joining any time before the window closes "
            "gives the same chance in the draw)",
            retry_after_s=wait,
        )

    def open_socket(self, address: IPAddress | None) -> str:
        """Counts a socket of this address open in this process; its key, to close it with."""
        key = limit_key(address)
        if 0 < self.open_sockets_cap <= self._open_sockets[key]:
            raise FairdropError(
                ErrorCode.TOO_MANY_REQUESTS,
                f"{self.open_sockets_cap} sockets are open from your network address "
                "already: close one (another tab?) and try again",
            )
        self._open_sockets[key] += 1
        return key

    def close_socket(self, key: str) -> None:
        self._open_sockets[key] -= 1
        if self._open_sockets[key] <= 0:
            del self._open_sockets[key]
