"""Loads the event Lua scripts once and calls them by SHA.

Each script is ``_prelude.lua`` followed by its own file; redis-py's
``register_script`` sends EVALSHA and falls back to EVAL (which caches the
script) only when a server has not seen it yet, e.g. after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from importlib.resources import files
from typing import Any, Literal, TypeVar

import redis
import redis.asyncio

from fairdrop.connections import AsyncSaleRedis, SaleRedis
from fairdrop.redis_wire import Autopipeline
from queue_engine.keys import EventKeys

ScriptName = Literal[
    "create",
    "join",
    "queue_again",
    "tick",
    "snapshot",
    "record_digest",
    "finish_draw",
    "open_round",
    "round_draw",
    "set_paused",
    "set_access",
    "set_allowances",
    "steer",
    "reschedule",
    "delete_sale",
    "hold",
    "confirm",
    "release",
    "return_sold",
    "attach_payment",
    "restore_sale",
    "presale_hold",
    "add_presale",
    "resale_return",
    "add_discount",
    "stream_once",
]

# Which package owns each script: each package keeps its Lua beside its code.
_OWNER: dict[ScriptName, str] = {
    "create": "queue_engine",
    "join": "buffer",
    "queue_again": "buffer",
    "tick": "queue_engine",
    "snapshot": "queue_engine",
    "record_digest": "buffer",
    "finish_draw": "buffer",
    "open_round": "buffer",
    "round_draw": "buffer",
    "set_paused": "queue_engine",
    "set_access": "queue_engine",
    "set_allowances": "queue_engine",
    "steer": "queue_engine",
    "reschedule": "queue_engine",
    "delete_sale": "queue_engine",
    "hold": "purchase",
    "confirm": "purchase",
    "release": "purchase",
    "return_sold": "purchase",
    "attach_payment": "purchase",
    "restore_sale": "purchase",
    "presale_hold": "purchase",
    "add_presale": "purchase",
    "resale_return": "purchase",
    "add_discount": "purchase",
    "stream_once": "purchase",
}

ScriptArg = str | int | float
T = TypeVar("T")

# What a client meets while a master fails over: the dead node, the slot moved
# to the promoted replica, the cluster (or the old master) refusing meanwhile.
_FAILOVER_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.MovedError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.MasterDownError,
)

log = logging.getLogger("fairdrop.scripts")

# run_replicated: how long a write waits for a replica's copy; how many tries
# a call gets across a failover (a 1 s node timeout promotes in 2-3 s).
REPLICA_WAIT_MS = 1_000
# How long a master found with no replica is written to without WAIT before
# it is asked again (a replica may have been given to it meanwhile).
ALONE_RECHECK_S = 5.0
FAILOVER_ATTEMPTS = 12


# The lifecycle stream's length when no settings name one (Settings.lifecycle_stream_maxlen).
LIFECYCLE_MAXLEN = 100_000


@cache
def script_source(name: ScriptName, lifecycle_maxlen: int = LIFECYCLE_MAXLEN) -> str:
    """The prelude and the script; the prelude's record_change trims the
    sale's lifecycle stream to about ``lifecycle_maxlen`` entries."""
    prelude = files("queue_engine").joinpath("lua", "_prelude.lua").read_text("utf-8")
    body = files(_OWNER[name]).joinpath("lua", f"{name}.lua").read_text("utf-8")
    return f"local LIFECYCLE_MAXLEN = {int(lifecycle_maxlen)}\n{prelude}\n{body}"


