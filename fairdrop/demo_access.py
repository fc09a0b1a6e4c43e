"""How the demo's fans get in when a sale asks who they are (``fairdrop demo --access``).

Every fan is one identity and signs in the way the sale's policy asks, as a
person would in a browser, against servers the demo starts on loopback:

- ``open``: nothing to sign in; the join makes the browser's session.
- ``email``: the fan asks for a sign-in email, reads it from the demo's own
  SMTP server (fairdrop/mail_sink.py) and opens the link, or types the code.
- ``login``: the fan signs in at an OpenID Connect provider on loopback
  (fairdrop/oidc_provider.py), through fairdrop's real Authlib client.
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fairdrop.mail_sink import MailSink, running_mail_sink
from fairdrop.oidc_provider import OidcProvider, approve, running_oidc_provider
from fairdrop.settings import Settings
from fairdrop.tokens import FAN_COOKIE

ACCESS_CHOICES = ("open", "email", "login", "list")
MAIL_FROM = "tickets@fairdrop.demo"
_LINK = re.compile(r"(https?://\S+/sign-in/email/\S+)")
_CODE = re.compile(r"\b(\d{6})\b")
MAIL_WAIT_S = 30.0


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
        async with httpx.AsyncClient(timeout=30) as browser:
            answer = await browser.get(url)
        if answer.status_code != 303 or FAN_COOKIE not in answer.cookies:
            raise RuntimeError(f"{url} did not sign in: {answer.status_code} {answer.text[:200]}")
        return str(answer.cookies[FAN_COOKIE])

    async def _by_email(self, who: int, device: int) -> str:
        assert self.mail is not None
        typed = self.name(who, device)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as browser:
            asked = await browser.post(
                "/api/sign-in/email", json={"email": typed, "next": f"/e/{self.event_id}"}
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
            httpx.Client(base_url=self.base_url, timeout=30) as browser,
            httpx.Client(timeout=30) as at_provider,
        ):
            start = browser.get("/sign-in/oidc", params={"next": f"/e/{self.event_id}"})
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
    if policy not in ACCESS_CHOICES:
        raise ValueError(f"access must be one of {', '.join(ACCESS_CHOICES)}")
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
