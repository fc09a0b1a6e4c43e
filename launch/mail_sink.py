"""A real SMTP server on loopback that keeps what arrives: for the demo and the tests.

``fairdrop demo --access email`` sends its fans' sign-in emails here and
reads the links and codes back, as fans read their mail; the email tests
read confirmations and sign-ins the same way (tests/smtp_server.py adds TLS
and logins on top). It is aiosmtpd, listening on 127.0.0.1 only.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from launch.stack import free_port

WAIT_S = 10.0


@dataclass(frozen=True)
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def text(self) -> str:
        """The plain-text body (every email fairdrop sends has one)."""
        part = self.message.get_body(("plain",))
        return "" if part is None else str(part.get_content())


class Mailbox:
    """aiosmtpd's handler: keeps every message, parsed, and wakes who waits for one."""

    def __init__(self) -> None:
        self.delivered: list[Delivered] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.changed:
            self.delivered.append(
                Delivered(str(envelope.mail_from), list(envelope.rcpt_tos), message)
            )
            self.changed.notify_all()
        return "250 OK"

    def to(
        self, address: str, matching: Callable[[Delivered], bool] | None = None
    ) -> list[Delivered]:
        with self.changed:
            return [
                d
                for d in self.delivered
                if address in d.rcpt_tos and (matching is None or matching(d))
            ]

    def wait_for(
        self,
        address: str,
        count: int = 1,
        timeout: float = WAIT_S,
        matching: Callable[[Delivered], bool] | None = None,
    ) -> list[Delivered]:
        """At least ``count`` messages to ``address`` (that match); fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(found := self.to(address, matching)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)} of {count} messages to {address} in {timeout}s; "
                        f"all recipients: {[d.rcpt_tos for d in self.delivered]}"
                    )
                self.changed.wait(left)
            return found


@dataclass(frozen=True)
class MailSink:
    host: str
    port: int
    mailbox: Mailbox


@contextmanager
def running_mail_sink() -> Iterator[MailSink]:
    """A plain SMTP server (no TLS, no login) on a free 127.0.0.1 port, until the end."""
    sink = MailSink("127.0.0.1", free_port(), Mailbox())
    controller = Controller(sink.mailbox, hostname=sink.host, port=sink.port, ready_timeout=WAIT_S)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