class SyncScripts:
    """The event scripts on a blocking client (worker, clock, CLI)."""

    def __init__(self, client: SaleRedis, lifecycle_maxlen: int = LIFECYCLE_MAXLEN) -> None:
        self.client = client
        self._scripts = {
            name: client.register_script(script_source(name, lifecycle_maxlen)) for name in _OWNER
        }
        # Masters with no replica (by node name), until when WAIT is skipped there.
        self._alone_until: dict[str, float] = {}

    def run(
        self,
        name: ScriptName,
        event_id: str,
        *args: ScriptArg,
        pipeline: redis.client.Pipeline | None = None,
    ) -> Any:
        """Runs a script now, or queues it on ``pipeline`` (its answer comes from execute).

        Only a lone server's pipeline: it loads its scripts before it runs. For
        many calls on either kind of client, :meth:`run_many`.
        """
        script = self._scripts[name]
        keys = EventKeys(event_id).script_keys
        if pipeline is None and isinstance(self.client, redis.RedisCluster):
            return self._across_failover(name, event_id, lambda: script(keys=keys, args=list(args)))
        return script(keys=keys, args=list(args), client=pipeline)

    def run_many(
        self, name: ScriptName, event_id: str, arg_lists: Sequence[Sequence[ScriptArg]]
    ) -> list[Any]:
        """One script called with each ARGV in one round trip; answers in order.

        Every call names the event's slot, so on a cluster the pipeline goes to
        one master. A cluster pipeline does not load scripts first (a lone
        server's does): calls that met NOSCRIPT did not run, so they run again
        once the script is loaded on every master (at a process's first batch,
        and after a failover promoted a replica whose script cache is empty).
        """
        if not arg_lists:
            return []
        if not isinstance(self.client, redis.RedisCluster):
            pipe = self.client.pipeline(transaction=False)
            for args in arg_lists:
                self.run(name, event_id, *args, pipeline=pipe)
            return list(pipe.execute())
        return self._across_failover(
            name, event_id, lambda: self._run_many_on_cluster(name, event_id, arg_lists)
        )

    def _run_many_on_cluster(
        self, name: ScriptName, event_id: str, arg_lists: Sequence[Sequence[ScriptArg]]
    ) -> list[Any]:
        assert isinstance(self.client, redis.RedisCluster)
        script = self._scripts[name]
        keys = EventKeys(event_id).script_keys
        answers: list[Any] = [None] * len(arg_lists)
        todo = list(range(len(arg_lists)))
        for _attempt in range(2):
            cluster_pipe = self.client.pipeline(transaction=False)  # type: ignore[no-untyped-call]
            for i in todo:
                # EVALSHA by name: redis-py blocks the evalsha method on cluster pipelines.
                cluster_pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *arg_lists[i])
            results = cluster_pipe.execute(raise_on_error=False)
            missing = []
            for i, result in zip(todo, results, strict=True):
                if isinstance(result, redis.exceptions.NoScriptError):
                    missing.append(i)
                elif isinstance(result, Exception):
                    raise result
                else:
                    answers[i] = result
            if not missing:
                return answers
            self.client.script_load(script.script)  # every master
            todo = missing
        raise redis.exceptions.NoScriptError(f"{name}.lua not loaded on the cluster")

    def run_replicated(self, name: ScriptName, event_id: str, *args: ScriptArg) -> Any:
        """Runs a script and, on a cluster, returns only once a replica has its
        writes too (``WAIT 1``), or REPLICA_WAIT_MS passed (then logged).

        For the writes a failover must not lose: confirm.lua's sold tickets.
        Replication is asynchronous: a master killed after answering but before
        its replica copied the write would come back, as the promoted replica,
        with the tickets unsold, and sell them again. WAIT counts the writes of
        its own connection, so the script and the WAIT go down one connection
        to the slot's master, as one pipeline. The scripts given here answer a
        repeat the same (confirm.lua by hold id), so a call cut off by the
        failover is simply made again, on the new master.
        """
        if not isinstance(self.client, redis.RedisCluster):
            return self.run(name, event_id, *args)
        client = self.client
        keys = EventKeys(event_id).script_keys

        def once() -> Any:
            node = client.get_node_from_key(keys[0])  # type: ignore[no-untyped-call]
            master = client.get_redis_connection(node)
            if time.monotonic() < self._alone_until.get(node.name, 0.0):
                return self._scripts[name](keys=keys, args=list(args), client=master)
            pipe = master.pipeline(transaction=False)
            self._scripts[name](keys=keys, args=list(args), client=pipe)
            pipe.wait(1, REPLICA_WAIT_MS)
            answer, replicas = pipe.execute()
            if int(replicas) < 1:
                log.warning("%s.lua on %s: no replica has it yet", name, event_id)
                # A promoted replica whose old master is dead has no replica of
                # its own: no failover can lose its writes, and each WAIT would
                # only cost REPLICA_WAIT_MS (one confirm a second per worker).
                if master.info("replication").get("connected_slaves", 0) == 0:
                    self._alone_until[node.name] = time.monotonic() + ALONE_RECHECK_S
            return answer

        return self._across_failover(name, event_id, once)

    def _across_failover(self, name: ScriptName, event_id: str, call: Callable[[], T]) -> T:
        """``call`` again while a master fails over (about 2-3 s with the node
        timeout of launch/redis_cluster.py), the slot map learnt anew each time.
        A call cut off may have run: every event script answers a repeated
        call the same (hold.lua by request id, confirm.lua by hold id, join.lua
        by fan; two tick.lua steps admit what one would, invariant 4)."""
        assert isinstance(self.client, redis.RedisCluster)
        for attempt in range(FAILOVER_ATTEMPTS):
            try:
                return call()
            except _FAILOVER_ERRORS as error:
                if attempt + 1 == FAILOVER_ATTEMPTS:
                    raise
                log.info("%s.lua on %s: %s; trying again", name, event_id, error)
                time.sleep(min(1.0, 0.1 * 2**attempt))
                with contextlib.suppress(*_FAILOVER_ERRORS):
                    self.client.nodes_manager.initialize()
        raise AssertionError("unreachable")


