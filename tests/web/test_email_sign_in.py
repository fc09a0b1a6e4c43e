"""Email sign-in end to end: a fan asks for a link, the worker mails it with a
six-digit code through a real SMTP server on loopback (aiosmtpd), and the link
or the code signs that browser in as the address; an ``email`` sale then lets
the fan in. Every refusal is checked to set no cookie and use nothing up.

The stack here is this module's own, with SMTP settings.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from fairdrop.errors import ErrorCode
from fairdrop.identity import email_identity
from fairdrop.tokens import FAN_COOKIE, Signer, SignInLink
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.smtp_server import Delivered, SmtpServer
from tests.web.fans import Crowd, Fan, expect_error, open_sale
from web.email_sign_in import CHALLENGES_PER_ADDRESS, WRONG_CODES_ALLOWED
from web.sign_in_keys import address_key, challenge_key

SENDER = "sign-in@fairdrop.test"
WAIT_S = 10.0
LIFETIME_S = 600  # FAIRDROP_SIGN_IN_MINUTES' default
LINK = re.compile(r"(\S+/sign-in/email/[A-Za-z0-9_.-]+)")
CODE = re.compile(r"type this code on the device where you asked: ([0-9]{6})")


# This module's own stack, with SMTP settings; tests/web/conftest.py's crowd
# fixture makes its fans here.
@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer
) -> Iterator[LiveStack]:
    with running_stack(
        postgres_server,
        tmp_path_factory.mktemp("sign-in-stack"),
        **smtp.stack_settings(SENDER),
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
def store(live_stack: LiveStack) -> Iterator[redis.Redis]:
    """The stack's Redis, to look at what a sign-in keeps."""
    with redis.Redis.from_url(live_stack.settings.redis_url or "") as client:
        yield client


@dataclass(frozen=True)
class Mailed:
    """One sign-in as its email tells it: the challenge, the link (a path here) and the code."""

    challenge: str
    link: str
    code: str
    delivered: Delivered

    @property
    def token(self) -> str:
        return self.link.rsplit("/", 1)[1]


async def ask_to_sign_in(
    stack: LiveStack, smtp: SmtpServer, typed: str, mailbox: str, **body: Any
) -> Mailed:
    """Asks for a sign-in as ``typed``; the link and code that reach ``mailbox``."""
    before = len(smtp.mailbox.to(mailbox))
    response = await Fan(stack, "").request(
        "POST", "/api/sign-in/email", json={"email": typed, **body}
    )
    assert response.status_code == 202, response.text
    assert "set-cookie" not in response.headers
    answer = response.json()
    assert set(answer) == {"challenge", "expires_in"} and answer["expires_in"] == LIFETIME_S
    delivered = await asyncio.to_thread(smtp.mailbox.wait_for, mailbox, before + 1, WAIT_S)
    mail = delivered[before]
    text = mail.message.get_body(("plain",))
    assert text is not None
    content = text.get_content()
    link, code = LINK.search(content), CODE.search(content)
    assert link is not None and code is not None, content
    assert link[1].startswith(f"{stack.base_url}/sign-in/email/"), link[1]
    # The email names its challenge, so a retried send shows once in a mail client.
    assert mail.message["Message-ID"] == f"<sign-in-{answer['challenge']}@fairdrop.test>"
    return Mailed(answer["challenge"], link[1].removeprefix(stack.base_url), code[1], mail)


def refused(response: httpx.Response, code: ErrorCode) -> dict[str, str]:
    """The documented refusal, and no session for the browser."""
    error = expect_error(response, code)
    assert "set-cookie" not in response.headers, response.headers
    return error


def keep_session(fan: Fan, response: httpx.Response) -> None:
    """Keeps the session cookie a sign-in set, as the browser would."""
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{FAN_COOKIE}=") and "HttpOnly" in cookie, cookie
    assert "samesite=lax" in cookie.lower(), cookie
    fan.cookie = response.cookies[FAN_COOKIE]


async def enter_code(fan: Fan, challenge: str, code: str) -> httpx.Response:
    return await fan.request(
        "POST", "/api/sign-in/email/code", json={"challenge": challenge, "code": code}
    )


