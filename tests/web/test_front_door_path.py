"""The fresh-fan join's shortcuts write exactly what the longer ways wrote.

Each shortcut on the join path (loadtests/RESULTS.md, "Fresh-fan joins made
cheaper") is checked against what it replaced: the session cookie against
Starlette's ``set_cookie`` and itsdangerous's ``dumps``, the Redis command
packer against redis-py's, the Edge's header reading against Starlette's
``Headers``, the join route's place first against every other route, and the
shorter EVALSHA call against a Redis that forgot its scripts.
"""

from __future__ import annotations

import redis.asyncio.connection
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Match, Route

from fairdrop.connections import async_redis
from fairdrop.identity import Identity
from fairdrop.redis_wire import OneJoinConnection
from fairdrop.settings import Settings
from fairdrop.tokens import FAN_COOKIE, Session, Signer, anonymous_identity
from queue_engine.keys import EventKeys
from queue_engine.scripts import AsyncScripts
from web.app import create_app
from web.auth import set_session_cookie
from web.edge import _host_and_origin


def test_the_session_cookie_is_the_one_starlette_and_itsdangerous_wrote() -> None:
    signer = Signer("a secret key for the cookie test, long enough")
    identities = [anonymous_identity(), Identity("email", "zoë@example.org", "")]
    for identity in identities:
        for secure in (False, True):
            session = signer.new_session(identity, 6 * 3600)
            ours = Response()
            set_session_cookie(ours, signer, Settings(cookie_secure=secure), session)
            token = signer._session.dumps(_payload(session))
            if token.startswith("."):  # itsdangerous compressed it: rare, and ours never is
                continue
            theirs = Response()
            theirs.set_cookie(
                FAN_COOKIE, token, max_age=6 * 3600, httponly=True, samesite="lax", secure=secure
            )
            assert ours.raw_headers == theirs.raw_headers
            assert signer.session_from_cookie(signer.sign_session(session)) == session


def _payload(session: Session) -> list[str | int]:
    i = session.identity
    return [i.kind, i.scope, i.subject, session.issued_at, session.expires_at]


def test_a_session_itsdangerous_would_compress_is_signed_plain_and_both_forms_read() -> None:
    """itsdangerous keeps zlib's form of a payload when it is shorter; the session
    skips the attempt (fairdrop/tokens.py). Both forms are one session."""
    signer = Signer("a secret key for the cookie test, long enough")
    session = signer.new_session(Identity("email", "a" * 40 + "@example.org", ""), 3600)
    compressed = signer._session.dumps(_payload(session))
    plain = signer.sign_session(session)
    assert compressed.startswith(".") and not plain.startswith(".")
    assert signer._session.loads(plain) == signer._session.loads(compressed) == _payload(session)
    assert signer.session_from_cookie(plain) == signer.session_from_cookie(compressed) == session


def test_the_command_packer_writes_the_bytes_redis_py_writes() -> None:
    keys = [key.encode() for key in EventKeys("e1").script_keys]
    commands: list[tuple[bytes | memoryview | str | int | float, ...]] = [
        ("EVALSHA", "ab" * 20, len(keys), *keys, 0, "fan", "open", "", "127.0.0.1", 100, 5, 1),
        ("CONFIG GET", "maxmemory"),
        (b"CLIENT SETNAME", "x"),
        ("SET", "k", "zoë" * 3, 1.5),
        ("SET", "k", b"x" * 7000),  # past redis-py's cut-off: redis-py's own pieces
        ("SET", "k", memoryview(b"abc")),
        ("PING",),
    ]
    theirs, ours = redis.asyncio.connection.Connection(), OneJoinConnection()
    for command in commands:
        expected = b"".join(bytes(p) for p in theirs.pack_command(*command))
        assert b"".join(bytes(p) for p in ours.pack_command(*command)) == expected


def test_the_edge_reads_host_and_origin_as_starlette_does() -> None:
    cases = [
        [],
        [(b"host", b"a.example:8000")],
        [(b"host", b""), (b"origin", b"https://b.example")],
        [(b"origin", b"null"), (b"host", b"x"), (b"host", b"y"), (b"origin", b"z")],
        [(b"user-agent", b"curl"), (b"origin", "https://é.example".encode("latin-1"))],
    ]
    for raw in cases:
        headers = Headers(raw=raw)
        expected = (headers.get("host", ""), headers.get("origin"))
        assert _host_and_origin({"type": "http", "headers": raw}) == expected


def test_the_join_route_comes_first_and_no_other_route_takes_its_paths() -> None:
    app = create_app(Settings(secret_key="route test"))
    first, *others = app.router.routes
    assert isinstance(first, Route) and first.path == "/api/events/{event_id}/join"
    for path in ["/api/events/e1/join", "/api/events/join/join", "/api/events/%00/join"]:
        for method in ["POST", "GET", "PUT", "DELETE"]:
            scope = {"type": "http", "path": path, "method": method, "root_path": ""}
            assert first.matches(scope)[0] is not Match.NONE
            assert all(route.matches(scope)[0] is Match.NONE for route in others)


async def test_a_redis_that_forgot_the_scripts_is_given_them_again(redis_url: str) -> None:
    client = async_redis(Settings(redis_url=redis_url))
    try:
        scripts = AsyncScripts(client)
        first = await scripts.run("snapshot", "no-such-event")
        await client.script_flush()
        assert await scripts.run("snapshot", "no-such-event") == first
        assert await client.script_exists(scripts._scripts["snapshot"].sha) == [True]
    finally:
        await client.aclose()
