"""Order confirmation emails: built from the database, sent over SMTP once per order.

The RQ job ``purchase.jobs.send_order_email`` calls :func:`send_order_confirmation`;
RQ retries it while the SMTP server is unreachable. A Redis marker per order
makes a retried confirm, a retried job or a second enqueue send nothing twice.
"""

from __future__ import annotations

import html
import logging
import math
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from enum import StrEnum

from sqlalchemy import Engine
from sqlmodel import select

from fairdrop.connections import SaleRedis
from fairdrop.settings import Settings
from purchase.db import open_session
from purchase.keys import order_email_key
from purchase.models import Event, Order, Ticket, TicketType

log = logging.getLogger(__name__)

# Each connect, command and reply; a stuck server fails the job, and RQ retries it.
SMTP_TIMEOUT_S = 10.0
# A send holds its claim this long. Far longer than one send can take with the
# timeout above, so a claim never lapses under a send still running; a worker
# killed mid-send frees its claim when the lease ends.
SENDING_LEASE_S = 300
# "Sent" is remembered far longer than any retry of a confirm or an email job.
SENT_MEMORY_S = 30 * 24 * 3600


class EmailOutcome(StrEnum):
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    SENDING_ELSEWHERE = "sending_elsewhere"
    NO_EMAIL = "no_email"
    EMAILS_OFF = "emails_off"
    NO_ORDER = "no_order"
    # A sign-in email whose link and code ended before it could be sent.
    EXPIRED = "expired"


@dataclass(frozen=True)
class TicketLine:
    type_name: str
    code: str


@dataclass(frozen=True)
class Confirmation:
    """What the email says: read from the database, never from the request."""

    order_id: str
    event_id: str
    event_name: str
    email: str | None
    total_cents: int
    currency: str
    tickets: list[TicketLine]


def load_confirmation(engine: Engine, order_id: str) -> Confirmation | None:
    with open_session(engine) as session:
        order = session.get(Order, order_id)
        if order is None:
            return None
        event = session.get(Event, order.event_id)
        rows = session.exec(
            select(Ticket, TicketType)
            .where(Ticket.order_id == order_id, Ticket.ticket_type_id == TicketType.id)
            .order_by(TicketType.name, Ticket.code)
        ).all()
        return Confirmation(
            order_id=order.id,
            event_id=order.event_id,
            event_name=event.name if event is not None else order.event_id,
            email=order.email,
            total_cents=order.total_cents,
            currency=order.currency,
            tickets=[TicketLine(ticket_type.name, ticket.code) for ticket, ticket_type in rows],
        )


def format_total(total_cents: int, currency: str) -> str:
    # Prices are in hundredths of the currency throughout fairdrop.
    return f"{total_cents // 100}.{total_cents % 100:02d} {currency}"


def ticket_url(settings: Settings, code: str) -> str:
    """The ticket page (web/tickets.py), with its QR code for the door."""
    return f"{settings.public_base_url}/tickets/{code}"


def _sender_domain(email_from: str) -> str:
    return parseaddr(email_from)[1].rpartition("@")[2] or "localhost"


def build_confirmation(settings: Settings, confirmation: Confirmation) -> EmailMessage:
    """Plain text with an HTML alternative; one link per ticket."""
    if not confirmation.email:
        raise ValueError(f"order {confirmation.order_id} has no email address")
    total = format_total(confirmation.total_cents, confirmation.currency)
    links = [(line.type_name, ticket_url(settings, line.code)) for line in confirmation.tickets]
    message = EmailMessage()
    message["Subject"] = f"Your tickets for {confirmation.event_name}"
    message["From"] = settings.email_from
    # The policy refuses CR and LF in any header value: no header can be injected.
    message["To"] = confirmation.email
    message["Date"] = formatdate(localtime=False)
    # The same id for every attempt: a mail client shows a re-sent copy once.
    domain = _sender_domain(settings.email_from)
    message["Message-ID"] = f"<order-{confirmation.order_id}@{domain}>"
    text_lines = [
        f"Thank you for your order for {confirmation.event_name}.",
        "",
        f"Order: {confirmation.order_id}",
        f"Total paid: {total}",
        "",
        "Your tickets (show each one's QR code at the door):",
        *(f"- {name}: {url}" for name, url in links),
        "",
    ]
    message.set_content("\n".join(text_lines))
    items = "".join(
        f'<li>{html.escape(name)}: <a href="{html.escape(url)}">{html.escape(url)}</a></li>'
        for name, url in links
    )
    message.add_alternative(
        "<!doctype html><html><body>"
        f"<p>Thank you for your order for <strong>{html.escape(confirmation.event_name)}</strong>."
        f"</p><p>Order: {html.escape(confirmation.order_id)}<br>Total paid: {html.escape(total)}"
        f"</p><p>Your tickets (show each one's QR code at the door):</p><ul>{items}</ul>"
        "</body></html>",
        subtype="html",
    )
    return message


