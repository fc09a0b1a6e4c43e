"""purchase/emails.py against a real SMTP server on loopback (aiosmtpd) and a real database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from fairdrop.settings import Settings, SettingsError
from purchase.db import make_engine, open_session, upgrade_database
from purchase.emails import (
    EmailOutcome,
    format_total,
    send_order_confirmation,
)
from purchase.keys import order_email_key
from purchase.models import Event, Order, Ticket, TicketType
from tests.purchase.test_migrations import add_event
from tests.smtp_server import Logins, SmtpServer, self_signed_certificate

PUBLIC_URL = "https://tickets.fairdrop.test"
SENDER = "Fairdrop <tickets@fairdrop.test>"


@dataclass(frozen=True)
class PaidOrder:
    id: str
    event_id: str
    email: str | None
    codes: list[str]


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[Engine]:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    upgrade_database(settings)
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def paid_order(engine: Engine, email: str | None = "fan@example.test") -> PaidOrder:
    """An event (a name to escape), two ticket types, and a paid order of three tickets."""
    event_id = uuid.uuid4().hex[:12]
    order_id = uuid.uuid4().hex
    codes = [f"code-{uuid.uuid4().hex}" for _ in range(3)]
    add_event(engine, event_id)
    with open_session(engine) as session:
        event = session.get(Event, event_id)
        assert event is not None
        event.name = "Björk & <Friends>"
        session.add(event)
        for type_id, name in (("ga", "General admission"), ("vip", "VIP")):
            session.add(
                TicketType(
                    id=f"{event_id}.{type_id}",
                    event_id=event_id,
                    name=name,
                    price_cents=4_000,
                    currency="EUR",
                    stock=10,
                    per_person_limit=4,
                )
            )
        session.flush()
        session.add(
            Order(
                id=order_id,
                event_id=event_id,
                fan_id="fan-1",
                hold_id=f"hold-{order_id}",
                payment_ref=f"local_{order_id}",
                payment_provider="local",
                total_cents=12_005,
                currency="EUR",
                email=email,
            )
        )
        session.flush()
        for code, type_id in zip(codes, ("ga", "ga", "vip"), strict=True):
            session.add(
                Ticket(
                    id=uuid.uuid4().hex,
                    order_id=order_id,
                    ticket_type_id=f"{event_id}.{type_id}",
                    code=code,
                )
            )
        session.commit()
    return PaidOrder(order_id, event_id, email, codes)


def mail_settings(smtp: SmtpServer, **changes: object) -> Settings:
    settings = Settings(
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security="none",
        email_from=SENDER,
        public_url=PUBLIC_URL + "/",
    )
    return settings.with_overrides(**changes)


def bodies(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None, message
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return text.get_content(), html.get_content()


def test_the_confirmation_has_the_order_and_a_link_per_ticket(
    engine: Engine, client: redis.Redis, smtp: SmtpServer
) -> None:
    order = paid_order(engine)
    outcome = send_order_confirmation(mail_settings(smtp), client, engine, order.id)

    assert outcome == EmailOutcome.SENT
    [delivered] = smtp.mailbox.wait_for("fan@example.test")
    assert delivered.mail_from == "tickets@fairdrop.test"
    message = delivered.message
    assert message["From"] == SENDER
    assert message["To"] == "fan@example.test"
    assert message["Subject"] == "Your tickets for Björk & <Friends>"
    assert message["Message-ID"] == f"<order-{order.id}@fairdrop.test>"
    text, html = bodies(message)
    for body in (text, html):
        assert order.id in body
        assert "120.05 EUR" in body
        for code in order.codes:
            assert f"{PUBLIC_URL}/tickets/{code}" in body
    assert "General admission: " in text and "VIP: " in text
    # Organiser text is escaped in the HTML part.
    assert "Björk &amp; &lt;Friends&gt;" in html
    assert "<Friends>" not in html


def test_a_second_send_of_the_same_order_sends_nothing(
    engine: Engine, client: redis.Redis, smtp: SmtpServer
) -> None:
    order = paid_order(engine, email="twice@example.test")
    settings = mail_settings(smtp)
    first = send_order_confirmation(settings, client, engine, order.id)
    again = [send_order_confirmation(settings, client, engine, order.id) for _ in range(3)]

    assert first == EmailOutcome.SENT
    assert again == [EmailOutcome.ALREADY_SENT] * 3
    smtp.mailbox.wait_for("twice@example.test")
    assert len(smtp.mailbox.to("twice@example.test")) == 1
    assert client.get(order_email_key(order.event_id, order.id)) == b"sent"


def test_a_send_in_progress_elsewhere_is_not_repeated(
    engine: Engine, client: redis.Redis, smtp: SmtpServer
) -> None:
    order = paid_order(engine, email="busy@example.test")
    client.set(order_email_key(order.event_id, order.id), "sending", ex=60)

    outcome = send_order_confirmation(mail_settings(smtp), client, engine, order.id)

    assert outcome == EmailOutcome.SENDING_ELSEWHERE
    assert smtp.mailbox.to("busy@example.test") == []


def test_a_failed_send_raises_and_the_next_try_sends(
    engine: Engine, client: redis.Redis, smtp: SmtpServer
) -> None:
    order = paid_order(engine, email="later@example.test")
    settings = mail_settings(smtp)
    smtp.stop()
    with pytest.raises(OSError):
        send_order_confirmation(settings, client, engine, order.id)
    # The failed try let go of its claim, so the retry is free to send.
    assert client.get(order_email_key(order.event_id, order.id)) is None

    smtp.start()
    assert send_order_confirmation(settings, client, engine, order.id) == EmailOutcome.SENT
    assert len(smtp.mailbox.wait_for("later@example.test")) == 1


def test_no_address_or_no_smtp_server_sends_nothing(
    engine: Engine, client: redis.Redis, smtp: SmtpServer
) -> None:
    without = paid_order(engine, email=None)
    with_address = paid_order(engine, email="off@example.test")

    assert (
        send_order_confirmation(mail_settings(smtp), client, engine, without.id)
        == EmailOutcome.NO_EMAIL
    )
    off = mail_settings(smtp, smtp_host="")
    assert send_order_confirmation(off, client, engine, with_address.id) == EmailOutcome.EMAILS_OFF
    assert (
        send_order_confirmation(mail_settings(smtp), client, engine, "no-such-order")
        == EmailOutcome.NO_ORDER
    )
    assert smtp.mailbox.delivered == []


def test_starttls_with_a_login(engine: Engine, client: redis.Redis, tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    logins = Logins("fairdrop", "s3cret-pass")
    server = SmtpServer(starttls=certificate, logins=logins).start()
    try:
        order = paid_order(engine, email="tls@example.test")
        settings = mail_settings(
            server,
            smtp_security="starttls",
            smtp_username="fairdrop",
            smtp_password="s3cret-pass",
        )
        outcome = send_order_confirmation(
            settings, client, engine, order.id, tls=certificate.client_context()
        )
        assert outcome == EmailOutcome.SENT
        assert len(server.mailbox.wait_for("tls@example.test")) == 1
        assert logins.accepted == ["fairdrop"]
    finally:
        server.stop()


def test_starttls_refuses_a_server_it_cannot_trust(
    engine: Engine, client: redis.Redis, tmp_path: Path
) -> None:
    server = SmtpServer(starttls=self_signed_certificate(tmp_path)).start()
    try:
        order = paid_order(engine, email="untrusted@example.test")
        settings = mail_settings(server, smtp_security="starttls")
        # The system's trusted roots: a self-signed certificate is refused.
        with pytest.raises(OSError):
            send_order_confirmation(settings, client, engine, order.id)
        assert server.mailbox.delivered == []
    finally:
        server.stop()


def test_implicit_tls(engine: Engine, client: redis.Redis, tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    server = SmtpServer(implicit_tls=certificate).start()
    try:
        order = paid_order(engine, email="smtps@example.test")
        settings = mail_settings(server, smtp_security="tls")
        outcome = send_order_confirmation(
            settings, client, engine, order.id, tls=certificate.client_context()
        )
        assert outcome == EmailOutcome.SENT
        assert len(server.mailbox.wait_for("smtps@example.test")) == 1
    finally:
        server.stop()


def test_totals_are_written_in_whole_units() -> None:
    assert format_total(12_005, "EUR") == "120.05 EUR"
    assert format_total(5, "GBP") == "0.05 GBP"
    assert format_total(0, "USD") == "0.00 USD"


def test_the_smtp_settings_come_from_the_environment_and_go_to_children() -> None:
    env = {
        "FAIRDROP_SMTP_HOST": "smtp.example.test",
        "FAIRDROP_SMTP_PORT": "465",
        "FAIRDROP_SMTP_SECURITY": "TLS",
        "FAIRDROP_SMTP_USERNAME": "mailer",
        "FAIRDROP_SMTP_PASSWORD": "hunter2-secret",
        "FAIRDROP_EMAIL_FROM": "tickets@example.test",
        "FAIRDROP_PUBLIC_URL": "https://shop.example.test/",
    }
    settings = Settings.from_env(env)

    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == (
        "smtp.example.test",
        465,
        "tls",
    )
    assert settings.emails_enabled
    assert settings.public_base_url == "https://shop.example.test"
    assert Settings.from_env(settings.as_env()) == settings
    # The password travels to child processes but is never printed.
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings)


def test_emails_are_off_by_default_and_links_follow_host_and_port() -> None:
    settings = Settings.from_env({"FAIRDROP_HOST": "10.0.0.5", "FAIRDROP_PORT": "9000"})

    assert not settings.emails_enabled
    assert (settings.smtp_port, settings.smtp_security) == (587, "starttls")
    assert settings.public_base_url == "http://10.0.0.5:9000"
    assert Settings().public_base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FAIRDROP_SMTP_SECURITY", "ssl"),
        ("FAIRDROP_SMTP_PORT", "0"),
        ("FAIRDROP_SMTP_PORT", "smtp"),
    ],
)
def test_a_bad_smtp_setting_is_refused(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