async def session_of(fan: Fan) -> dict[str, Any]:
    response = await fan.request("GET", "/api/session")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    session: dict[str, Any] = response.json()
    return session


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_a_link_signs_in_and_two_devices_of_one_mailbox_are_one_entrant(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer
) -> None:
    event_id = open_sale(live_stack, access="email")
    phone = crowd.fan(event_id)
    refused(await phone.request("POST", phone.path("/join")), ErrorCode.SIGN_IN_REQUIRED)

    # The mail goes to the mailbox the identity names, whatever the spelling typed.
    typed = "Ada.Lovelace+drops@GMail.com"
    mail = await ask_to_sign_in(
        live_stack, smtp, typed, "adalovelace@gmail.com", next=f"/e/{event_id}"
    )
    assert mail.delivered.mail_from == SENDER
    assert mail.delivered.message["To"] == "adalovelace@gmail.com"
    opened = await phone.request("GET", mail.link)
    assert opened.status_code == 303, opened.text
    assert opened.headers["location"] == f"/e/{event_id}"
    keep_session(phone, opened)
    assert await session_of(phone) == {
        "signed_in": True,
        "kind": "email",
        "display": "adalovelace@gmail.com",
    }
    on_phone = await phone.join()

    # The laptop spells the address another way and signs in on its own.
    laptop = crowd.fan(event_id)
    mail = await ask_to_sign_in(
        live_stack, smtp, "ADA.LOVE.LACE@gmail.com", "adalovelace@gmail.com"
    )
    opened = await laptop.request("GET", mail.link)
    assert opened.status_code == 303 and opened.headers["location"] == "/", opened.text
    keep_session(laptop, opened)
    on_laptop = await laptop.join()
    assert on_laptop["entrant_id"] == on_phone["entrant_id"]
    assert on_laptop["number"] == on_phone["number"]

    # Someone else is someone else: the next place, another entrant.
    grace = crowd.fan(event_id)
    mail = await ask_to_sign_in(live_stack, smtp, "grace@example.test", "grace@example.test")
    keep_session(grace, await enter_code(grace, mail.challenge, mail.code))
    on_grace = await grace.join()
    assert on_grace["entrant_id"] != on_phone["entrant_id"]
    assert on_grace["number"] == on_phone["number"] + 1


async def test_the_code_signs_in_a_browser_that_never_saw_the_link(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer
) -> None:
    event_id = open_sale(live_stack, access="email")
    desktop = crowd.fan(event_id)
    mail = await ask_to_sign_in(live_stack, smtp, "Code.Fan@Example.test", "code.fan@example.test")
    entered = await enter_code(desktop, mail.challenge, mail.code)
    assert entered.status_code == 200, entered.text
    assert entered.json() == {"signed_in_as": "code.fan@example.test"}
    keep_session(desktop, entered)
    assert (await session_of(desktop))["display"] == "code.fan@example.test"
    entry = await desktop.join()
    assert entry["number"] >= 1

    # Used up: the same code again, and the link, sign nobody in.
    other = crowd.fan(event_id)
    refused(await enter_code(other, mail.challenge, mail.code), ErrorCode.SIGN_IN_USED)
    refused(await other.request("GET", mail.link), ErrorCode.SIGN_IN_USED)
    assert (await session_of(other))["signed_in"] is False


async def test_a_link_works_once_and_then_its_code_is_used_too(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer
) -> None:
    mail = await ask_to_sign_in(live_stack, smtp, "once@example.test", "once@example.test")
    first = crowd.fan("")
    # A link checker's HEAD looks without using it up.
    looked = await first.request("HEAD", mail.link)
    assert looked.status_code == 204 and "set-cookie" not in looked.headers, looked.headers
    opened = await first.request("GET", mail.link)
    assert opened.status_code == 303, opened.text
    second = crowd.fan("")
    refused(await second.request("GET", mail.link), ErrorCode.SIGN_IN_USED)
    refused(await enter_code(second, mail.challenge, mail.code), ErrorCode.SIGN_IN_USED)


