"""The durable record: events, ticket types, orders, order items, tickets, draws.

Redis runs the sale; PostgreSQL keeps what was sold and the draw that was
published. Every row has ``created_at`` (a drawn entrant's is its draw's).
Unique constraints make writing a paid order idempotent: one order per hold
and per payment (invariant 6).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from buffer.order import ALGORITHM, ALGORITHM_V1


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    # SQLite gives naive datetimes back; they were stored in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def epoch_ms(value: datetime) -> int:
    # Whole numbers, not a float timestamp: a time written back to Redis after
    # a round trip through the database is the same millisecond (drawn_at).
    return (aware(value) - _EPOCH) // _MS


def from_epoch_ms(ms: int) -> datetime:
    return _EPOCH + ms * _MS


# The draw's names (buffer/order.py): the longest is "fairdrop-draw-v2".
ALGORITHM_LENGTH = 32


PAUSE_MESSAGE_LENGTH = 280


class Event(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    opens_at: datetime
    drop_at: datetime
    rate_per_min: int
    cap: int
    hold_seconds: int
    currency: str = Field(max_length=3)
    seed_hash: str = Field(max_length=64)
    # Kept so the draw can be redone from the record after losing Redis;
    # only served once the draw has revealed it.
    seed: str = Field(max_length=64)
    # Who may enter (fairdrop/identity.py ACCESS_POLICIES); fixed once the window opens.
    access: str = Field(default="open", max_length=8, sa_column_kwargs={"server_default": "open"})
    # Proof of work asked of each new entrant (web/proof_of_work.py): the ALTCHA
    # maxnumber, 0 for none. Fixed when the sale is created.
    pow_difficulty: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The draw's algorithm (buffer/order.py); events made before v2 draw with v1.
    algorithm: str = Field(
        default=ALGORITHM,
        max_length=ALGORITHM_LENGTH,
        sa_column_kwargs={"server_default": ALGORITHM_V1},
    )
    # The beacon round the draw waits for, as published with the commitment
    # (JSON text); None without one. Kept so a sale Redis lost before its draw
    # still waits for the round its fans were shown.
    beacon: str | None = Field(default=None, sa_type=Text)
    # What waiting fans read while the sale is paused ("" for the page's own words).
    pause_message: str = Field(
        default="",
        max_length=PAUSE_MESSAGE_LENGTH,
        # Spelled as SQL: an empty string as server_default reads back differently.
        sa_column_kwargs={"server_default": text("''")},
    )
    created_at: datetime = Field(default_factory=utcnow)


# "<event id>.<type id>": two 40-character slugs and a dot.
TYPE_ID_LENGTH = 96


class TicketType(SQLModel, table=True):
    __tablename__ = "ticket_type"

    id: str = Field(primary_key=True, max_length=TYPE_ID_LENGTH)
    event_id: str = Field(foreign_key="event.id", index=True, max_length=64)
    name: str = Field(max_length=200)
    # Money columns are BIGINT (revision 0008): an INTEGER holds only 21,474,836.47
    # in cents, less than a few dear tickets of one order.
    price_cents: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    stock: int
    per_person_limit: int
    created_at: datetime = Field(default_factory=utcnow)


# "oidc:<issuer> <subject>": an issuer URL and a subject of up to 255 characters each.
BUYER_LENGTH = 520


# A discount code as the organiser types it (purchase/discounts.py).
DISCOUNT_CODE_LENGTH = 40


class Order(SQLModel, table=True):
    __tablename__ = "ticket_order"

    id: str = Field(primary_key=True, max_length=64)
    event_id: str = Field(foreign_key="event.id", index=True, max_length=64)
    fan_id: str = Field(index=True, max_length=64)
    hold_id: str = Field(unique=True, max_length=64)
    payment_ref: str = Field(unique=True, max_length=255)
    payment_provider: str = Field(max_length=32)
    total_cents: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    # paid -> refunding -> refunded (purchase/orders.py cancel_order).
    status: str = Field(default="paid", max_length=16)
    # The provider's reference for the refund, once it went through.
    refund_ref: str | None = Field(default=None, max_length=255)
    # Where the confirmation goes; given by the fan when paying (or by a login later).
    email: str | None = Field(default=None, max_length=254)
    # Who signed in and bought it (fairdrop/identity.py Identity.label), None when anonymous.
    buyer: str | None = Field(default=None, max_length=BUYER_LENGTH)
    # The presale link the order was bought through, if any.
    presale_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    # The discount code the order was bought with (lower case) and what it took
    # off, in minor units; total_cents is already the discounted figure.
    discount_code: str | None = Field(default=None, max_length=DISCOUNT_CODE_LENGTH)
    discount_cents: int = Field(
        default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"}
    )


class OrderItem(SQLModel, table=True):
    __tablename__ = "order_item"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(foreign_key="ticket_order.id", index=True, max_length=64)
    ticket_type_id: str = Field(foreign_key="ticket_type.id", max_length=TYPE_ID_LENGTH)
    quantity: int
    unit_price_cents: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class Ticket(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(foreign_key="ticket_order.id", index=True, max_length=64)
    ticket_type_id: str = Field(foreign_key="ticket_type.id", max_length=TYPE_ID_LENGTH)
    code: str = Field(unique=True, max_length=64)
    # Set once, by the first door that scans the ticket (door check-in).
    checked_in_at: datetime | None = Field(default=None)
    checked_in_by: str | None = Field(default=None, max_length=64)
    # Put back for resale (purchase/resale.py): the door refuses it from then
    # on, since its seat is on sale again; voided once a buyer paid for that seat.
    listed_at: datetime | None = Field(default=None)
    voided_at: datetime | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow)


class StrayPayment(SQLModel, table=True):
    """A payment that bought nothing, and its refund.

    It came after its hold ended and the tickets were gone, or it was a
    second payment for a hold another payment already bought. The row is
    written before the refund is asked for, so a retried job finds it and
    never refunds twice (invariant 6: nothing a fan paid for is lost).
    """

    __tablename__ = "stray_payment"

    payment_ref: str = Field(primary_key=True, max_length=255)
    payment_provider: str = Field(max_length=32)
    event_id: str = Field(index=True, max_length=64)
    hold_id: str = Field(index=True, max_length=64)
    fan_id: str = Field(max_length=64)
    # Why it bought nothing: the confirm script's code (no_stock, hold_ended, ...).
    reason: str = Field(max_length=64)
    # Set once the provider refunded it.
    refund_ref: str | None = Field(default=None, max_length=255)
    created_at: datetime = Field(default_factory=utcnow)


class AccessEntry(SQLModel, table=True):
    """One identity on an event's list (access policy ``list``) and its ticket allowance.

    The allowance is what Redis enforces (``allowance`` hash, hold.lua); this
    row is the record an import leaves, read back to rebuild a sale Redis lost
    and to show the organiser who is on the list.
    """

    __tablename__ = "access_entry"

    event_id: str = Field(foreign_key="event.id", primary_key=True, max_length=64)
    # The entrant id the identity has in this event (fairdrop/tokens.py entrant_id).
    entrant_id: str = Field(primary_key=True, max_length=64)
    # email or member (fairdrop/identity.py).
    kind: str = Field(max_length=8)
    # The normalised email or the organiser-issued id.
    subject: str = Field(max_length=254)
    allowance: int
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DoorToken(SQLModel, table=True):
    """A door token the organiser made for one event, and perhaps one door of it.

    Staff hold a signed string naming this row (fairdrop/tokens.py
    ``sign_door_token``); the row says whether it still works. Revoking sets
    ``revoked_at`` and the token is refused from its next use on.
    """

    __tablename__ = "door_token"

    id: str = Field(primary_key=True, max_length=32)
    event_id: str = Field(foreign_key="event.id", index=True, max_length=64)
    # Recorded as the ticket's checked_in_by (Ticket.checked_in_by's length);
    # None: staff name their door on the page.
    door: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = Field(default=None)


class PresaleLink(SQLModel, table=True):
    """A presale link: up to ``allowance`` tickets, until ``expires_at``, maybe of one type.

    Redis counts its use (``presales`` hash, presale_hold.lua); paid orders
    name the link (``Order.presale_id``), which is how a sale Redis lost gets
    the link back with what is left of it.
    """

    __tablename__ = "presale_link"

    id: str = Field(primary_key=True, max_length=32)
    event_id: str = Field(foreign_key="event.id", index=True, max_length=64)
    label: str = Field(max_length=200)
    allowance: int
    # None: any ticket type of the event.
    ticket_type_id: str | None = Field(default=None, max_length=TYPE_ID_LENGTH)
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)


class SaleChange(SQLModel, table=True):
    """One change an organiser made to a sale (purchase/steering.py): what, from what
    to what, who said they were, from which address, and when."""

    __tablename__ = "sale_change"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(foreign_key="event.id", index=True, max_length=64)
    # "rate_per_min", "cap", "hold_seconds", "pause_message" or "stock:<type id>".
    field: str = Field(max_length=120)
    old_value: str = Field(sa_type=Text)
    new_value: str = Field(sa_type=Text)
    # The name the organiser gave (one token is shared by a team); "" when none.
    by: str = Field(max_length=200)
    address: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow)


class DrawRecord(SQLModel, table=True):
    """A sale's draw as it was published, kept so a sale Redis lost keeps it.

    Written by purchase/drawn.py ``save_draw`` in two steps, as the draw is
    published: at the freeze the frozen entrant list and its digest (a v2
    draw then waits for its beacon round), once drawn the seed, the beacon
    value and the promise, with the numbers in ``drawn_entrant`` in the same
    transaction. Read back by purchase/restore.py. Times are the Redis meta's
    milliseconds, to the millisecond.
    """

    __tablename__ = "draw_record"

    event_id: str = Field(foreign_key="event.id", primary_key=True, max_length=64)
    algorithm: str = Field(max_length=ALGORITHM_LENGTH)
    seed_hash: str = Field(max_length=64)
    entrants_digest: str = Field(max_length=64)
    # N, the frozen entrants; queue numbers 1..N are drawn, later numbers are
    # late joiners, not kept.
    entrants: int
    # The frozen entry ids sorted by their UTF-8 bytes, each followed by a
    # newline: the very bytes whose SHA-256 is entrants_digest.
    frozen_list: str = Field(sa_type=Text)
    frozen_at: datetime
    # When the digest was published (v2, before the beacon round); None for v1.
    digest_at: datetime | None = Field(default=None)
    # The beacon object as published (JSON text): the round committed to until
    # the draw, then with its value or why there is none; None without one.
    beacon: str | None = Field(default=None, sa_type=Text)
    # The revealed seed (hex), when drawn and what it promises ("unsteerable"
    # or "committed-seed"; None for v1): all None while frozen, not drawn.
    seed: str | None = Field(default=None, max_length=64)
    drawn_at: datetime | None = Field(default=None)
    promise: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow)


class DrawnEntrant(SQLModel, table=True):
    """One drawn entrant's queue number (``<number> <entry id>`` of the published list).

    Written only with its draw_record, in the same transaction, so it has no
    created_at of its own and no foreign key to it: PostgreSQL checks a
    foreign key row by row, which doubled the time a COPY of 100k rows took.
    """

    __tablename__ = "drawn_entrant"
    __table_args__ = (
        UniqueConstraint("event_id", "entry_id", name="drawn_entrant_event_id_entry_id_key"),
    )

    event_id: str = Field(primary_key=True, max_length=64)
    number: int = Field(primary_key=True)
    # The entrant id (fairdrop/tokens.py entrant_id, 22 characters today).
    entry_id: str = Field(max_length=64)


class ResaleListing(SQLModel, table=True):
    """A ticket its buyer put back, and what became of it (purchase/resale.py).

    ``listed`` until a buyer of its type pays; then, in that order's own
    transaction, ``resold`` with the buyer's order named and the seller's
    ticket voided. The seller's refund of ``price_cents`` (what they paid for
    it) is asked for after that commit under the listing id as idempotency
    key; ``refund_ref`` is set once it went through.
    """

    __tablename__ = "resale_listing"

    id: str = Field(primary_key=True, max_length=32)
    event_id: str = Field(foreign_key="event.id", index=True, max_length=64)
    # One listing per ticket, ever: a ticket is put back once.
    ticket_id: str = Field(foreign_key="ticket.id", unique=True, max_length=64)
    ticket_type_id: str = Field(max_length=TYPE_ID_LENGTH)
    seller_order_id: str = Field(foreign_key="ticket_order.id", index=True, max_length=64)
    price_cents: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    status: str = Field(default="listed", max_length=16)
    buyer_order_id: str | None = Field(default=None, index=True, max_length=64)
    refund_ref: str | None = Field(default=None, max_length=255)
    listed_at: datetime = Field(default_factory=utcnow)
    resold_at: datetime | None = Field(default=None)
    refunded_at: datetime | None = Field(default=None)


class DiscountCode(SQLModel, table=True):
    """A sale's discount code: a percentage or a fixed amount off, of one type or the order.

    Never changed once made, so a hold that took it is priced the same at any
    later time. Redis counts its uses (``discounts`` hash, hold.lua takes one,
    release_hold gives it back, confirm.lua makes it final); paid orders name
    the code (``Order.discount_code``), which is how a sale Redis lost gets
    its uses back.
    """

    __tablename__ = "discount_code"
    __table_args__ = (UniqueConstraint("event_id", "code", name="discount_code_event_id_code_key"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(foreign_key="event.id", index=True, max_length=64)
    # Lower case: codes are compared case-insensitively.
    code: str = Field(max_length=DISCOUNT_CODE_LENGTH)
    # "percent" (amount is 1..100) or "fixed" (amount in minor units).
    kind: str = Field(max_length=16)
    amount: int = Field(sa_type=BigInteger)
    # None: the whole order; else only the tickets of this type.
    ticket_type_id: str | None = Field(default=None, max_length=TYPE_ID_LENGTH)
    max_uses: int
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