class AsyncScripts:
    """The event scripts on an asyncio client (web processes)."""

    def __init__(self, client: AsyncSaleRedis, lifecycle_maxlen: int = LIFECYCLE_MAXLEN) -> None:
        self.client = client
        self._scripts = {
            name: client.register_script(script_source(name, lifecycle_maxlen)) for name in _OWNER
        }
        # On a lone Redis, the calls of one pass of the loop go as one pipeline.
        self._pipelined = (
            None if isinstance(client, redis.asyncio.RedisCluster) else Autopipeline(client)
        )

    def run(self, name: ScriptName, event_id: str, *args: ScriptArg) -> Awaitable[Any]:
        script = self._scripts[name]
        if isinstance(self.client, redis.asyncio.RedisCluster):
            keys = EventKeys(event_id).script_keys
            return self._across_failover(name, event_id, keys, list(args))
        return self._evalsha(script, EventKeys(event_id).script_keys_bytes, args)

    async def _evalsha(
        self,
        script: redis.commands.core.AsyncScript,
        keys: tuple[bytes, ...],
        args: Sequence[ScriptArg],
    ) -> Any:
        """What ``script(keys=..., args=...)`` does on one Redis, shorter.

        The join's one round trip, without redis-py's Script call and
        ``evalsha`` wrapper (argument tuples, a pipeline check), sent with the
        other calls of the same pass of the loop (fairdrop/redis_wire.py
        Autopipeline). A server that has not seen the script (restarted empty)
        is given it, as redis-py would.
        """
        assert self._pipelined is not None
        try:
            return await self._pipelined.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            script.sha = await self.client.script_load(script.script)
            return await self._pipelined.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    async def _across_failover(
        self, name: ScriptName, event_id: str, keys: list[str], args: list[ScriptArg]
    ) -> Any:
        """As :meth:`SyncScripts._across_failover`, without blocking the loop."""
        assert isinstance(self.client, redis.asyncio.RedisCluster)
        for attempt in range(FAILOVER_ATTEMPTS):
            try:
                return await self._scripts[name](keys=keys, args=args)
            except _FAILOVER_ERRORS as error:
                if attempt + 1 == FAILOVER_ATTEMPTS:
                    raise
                log.info("%s.lua on %s: %s; trying again", name, event_id, error)
                await asyncio.sleep(min(1.0, 0.1 * 2**attempt))
                with contextlib.suppress(*_FAILOVER_ERRORS):
                    await self.client.nodes_manager.initialize()
        raise AssertionError("unreachable")
