"""How the demo's fans get in when a sale asks who they are (``fairdrop demo --access``).

Every fan is one identity and signs in the way the sale's policy asks, as a
person would in a browser, against servers the demo starts on loopback:

- ``open``: nothing to sign in; the join makes the browser's session.
- ``email``: the fan asks for a sign-in email, reads it from the demo's own
  SMTP server (launch/mail_sink.py) and opens the link, or types the code.
- ``login``: the fan signs in at an OpenID Connect provider on loopback
  (launch/oidc_provider.py), through fairdrop's real Authlib client.
- ``list``: the organiser imports a list of ids, downloads it with each
  id's personal link, and each fan opens theirs.

A share of the identities then signs in again on a second device (and the
email ones type their address differently there); each must find the same
entrant id and the same place. People nobody listed or signed in are
turned away at the join.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import ssl
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fairdrop.identity import ACCESS_POLICIES
from fairdrop.settings import Settings
from fairdrop.tokens import FAN_COOKIE
from launch.mail_sink import MailSink, running_mail_sink
from launch.oidc_provider import OidcProvider, approve, running_oidc_provider

MAIL_FROM = "tickets@launch.demo"
_LINK = re.compile(r"(https?://\S+/sign-in/email/\S+)")
_CODE = re.compile(r"\b(\d{6})\b")
MAIL_WAIT_S = 60.0
# Browsers signing in at once (each a few requests and, by email, a mail).
SIGN_INS_AT_ONCE = 50
# Every fan's browser is its own client; made once, the TLS context would
# otherwise cost each of them about 35 ms of CPU (every URL here is http).
_TLS = ssl.create_default_context()


@dataclass
class Doorway:
    """What one access policy needs to let the demo's fans in, and the way in itself."""

    policy: str
    mail: MailSink | None = None
    provider: OidcProvider | None = None
    base_url: str = ""
    event_id: str = ""
    # list: each organiser-issued id's personal link.
    links: dict[str, str] = field(default_factory=dict)

    def name(self, who: int, device: int = 0) -> str:
        """Identity ``who`` as it signs in on ``device`` (the address typed differently there)."""
        if self.policy == "email":
            return f"fan{who}@example.test" if device == 0 else f"Fan{who}@Example.TEST"
        return f"fan-{who:05d}"

    def next_page(self) -> str:
        """Where a sign-in sends the browser: the sale's page, or home before it exists."""
        return f"/e/{self.event_id}" if self.event_id else "/"

    def list_csv(self, identities: int) -> str:
        rows = "".join(f"{self.name(who)},2\n" for who in range(identities))
        return f"id,allowance\n{rows}"

    async def open_event(self, http: httpx.AsyncClient, token: str, identities: int) -> None:
        """For a list sale: import the list and learn each id's personal link."""
        if self.policy != "list":
            return
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/events/{self.event_id}/access-list"
        imported = await http.post(
            path, content=self.list_csv(identities), headers={**headers, "Content-Type": "text/csv"}
        )
        imported.raise_for_status()
        listed = await http.get(f"{path}.csv", headers=headers)
        listed.raise_for_status()
        for row in csv.DictReader(io.StringIO(listed.text)):
            self.links[row["id"]] = row["personal_link"]

    async def sign_in_all(self, identities: int) -> list[str | None]:
        """Every identity signs in on its first device, many at a time; their cookies."""
        gate = asyncio.Semaphore(SIGN_INS_AT_ONCE)

        async def one(who: int) -> str | None:
            async with gate:
                return await self.sign_in(who, 0)

        return list(await asyncio.gather(*(one(who) for who in range(identities))))

    async def sign_in(self, who: int, device: int) -> str | None:
        """A new device of identity ``who`` signs in; its session cookie (None: open sale)."""
        if self.policy == "email":
            return await self._by_email(who, device)
        if self.policy == "login":
            return await asyncio.to_thread(self._by_login, who)
        if self.policy == "list":
            return await self._follow(self.links[self.name(who)])
        return None

    async def _follow(self, url: str) -> str:
        """Opens a link that signs the browser in (303 with the session cookie)."""
        async with httpx.AsyncClient(timeout=30, verify=_TLS) as browser:
            answer = await browser.get(url)
        if answer.status_code != 303 or FAN_COOKIE not in answer.cookies:
            raise RuntimeError(f"{url} did not sign in: {answer.status_code} {answer.text[:200]}")
        return str(answer.cookies[FAN_COOKIE])

    async def _by_email(self, who: int, device: int) -> str:
        assert self.mail is not None
        typed = self.name(who, device)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30, verify=_TLS) as browser:
            asked = await browser.post(
                "/api/sign-in/email", json={"email": typed, "next": self.next_page()}
            )
            asked.raise_for_status()
            challenge = str(asked.json()["challenge"])
            text = await asyncio.to_thread(self._mail_for, self.name(who), challenge)
            if device == 0:
                link = _LINK.search(text)
                assert link is not None, text
                return await self._follow(link[1])
            code = _CODE.search(text)
            assert code is not None, text
            typed_code = await browser.post(
                "/api/sign-in/email/code", json={"challenge": challenge, "code": code[1]}
            )
            typed_code.raise_for_status()
            return str(typed_code.cookies[FAN_COOKIE])

    def _mail_for(self, address: str, challenge: str) -> str:
        """The sign-in email of this challenge, once it has arrived (by its Message-ID)."""
        assert self.mail is not None
        delivered = self.mail.mailbox.wait_for(
            address,
            timeout=MAIL_WAIT_S,
            matching=lambda d: challenge in str(d.message["Message-ID"]),
        )
        return delivered[-1].text()

    def _by_login(self, who: int) -> str:
        assert self.provider is not None
        with (
            httpx.Client(base_url=self.base_url, timeout=30, verify=_TLS) as browser,
            httpx.Client(timeout=30, verify=_TLS) as at_provider,
        ):
            start = browser.get("/sign-in/oidc", params={"next": self.next_page()})
            callback = approve(at_provider, start.headers["location"], self.name(who))
            back = browser.get(callback)
            if back.status_code != 303 or FAN_COOKIE not in back.cookies:
                raise RuntimeError(f"login did not sign in: {back.status_code} {back.text[:200]}")
            return str(back.cookies[FAN_COOKIE])