async def test_clicks_and_codes_at_the_same_instant_sign_in_once(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer
) -> None:
    mail = await ask_to_sign_in(live_stack, smtp, "race@example.test", "race@example.test")
    browsers = [crowd.fan("") for _ in range(16)]
    answers = await asyncio.gather(
        *(b.request("GET", mail.link) for b in browsers[:8]),
        *(enter_code(b, mail.challenge, mail.code) for b in browsers[8:]),
    )
    signed_in = [a for a in answers if a.status_code in (200, 303)]
    assert len(signed_in) == 1, [a.status_code for a in answers]
    for answer in answers:
        if answer not in signed_in:
            refused(answer, ErrorCode.SIGN_IN_USED)


async def test_five_wrong_codes_close_the_sign_in(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer, store: redis.Redis
) -> None:
    mail = await ask_to_sign_in(live_stack, smtp, "guessed@example.test", "guessed@example.test")
    guesser = crowd.fan("")
    for left in range(WRONG_CODES_ALLOWED - 1, 0, -1):
        error = refused(
            await enter_code(guesser, mail.challenge, wrong(mail.code)), ErrorCode.WRONG_CODE
        )
        assert f"{left} tries left" in error["message"], error
    error = refused(
        await enter_code(guesser, mail.challenge, wrong(mail.code)), ErrorCode.WRONG_CODE
    )
    assert "last try" in error["message"], error

    # Closed: the right code and the link no longer sign anyone in.
    refused(await enter_code(guesser, mail.challenge, mail.code), ErrorCode.TOO_MANY_ATTEMPTS)
    refused(await crowd.fan("").request("GET", mail.link), ErrorCode.TOO_MANY_ATTEMPTS)
    assert store.hget(challenge_key(mail.challenge), "wrong") == str(WRONG_CODES_ALLOWED).encode()


async def test_guesses_at_the_same_instant_get_five_tries_between_them(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer
) -> None:
    mail = await ask_to_sign_in(live_stack, smtp, "swarm@example.test", "swarm@example.test")
    guesses = [c for c in (f"{i:06d}" for i in range(13)) if c != mail.code][:12]
    guesser = crowd.fan("")
    answers = await asyncio.gather(*(enter_code(guesser, mail.challenge, c) for c in guesses))
    codes = [a.json()["error"]["code"] for a in answers]
    assert codes.count(ErrorCode.WRONG_CODE.value) == WRONG_CODES_ALLOWED, codes
    assert codes.count(ErrorCode.TOO_MANY_ATTEMPTS.value) == len(guesses) - WRONG_CODES_ALLOWED
    assert all("set-cookie" not in a.headers for a in answers)
    refused(await enter_code(guesser, mail.challenge, mail.code), ErrorCode.TOO_MANY_ATTEMPTS)


async def test_forged_foreign_and_expired_links_are_refused_and_use_nothing(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer
) -> None:
    address = "careful@example.test"
    mail = await ask_to_sign_in(live_stack, smtp, address, address)
    ours = Signer(live_stack.settings.secret_key)
    later = int(time.time()) + 300
    # A character inside the signature: the last one's low bits are base64
    # padding, so changing only those can leave the signature's bytes as they were.
    tampered = mail.token[:-5] + ("A" if mail.token[-5] != "A" else "B") + mail.token[-4:]
    session = ours.new_session(email_identity(address), 3600)
    links: dict[str, tuple[str, ErrorCode]] = {
        "not a token": ("not-a-token", ErrorCode.INVALID_LINK),
        "a tampered signature": (tampered, ErrorCode.INVALID_LINK),
        "another server's key": (
            Signer("another-key").sign_sign_in_link(SignInLink(mail.challenge, address, later)),
            ErrorCode.INVALID_LINK,
        ),
        # Same key, another purpose: the salts keep tokens apart.
        "a session cookie": (ours.sign_session(session), ErrorCode.INVALID_LINK),
        "an expiry that is not a time": (
            ours.sign_sign_in_link(SignInLink(mail.challenge, address, True)),
            ErrorCode.INVALID_LINK,
        ),
        "far too long": ("A" * 2_000, ErrorCode.INVALID_LINK),
        "expired": (
            ours.sign_sign_in_link(SignInLink(mail.challenge, address, int(time.time()) - 1)),
            ErrorCode.LINK_EXPIRED,
        ),
        # Signed and live, but Redis has no such challenge (expired, or lost).
        "an unknown challenge": (
            ours.sign_sign_in_link(SignInLink(secrets.token_urlsafe(16), address, later)),
            ErrorCode.LINK_EXPIRED,
        ),
    }
    browser = crowd.fan("")
    for name, (token, code) in links.items():
        error = refused(await browser.request("GET", f"/sign-in/email/{token}"), code)
        assert "link" in error["message"], (name, error)
    assert (await session_of(browser))["signed_in"] is False

    # Nothing was used up: the real link still signs in.
    opened = await browser.request("GET", mail.link)
    assert opened.status_code == 303, opened.text


