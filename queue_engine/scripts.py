"""Loads the event Lua scripts once and calls them by SHA.

Each script is ``_prelude.lua`` followed by its own file; redis-py's
``register_script`` sends EVALSHA and falls back to EVAL (which caches the
script) only when a server has not seen it yet, e.g. after a restart.
"""

from __future__ import annotations

from collections.abc import Awaitable
from functools import cache
from importlib.resources import files
from typing import Any, Literal, cast

import redis
import redis.asyncio

from queue_engine.keys import EventKeys

ScriptName = Literal[
    "create",
    "join",
    "tick",
    "snapshot",
    "record_digest",
    "finish_draw",
    "set_paused",
    "set_access",
    "set_allowances",
    "hold",
    "confirm",
    "release",
    "return_sold",
    "attach_payment",
    "restore_sale",
    "presale_hold",
    "add_presale",
]

# Which package owns each script: each package keeps its Lua beside its code.
_OWNER: dict[ScriptName, str] = {
    "create": "queue_engine",
    "join": "buffer",
    "tick": "queue_engine",
    "snapshot": "queue_engine",
    "record_digest": "buffer",
    "finish_draw": "buffer",
    "set_paused": "queue_engine",
    "set_access": "queue_engine",
    "set_allowances": "queue_engine",
    "hold": "purchase",
    "confirm": "purchase",
    "release": "purchase",
    "return_sold": "purchase",
    "attach_payment": "purchase",
    "restore_sale": "purchase",
    "presale_hold": "purchase",
    "add_presale": "purchase",
}

ScriptArg = str | int | float


@cache
def script_source(name: ScriptName) -> str:
    prelude = files("queue_engine").joinpath("lua", "_prelude.lua").read_text("utf-8")
    body = files(_OWNER[name]).joinpath("lua", f"{name}.lua").read_text("utf-8")
    return f"{prelude}\n{body}"


class SyncScripts:
    """The event scripts on a blocking client (worker, clock, CLI)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._scripts = {name: client.register_script(script_source(name)) for name in _OWNER}

    def run(
        self,
        name: ScriptName,
        event_id: str,
        *args: ScriptArg,
        pipeline: redis.client.Pipeline | None = None,
    ) -> Any:
        """Runs a script now, or queues it on ``pipeline`` (its answer comes from execute)."""
        script = self._scripts[name]
        return script(keys=EventKeys(event_id).script_keys, args=list(args), client=pipeline)


class AsyncScripts:
    """The event scripts on an asyncio client (web processes)."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self._scripts = {name: client.register_script(script_source(name)) for name in _OWNER}

    def run(self, name: ScriptName, event_id: str, *args: ScriptArg) -> Awaitable[Any]:
        script = self._scripts[name]
        return cast(Awaitable[Any], script(keys=EventKeys(event_id).script_keys, args=list(args)))