@contextmanager
def access_servers(
    policy: str, settings: Settings, log_dir: Path
) -> Iterator[tuple[Settings, Doorway]]:
    """Starts what the policy needs (SMTP server, OpenID provider); the settings that use it."""
    if policy not in ACCESS_POLICIES:
        raise ValueError(f"access must be one of {', '.join(ACCESS_POLICIES)}")
    doorway = Doorway(policy)
    with ExitStack() as servers:
        if policy == "email":
            doorway.mail = servers.enter_context(running_mail_sink())
            settings = settings.with_overrides(
                smtp_host=doorway.mail.host,
                smtp_port=doorway.mail.port,
                smtp_security="none",
                email_from=MAIL_FROM,
            )
        if policy == "login":
            doorway.provider = servers.enter_context(
                running_oidc_provider(log_dir / "oidc-provider.log")
            )
            settings = settings.with_overrides(
                oidc_discovery_url=doorway.provider.discovery_url,
                oidc_client_id="fairdrop-demo",
                oidc_client_secret="demo-secret-not-a-real-one",
                oidc_name="the demo's provider",
            )
        yield settings, doorway


@dataclass(frozen=True)
class Entry:
    """What one device of an identity was told when it joined."""

    who: int
    entrant_id: str
    number: int


async def join_as(http: httpx.AsyncClient, event_id: str, cookie: str | None) -> httpx.Response:
    headers = {"Cookie": f"{FAN_COOKIE}={cookie}"} if cookie else {}
    answer = await http.post(f"/api/events/{event_id}/join", headers=headers)
    http.cookies.clear()  # every device is its own browser
    return answer


async def _entry(http: httpx.AsyncClient, event_id: str, who: int, cookie: str | None) -> Entry:
    answer = await join_as(http, event_id, cookie)
    answer.raise_for_status()
    body = answer.json()
    return Entry(who, str(body["entrant_id"]), int(body["number"] or 0))


async def second_devices(
    doorway: Doorway, http: httpx.AsyncClient, cookies: dict[int, str | None]
) -> tuple[list[Entry], list[Entry]]:
    """Each identity in ``cookies`` joins again on its first device, then signs in on a
    second one and joins there; what each device was told, in two lists.

    On an open sale nobody can sign in, so the "second device" is a second
    tab of the same browser (the same cookie): a new browser there is a new
    entrant, which is what ``open`` means.
    """
    first, again = [], []
    for who, cookie in cookies.items():
        first.append(await _entry(http, doorway.event_id, who, cookie))
        other = cookie if doorway.policy == "open" else await doorway.sign_in(who, device=1)
        again.append(await _entry(http, doorway.event_id, who, other))
    return first, again


async def outsiders_refused(doorway: Doorway, http: httpx.AsyncClient, count: int) -> int:
    """Browsers nobody signed in try to join a sale that asks who they are; how many are refused."""
    if doorway.policy == "open":
        return 0
    answers = [await join_as(http, doorway.event_id, None) for _ in range(count)]
    return sum(1 for answer in answers if answer.status_code in {401, 403})


def identity_figures(
    entries: list[Entry], again: list[Entry], first: list[Entry]
) -> dict[str, object]:
    """One place per identity, as the fans' own join answers tell it."""
    by_identity: dict[int, set[str]] = {}
    for entry in [*entries, *again]:
        by_identity.setdefault(entry.who, set()).add(entry.entrant_id)
    places = {entry.who: entry for entry in first}
    return {
        "identities": len(by_identity),
        "entrants": len({e.entrant_id for e in [*entries, *again]}),
        "max_entries_per_identity": max((len(ids) for ids in by_identity.values()), default=0),
        "second_devices": len(again),
        "second_device_same_place": all(
            (e.entrant_id, e.number) == (places[e.who].entrant_id, places[e.who].number)
            for e in again
        ),
    }


def one_place_each(summary: dict[str, object]) -> bool:
    """The demo's verdict on identities: one entrant and one place each, outsiders kept out."""
    return (
        summary["entrants"] == summary["identities"]
        and summary["max_entries_per_identity"] == 1
        and summary["second_device_same_place"] is True
        and summary["places_within_identities"] is True
        and summary["outsiders_refused"] == summary["outsiders"]
    )