BAD_ASKS: dict[str, tuple[dict[str, Any], ErrorCode]] = {
    "not JSON": (
        {"content": b"{email", "headers": {"content-type": "application/json"}},
        ErrorCode.MALFORMED_JSON,
    ),
    "a JSON list": ({"json": ["bad.ask@example.test"]}, ErrorCode.INVALID_FIELD),
    "no email": ({"json": {}}, ErrorCode.INVALID_FIELD),
    "not an address": ({"json": {"email": "bad.ask"}}, ErrorCode.INVALID_FIELD),
    "no dot in the domain": ({"json": {"email": "bad.ask@localhost"}}, ErrorCode.INVALID_FIELD),
    "header injection": (
        {"json": {"email": "bad.ask@example.test\r\nBcc: thief@example.test"}},
        ErrorCode.INVALID_FIELD,
    ),
    "two recipients": (
        {"json": {"email": "bad.ask@example.test, thief@example.test"}},
        ErrorCode.INVALID_FIELD,
    ),
    "a number": ({"json": {"email": 42}}, ErrorCode.INVALID_FIELD),
    "too large": (
        {"json": {"email": "bad.ask@example.test", "pad": "x" * 20_000}},
        ErrorCode.BODY_TOO_LARGE,
    ),
    **{
        f"next {name}": ({"json": {"email": "bad.ask@example.test", "next": nxt}}, code)
        for name, nxt, code in [
            ("to another host", "//evil.example", ErrorCode.INVALID_FIELD),
            ("to another site", "https://evil.example", ErrorCode.INVALID_FIELD),
            ("with a backslash", "/\\evil.example", ErrorCode.INVALID_FIELD),
            ("relative", "evil.example", ErrorCode.INVALID_FIELD),
            ("with a header", "/e/x\r\nSet-Cookie: a=b", ErrorCode.INVALID_FIELD),
            ("not a string", 42, ErrorCode.INVALID_FIELD),
            ("too long", "/" + "a" * 600, ErrorCode.INVALID_FIELD),
        ]
    },
}
BAD_CODES: dict[str, tuple[dict[str, Any], ErrorCode]] = {
    "not JSON": (
        {"content": b"{challenge", "headers": {"content-type": "application/json"}},
        ErrorCode.MALFORMED_JSON,
    ),
    "no challenge": ({"json": {"code": "123456"}}, ErrorCode.INVALID_FIELD),
    "no code": ({"json": {"challenge": "A" * 22}}, ErrorCode.INVALID_FIELD),
    "a short challenge": (
        {"json": {"challenge": "abc", "code": "123456"}},
        ErrorCode.INVALID_FIELD,
    ),
    "five digits": ({"json": {"challenge": "A" * 22, "code": "12345"}}, ErrorCode.INVALID_FIELD),
    "letters": ({"json": {"challenge": "A" * 22, "code": "abcdef"}}, ErrorCode.INVALID_FIELD),
    "a number": ({"json": {"challenge": "A" * 22, "code": 123456}}, ErrorCode.INVALID_FIELD),
}


