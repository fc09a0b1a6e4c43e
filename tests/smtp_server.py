"""A real SMTP server on loopback for the email tests: aiosmtpd, collecting what arrives.

It can be stopped and started again on the same port (an SMTP server that is
down for a while), speak STARTTLS or implicit TLS with a self-signed
certificate made here with the ``openssl`` command, and ask for a login.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

WAIT_S = 10.0


@dataclass(frozen=True)
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


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

    def to(self, address: str) -> list[Delivered]:
        with self.changed:
            return [d for d in self.delivered if address in d.rcpt_tos]

    def wait_for(self, address: str, count: int = 1, timeout: float = WAIT_S) -> list[Delivered]:
        """At least ``count`` messages to ``address``; fails with what came after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(found := self.to(address)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)} of {count} messages to {address} in {timeout}s; "
                        f"all recipients: {[d.rcpt_tos for d in self.delivered]}"
                    )
                self.changed.wait(left)
            return found


class Logins:
    """aiosmtpd's authenticator: one username and password."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.accepted: list[str] = []

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if ok:
            self.accepted.append(self.username)
        return AuthResult(success=ok)


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Trusts this certificate only, and checks it names 127.0.0.1."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed_certificate(directory: Path) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make a test certificate")
    cert, key = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Certificate(cert, key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SmtpServer:
    """aiosmtpd on 127.0.0.1 at a fixed port; ``start``/``stop`` as often as a test needs."""

    def __init__(
        self,
        port: int = 0,
        *,
        starttls: Certificate | None = None,
        implicit_tls: Certificate | None = None,
        logins: Logins | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.mailbox = Mailbox()
        self.starttls, self.implicit_tls, self.logins = starttls, implicit_tls, logins
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        options: dict[str, Any] = {}
        if self.starttls is not None:
            options.update(tls_context=self.starttls.server_context(), require_starttls=True)
        if self.implicit_tls is not None:
            options["ssl_context"] = self.implicit_tls.server_context()
        if self.logins is not None:
            options.update(authenticator=self.logins, auth_required=True)
        # A new controller each time: a stopped one has closed its event loop.
        self.controller = Controller(
            self.mailbox, hostname=self.host, port=self.port, ready_timeout=WAIT_S, **options
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
