"""The web package's own Lua scripts (``web/lua/*.lua``), loaded once per Redis client.

The event scripts are queue_engine's and purchase's (queue_engine/scripts.py,
built once in the lifespan). The few scripts the web layer owns, keyed on
things that are not a sale (a sign-in challenge), are registered here the
first time a client runs them: redis-py then calls them by SHA and sends the
source again only to a server that has not seen it (after a restart).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Literal
from weakref import WeakKeyDictionary

from redis.commands.core import AsyncScript

from fairdrop.connections import AsyncSaleRedis

WebScriptName = Literal["use_sign_in"]

# Weak: a client closed and dropped takes its registrations with it.
_registered: WeakKeyDictionary[AsyncSaleRedis, dict[WebScriptName, AsyncScript]] = (
    WeakKeyDictionary()
)


@cache
def script_source(name: WebScriptName) -> str:
    return files("web").joinpath("lua", f"{name}.lua").read_text("utf-8")


def web_script(client: AsyncSaleRedis, name: WebScriptName) -> AsyncScript:
    scripts = _registered.setdefault(client, {})
    if name not in scripts:
        scripts[name] = client.register_script(script_source(name))
    return scripts[name]
