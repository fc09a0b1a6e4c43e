"""The organiser's blocklist: addresses and blocks whose fans may not act at all.

``GET /api/blocklist`` and ``PUT /api/blocklist`` (``{"entries": [...]}``,
the whole list each time) with the organiser token, while a sale runs. The
list lives in Redis (web/rate_limits.py BLOCKLIST_KEY) and every web process
reads it again within about a second; a blocked address gets 403 ``blocked``
on joins, holds, payments, sign-ins, presale holds and sockets, never on the
organiser's API or the pages.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from web.auth import require_organiser
from web.client_address import MAX_NETWORK_CHARS, network_text, parse_network
from web.context import context_of
from web.rate_limits import read_blocklist, write_blocklist
from web.validation import invalid, read_json_object, required

# Each web process checks every request against the list, by prefix length
# (web/client_address.py Networks), so its size costs memory, not time.
MAX_ENTRIES = 10_000
# The longest list, each entry quoted and followed by ", ", with room to spare.
MAX_BODY_BYTES = MAX_ENTRIES * (MAX_NETWORK_CHARS + 6) + 1_024


def blocklist_entries(body: dict[str, Any]) -> list[str]:
    """The entries of a PUT body, normalised, each once, in the organiser's order."""
    unknown = sorted(set(body) - {"entries"})
    if unknown:
        raise invalid(f"unknown field(s) {', '.join(unknown)}: the body is {{'entries': [...]}}")
    entries = required(body, "entries")
    if not isinstance(entries, list):
        raise invalid("entries must be a list of IP addresses and CIDR blocks")
    if len(entries) > MAX_ENTRIES:
        raise invalid(f"entries may have at most {MAX_ENTRIES} addresses and blocks")
    kept: dict[str, None] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, str):
            raise invalid(f"entries[{i}] must be a string: an IP address or CIDR block")
        try:
            network = parse_network(entry)
        except ValueError as exc:
            raise invalid(f"entries[{i}]: {exc}") from None
        kept.setdefault(network_text(network), None)
    return list(kept)


async def show_blocklist(request: Request) -> JSONResponse:
    ctx = context_of(request)
    require_organiser(request, ctx.settings.organiser_token)
    return JSONResponse({"entries": await read_blocklist(ctx.client)})


async def replace_blocklist(request: Request) -> JSONResponse:
    """Replaces the whole list; an empty list blocks nobody."""
    ctx = context_of(request)
    require_organiser(request, ctx.settings.organiser_token)
    entries = blocklist_entries(await read_json_object(request, MAX_BODY_BYTES))
    await write_blocklist(ctx.client, entries)
    # This process at once; the others at their next look, within a second.
    ctx.limits.blocklist.forget()
    return JSONResponse({"entries": entries})


routes = [
    Route("/api/blocklist", show_blocklist, methods=["GET"]),
    Route("/api/blocklist", replace_blocklist, methods=["PUT"]),
]
