"""How uvicorn serves fairdrop's web process: the options past the app and the address."""

from __future__ import annotations

from typing import Any

from fairdrop.settings import Settings


def web_server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves fairdrop, past the app and the address: for ``fairdrop
    web`` and for a harness that runs the app in-process the same way."""
    from web.slow_clients import deadline_protocol
    from web.socket_protocol import LeanWebSocketProtocol

    return {
        # Off, as warning level leaves it: otherwise uvicorn still builds each
        # line's arguments (the client's address, the quoted path) on every answer.
        "access_log": False,
        # X-Forwarded-For is read by fairdrop alone, believed only from
        # FAIRDROP_TRUSTED_PROXIES (web/client_address.py): uvicorn's own
        # reading would trust 127.0.0.1 whatever the settings say.
        "proxy_headers": False,
        # uvloop by name in every worker (no silent fallback to asyncio's loop), and
        # the collector tuned for serving: about 17 % less CPU a join (launch/web_loop.py).
        "loop": "launch.web_loop:web_loop",
        # uvicorn's httptools protocol with a deadline and a size cap for each
        # request's head, which uvicorn itself lacks (web/slow_clients.py).
        "http": deadline_protocol(settings),
        # Larger than our own per-message limit, so the app can answer an
        # oversized message with a JSON error before closing.
        "ws_max_size": max(65_536, settings.max_ws_message_bytes * 4),
        "ws_ping_interval": 20,
        # uvicorn's websockets-sansio protocol, holding less per open socket
        # (web/socket_protocol.py). Not wsproto, which holds a little less
        # still but costs more CPU per message sent, and every broadcast is
        # one send per fan.
        "ws": LeanWebSocketProtocol,
        # No permessage-deflate: a compressor per socket cost memory and CPU per
        # fan (live-fans bench), and one shared text is sent to every fan as is.
        "ws_per_message_deflate": False,
        # Longer than clients' idle pools: a close racing a request that already
        # arrived showed up as dropped connections under load (locust runs).
        "timeout_keep_alive": settings.keep_alive_seconds,
        # Counts websockets too: a cap must sit above the sockets a process holds.
        "limit_concurrency": settings.limit_concurrency or None,
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
        "backlog": 4096,
    }