def send_message(
    settings: Settings, message: EmailMessage, tls: ssl.SSLContext | None = None
) -> None:
    """One SMTP session: TLS as FAIRDROP_SMTP_SECURITY says, login when a username is set.

    ``tls`` defaults to the system's trusted certificates (tests pass their own).
    Any failure raises, so the job fails and RQ retries it.
    """
    context = tls or ssl.create_default_context()
    host, port = settings.smtp_host, settings.smtp_port
    smtp: smtplib.SMTP
    if settings.smtp_security == "tls":
        smtp = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_S, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S)
    with smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)


def send_order_confirmation(
    settings: Settings,
    client: SaleRedis,
    engine: Engine,
    order_id: str,
    tls: ssl.SSLContext | None = None,
) -> EmailOutcome:
    """Sends the order's confirmation unless it went out already (or is going out now)."""
    if not settings.emails_enabled:
        return EmailOutcome.EMAILS_OFF
    confirmation = load_confirmation(engine, order_id)
    if confirmation is None:
        return EmailOutcome.NO_ORDER
    if not confirmation.email:
        return EmailOutcome.NO_EMAIL
    message = build_confirmation(settings, confirmation)
    key = order_email_key(confirmation.event_id, order_id)
    # One atomic claim: of two jobs for the same order, one sends.
    if not client.set(key, "sending", nx=True, ex=SENDING_LEASE_S):
        if client.get(key) == b"sent":
            return EmailOutcome.ALREADY_SENT
        return EmailOutcome.SENDING_ELSEWHERE
    try:
        send_message(settings, message, tls)
    except BaseException:
        # Not sent: the retry must be free to claim it again.
        client.delete(key)
        raise
    client.set(key, "sent", ex=SENT_MEMORY_S)
    log.info("order %s: confirmation sent", order_id)
    return EmailOutcome.SENT


@dataclass(frozen=True)
class SignInMail:
    """An email sign-in (web/email_sign_in.py): the link and code, valid until ``expires_at``."""

    address: str
    challenge_id: str
    link: str
    code: str
    expires_at: int  # epoch seconds


def build_sign_in_email(settings: Settings, mail: SignInMail, now_s: int) -> EmailMessage:
    """Plain text with an HTML alternative: the link for this device, the code for another."""
    minutes = max(1, math.ceil((mail.expires_at - now_s) / 60))
    message = EmailMessage()
    # No code in the subject: it would show on a locked phone's notifications.
    message["Subject"] = "Your fairdrop sign-in link and code"
    message["From"] = settings.email_from
    # Normalised by fairdrop/identity.py, so ASCII with one @: nothing to inject.
    message["To"] = mail.address
    message["Date"] = formatdate(localtime=False)
    # The same id for every attempt: a mail client shows a re-sent copy once.
    domain = _sender_domain(settings.email_from)
    message["Message-ID"] = f"<sign-in-{mail.challenge_id}@{domain}>"
    message.set_content(
        "\n".join(
            [
                "Someone, we hope you, asked to sign in to fairdrop with this address.",
                "",
                "Sign in on this device:",
                mail.link,
                "",
                f"Or type this code on the device where you asked: {mail.code}",
                "",
                f"The link and the code work once, within {minutes} minutes.",
                "If you did not ask, ignore this email: nobody can sign in without it.",
                "",
            ]
        )
    )
    link = html.escape(mail.link)
    message.add_alternative(
        "<!doctype html><html><body>"
        "<p>Someone, we hope you, asked to sign in to fairdrop with this address.</p>"
        f'<p><a href="{link}">Sign in on this device</a></p>'
        "<p>Or type this code on the device where you asked:</p>"
        f'<p style="font-size:1.5em;letter-spacing:0.2em"><strong>{mail.code}</strong></p>'
        f"<p>The link and the code work once, within {minutes} minutes. If you did not "
        "ask, ignore this email: nobody can sign in without it.</p>"
        "</body></html>",
        subtype="html",
    )
    return message


def send_sign_in(
    settings: Settings,
    mail: SignInMail,
    tls: ssl.SSLContext | None = None,
    now_s: int | None = None,
) -> EmailOutcome:
    """Sends a sign-in link and code, unless they ended while the job waited or retried.

    No once-only marker as for orders: a retry after a send that went through
    but failed at the end repeats the same link and code, which is harmless.
    """
    if not settings.emails_enabled:
        return EmailOutcome.EMAILS_OFF
    now = int(time.time()) if now_s is None else now_s
    if mail.expires_at <= now:
        return EmailOutcome.EXPIRED
    send_message(settings, build_sign_in_email(settings, mail, now), tls)
    # The challenge id only: the address, link and code are personal or secret.
    log.info("sign-in %s: email sent", mail.challenge_id)
    return EmailOutcome.SENT