async def test_bad_requests_are_refused_set_no_cookie_and_send_nothing(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer, store: redis.Redis
) -> None:
    browser = crowd.fan("")
    sent_before = len(smtp.mailbox.delivered)
    for name, (body, code) in BAD_ASKS.items():
        error = refused(await browser.request("POST", "/api/sign-in/email", **body), code)
        assert error["message"], name
    for name, (body, code) in BAD_CODES.items():
        error = refused(await browser.request("POST", "/api/sign-in/email/code", **body), code)
        assert error["message"], name
    unknown = secrets.token_urlsafe(16)
    refused(await enter_code(browser, unknown, "123456"), ErrorCode.UNKNOWN_SIGN_IN)
    # A guess at a challenge that does not exist does not make one.
    assert not store.exists(challenge_key(unknown))
    assert not store.exists(address_key("bad.ask@example.test"))

    # The one worker sends in order: once a good ask's email is in, any email a
    # bad ask had queued before it would be in too.
    await ask_to_sign_in(live_stack, smtp, "after.bad@example.test", "after.bad@example.test")
    assert len(smtp.mailbox.delivered) == sent_before + 1
    assert smtp.mailbox.to("bad.ask@example.test") == []
    assert (await session_of(browser))["signed_in"] is False


async def test_every_address_gets_the_same_answer_until_it_asks_too_often(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer
) -> None:
    spellings = ["often@example.test", "Often@Example.TEST", " OFTEN@example.test "]
    for i in range(CHALLENGES_PER_ADDRESS):
        await ask_to_sign_in(live_stack, smtp, spellings[i % 3], "often@example.test")
    asking = crowd.fan("")
    too_many = await asking.request("POST", "/api/sign-in/email", json={"email": spellings[1]})
    refused(too_many, ErrorCode.TOO_MANY_SIGN_INS)
    # Another address is not held back by this one.
    await ask_to_sign_in(live_stack, smtp, "patient@example.test", "patient@example.test")
    assert len(smtp.mailbox.to("often@example.test")) == CHALLENGES_PER_ADDRESS


async def test_a_challenge_keeps_a_keyed_digest_not_the_code_and_ends_with_its_link(
    live_stack: LiveStack, smtp: SmtpServer, store: redis.Redis
) -> None:
    mail = await ask_to_sign_in(live_stack, smtp, "kept@example.test", "kept@example.test")
    kept = store.hgetall(challenge_key(mail.challenge))
    assert kept[b"email"] == b"kept@example.test"
    assert kept[b"state"] == b"open"
    assert mail.code.encode() not in kept.values()
    digest = kept[b"code"]
    assert isinstance(digest, bytes) and re.fullmatch(rb"[0-9a-f]{64}", digest)
    assert LIFETIME_S - 5 <= store.ttl(challenge_key(mail.challenge)) <= LIFETIME_S


async def test_the_session_says_who_is_signed_in_and_sign_out_forgets_it(
    live_stack: LiveStack, crowd: Crowd, smtp: SmtpServer
) -> None:
    nobody = crowd.fan("")
    assert await session_of(nobody) == {"signed_in": False, "kind": None, "display": None}

    anonymous = crowd.fan(open_sale(live_stack))
    await anonymous.join()
    assert await session_of(anonymous) == {"signed_in": False, "kind": "anon", "display": None}

    fan = crowd.fan("")
    mail = await ask_to_sign_in(live_stack, smtp, "leaving@example.test", "leaving@example.test")
    keep_session(fan, await enter_code(fan, mail.challenge, mail.code))
    assert (await session_of(fan))["signed_in"] is True
    left = await fan.request("POST", "/api/sign-out")
    assert left.status_code == 200, left.text
    assert left.json() == {"signed_in": False, "kind": None, "display": None}
    cleared = left.headers["set-cookie"].lower()
    assert cleared.startswith(f"{FAN_COOKIE}=") and "max-age=0" in cleared, cleared
    fan.cookie = ""
    assert (await session_of(fan))["signed_in"] is False


def test_no_link_or_address_reaches_a_log(live_stack: LiveStack, smtp: SmtpServer) -> None:
    # Runs after the sign-ins above: web, worker and clock have logged their work.
    logs = sorted((live_stack.settings.data_dir / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"web", "clock", "worker-0"}
    mails = smtp.mailbox.delivered
    assert mails, "the tests above sent sign-in emails"
    secrets_ = {address for mail in mails for address in mail.rcpt_tos}
    for mail in mails:
        text = mail.message.get_body(("plain",))
        assert text is not None
        link = LINK.search(text.get_content())
        assert link is not None
        secrets_.add(link[1].rsplit("/", 1)[1])
    for path in logs:
        content = path.read_text(errors="replace")
        assert not [s for s in secrets_ if s in content], path
