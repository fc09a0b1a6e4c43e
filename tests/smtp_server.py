"""A real SMTP server on loopback for the email tests: launch/mail_sink.py's mailbox.

It can be stopped and started again on the same port (an SMTP server that is
down for a while), speak STARTTLS or implicit TLS with a self-signed
certificate made here with the ``openssl`` command, and ask for a login.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from launch.mail_sink import WAIT_S, Delivered, Mailbox
from launch.stack import free_port

__all__ = ["Delivered", "Mailbox", "SmtpServer"]


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

    def stack_settings(self, sender: str) -> dict[str, object]:
        """The settings that make a stack send its email here, from ``sender``."""
        return {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_security": "none",
            "email_from": sender,
        }


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    """A plain SMTP server for one test module (its stack sends there)."""
    server = SmtpServer().start()
    yield server
    server.stop()
