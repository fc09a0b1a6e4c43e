"""Resale at face value: a fan puts a ticket back, the next buyer of its type
takes its seat, and the seller gets back what they paid for it.

Three steps, each safe to repeat, in an order that never lets more valid
tickets exist than stock and never keeps or pays out money twice:

1. :func:`put_back`: in one transaction the ticket is marked listed (the
   door refuses it from then on: its seat is on sale again) and a
   ``resale_listing`` row is written; then ``resale_return.lua`` makes one
   sold ticket of its type available again, once per listing. A crash in
   between leaves a listing whose seat is still counted sold: the seller
   asking again runs the script (it is idempotent), and a buyer who takes
   the listing meanwhile only voids a seat nobody else got.
2. :func:`take_listings`, inside the transaction that writes a buyer's paid
   order (purchase/orders.py ``record_paid_order``): the oldest listings of
   each type bought are marked resold to that order and their tickets
   voided. The buyer's new tickets and the seller's void one change in the
   same commit, so the count of valid tickets of a type never passes its
   stock (tests/purchase/test_resale.py checks it at every step).
3. :func:`settle_resales`, after that commit (purchase/jobs.py
   ``confirm_job``): each seller is refunded the face value they paid for
   the ticket, by the provider that took the money, with the listing id as
   idempotency key; ``refund_ref`` is written once it went through. A retried
   confirm finds the order written and only finishes the refunds still owed.
   This is where a resale completes: the one place to announce it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.settings import Settings
from purchase.db import open_session
from purchase.models import Order, OrderItem, ResaleListing, Ticket, TicketType, utcnow
from purchase.providers import provider_named
from queue_engine.scripts import SyncScripts

log = logging.getLogger("fairdrop.resale")

LISTED, RESOLD = "listed", "resold"
# The order status a ticket can be put back from (purchase/tickets.py PAID).
PAID = "paid"


def refund_key(listing_id: str) -> str:
    """The idempotency key of a seller's refund: one refund per listing, however often asked."""
    return f"resale-{listing_id}"


def put_back(
    engine: Engine, scripts: SyncScripts, event_id: str, code: str, fan_id: str
) -> ResaleListing:
    """Lists the ticket with this code for resale and puts its seat back on sale.

    Only the fan who bought it (``fan_id``, the session's entrant in this
    event) may, and only a paid ticket not yet used: raises
    ``unknown_ticket``, ``ticket_of_another_event``, ``not_your_ticket``,
    ``ticket_not_valid``, ``ticket_checked_in`` or ``ticket_listed``,
    changing nothing. Asking again for a listed ticket finishes a put-back
    that stopped between the database and Redis, then says ``ticket_listed``.
    """
    try:
        listing = _list_ticket(engine, event_id, code, fan_id)
    except FairdropError as refused:
        if refused.code == ErrorCode.TICKET_LISTED:
            # Even resold: a buyer may have taken a listing whose seat never
            # went back (a crash in between); the seat is returned once, late.
            earlier = listing_of_ticket(engine, code)
            if earlier is not None:
                return_seat(scripts, earlier)
        raise
    return_seat(scripts, listing)
    return listing


def return_seat(scripts: SyncScripts, listing: ResaleListing) -> bool:
    """resale_return.lua: the listing's seat is available again (once); True the first time."""
    answer = json.loads(
        scripts.run("resale_return", listing.event_id, listing.id, listing.ticket_type_id, "0")
    )
    if not answer["ok"]:
        # Redis does not know the sale or its sold tickets (lost and rebuilt):
        # the listing stands, and a buyer of its type still takes it.
        log.warning("listing %s: its seat did not go back on sale: %s", listing.id, answer)
    return bool(answer.get("returned"))


def _list_ticket(engine: Engine, event_id: str, code: str, fan_id: str) -> ResaleListing:
    now = utcnow()
    with open_session(engine) as session:
        ticket = session.exec(select(Ticket).where(Ticket.code == code)).first()
        if ticket is None:
            raise FairdropError(ErrorCode.UNKNOWN_TICKET, "no ticket has this code")
        # Locked: an organiser's cancel of this order waits, then sees the listing
        # (purchase/orders.py refuses to cancel an order with a ticket put back).
        order = session.exec(
            select(Order).where(Order.id == ticket.order_id).with_for_update()
        ).one()
        _check_may_list(ticket, order, event_id, fan_id)
        # The ticket row decides, not what was read above: a door scanning it
        # now checks ``listed_at IS NULL`` on the same row (purchase/tickets.py).
        listed = session.execute(
            update(Ticket)
            .where(
                col(Ticket.id) == ticket.id,
                col(Ticket.listed_at).is_(None),
                col(Ticket.checked_in_at).is_(None),
                col(Ticket.voided_at).is_(None),
            )
            .values(listed_at=now)
            .returning(col(Ticket.id))
        ).first()
        if listed is None:
            session.rollback()
            raise FairdropError(ErrorCode.TICKET_CHECKED_IN, "this ticket was just used")
        listing = ResaleListing(
            id=uuid.uuid4().hex,
            event_id=event_id,
            ticket_id=ticket.id,
            ticket_type_id=ticket.ticket_type_id,
            seller_order_id=order.id,
            price_cents=_price_paid(session, order, ticket.ticket_type_id),
            currency=order.currency,
            listed_at=now,
        )
        session.add(listing)
        session.commit()
        session.refresh(listing)
        return listing


def _check_may_list(ticket: Ticket, order: Order, event_id: str, fan_id: str) -> None:
    """Raises the refusal for a ticket that may not be put back; in the order a caller
    should learn them (another's ticket says nothing about its state)."""
    if order.event_id != event_id:
        raise FairdropError(
            ErrorCode.TICKET_OF_ANOTHER_EVENT, "this ticket is for another sale: not put back"
        )
    if order.fan_id != fan_id:
        raise FairdropError(
            ErrorCode.NOT_YOUR_TICKET, "only the fan who bought this ticket can put it back"
        )
    if ticket.listed_at is not None:
        raise FairdropError(ErrorCode.TICKET_LISTED, "this ticket is already put back for resale")
    if ticket.voided_at is not None or order.status != PAID:
        why = "resold" if ticket.voided_at is not None else order.status
        raise FairdropError(ErrorCode.TICKET_NOT_VALID, f"this ticket is not valid ({why})")
    if ticket.checked_in_at is not None:
        raise FairdropError(
            ErrorCode.TICKET_CHECKED_IN, "this ticket was used at the door: it cannot be put back"
        )


def _price_paid(session: Session, order: Order, type_id: str) -> int:
    """What the seller paid for one ticket of this type in this order: their refund.

    The unit price less this ticket's share of the order's discount, by value
    and rounded up, so the refunds of all its tickets never pass what was paid.
    """
    unit = session.exec(
        select(OrderItem.unit_price_cents).where(
            OrderItem.order_id == order.id, OrderItem.ticket_type_id == type_id
        )
    ).first()
    if unit is None:
        raise LookupError(f"order {order.id} has no item of {type_id}")
    listed = order.total_cents + order.discount_cents
    share = -(-order.discount_cents * int(unit) // listed) if listed else 0
    return max(0, int(unit) - share)


def take_listings(
    session: Session, event_id: str, order_id: str, items: Iterable[tuple[str, int]]
) -> list[ResaleListing]:
    """In the buyer's order transaction: the oldest listings of each type bought,
    up to the quantity, resold to ``order_id`` and their tickets voided.

    Without any listing of a type (the common case) this is one read. With
    some, the type's row is locked first, so two orders written at once take
    different listings and neither misses one (a missed listing would leave
    its seller's ticket valid beside the buyer's: one valid ticket too many).
    """
    now = utcnow()
    taken: list[ResaleListing] = []
    for type_id, quantity in items:
        if not _has_listing(session, event_id, type_id):
            continue
        session.exec(select(TicketType.id).where(TicketType.id == type_id).with_for_update())
        listings = session.exec(
            select(ResaleListing)
            .where(
                ResaleListing.event_id == event_id,
                ResaleListing.ticket_type_id == type_id,
                ResaleListing.status == LISTED,
            )
            .order_by(col(ResaleListing.listed_at), col(ResaleListing.id))
            .limit(quantity)
        ).all()
        for listing in listings:
            _resell(session, listing, order_id, now)
            taken.append(listing)
    return taken


def _has_listing(session: Session, event_id: str, type_id: str) -> bool:
    found = session.exec(
        select(ResaleListing.id)
        .where(
            ResaleListing.event_id == event_id,
            ResaleListing.ticket_type_id == type_id,
            ResaleListing.status == LISTED,
        )
        .limit(1)
    ).first()
    return found is not None


def _resell(session: Session, listing: ResaleListing, order_id: str, now: datetime) -> None:
    listing.status = RESOLD
    listing.buyer_order_id = order_id
    listing.resold_at = now
    session.add(listing)
    # Void from this commit on: the door refuses the old code (purchase/tickets.py).
    session.execute(update(Ticket).where(col(Ticket.id) == listing.ticket_id).values(voided_at=now))


def settle_resales(engine: Engine, settings: Settings, buyer_order_id: str) -> list[ResaleListing]:
    """Refunds the sellers whose tickets this paid order took; the listings it settled now.

    A resale completes here, once per listing: the seller's ticket is void
    (since the buyer's order was written) and the seller has their money
    back. Each listing is in the answer of exactly one call, so what should
    be said once per resale (a ``resold`` lifecycle entry) hangs here. Safe to call
    again: a listing refunded already is skipped, and the provider gets the
    same idempotency key for a refund asked twice (Stripe then answers with
    the first refund). Raises when the provider fails, so the confirm job is
    retried and finishes the refunds.
    """
    with open_session(engine) as session:
        owed = session.exec(
            select(ResaleListing, Order)
            .join(Order, col(Order.id) == col(ResaleListing.seller_order_id))
            .where(
                ResaleListing.buyer_order_id == buyer_order_id,
                ResaleListing.status == RESOLD,
                col(ResaleListing.refund_ref).is_(None),
            )
            .order_by(col(ResaleListing.id))
        ).all()
    settled = []
    for listing, seller in owed:
        provider = provider_named(seller.payment_provider, settings)
        refund_ref = provider.refund(
            seller.payment_ref, listing.price_cents, listing.currency, refund_key(listing.id)
        )
        with open_session(engine) as session:
            # Whoever's UPDATE writes the refund settles the listing: once, even
            # with two confirms of the same order running at once.
            won = session.execute(
                update(ResaleListing)
                .where(col(ResaleListing.id) == listing.id, col(ResaleListing.refund_ref).is_(None))
                .values(refund_ref=refund_ref, refunded_at=utcnow())
                .returning(col(ResaleListing.id))
            ).first()
            session.commit()
            done = session.get(ResaleListing, listing.id)
        if won is not None and done is not None:
            settled.append(done)
    return settled


def listing_of_ticket(engine: Engine, code: str) -> ResaleListing | None:
    with open_session(engine) as session:
        return session.exec(
            select(ResaleListing)
            .join(Ticket, col(Ticket.id) == col(ResaleListing.ticket_id))
            .where(Ticket.code == code)
        ).first()


def buyer_of_ticket(engine: Engine, code: str) -> str | None:
    """The entrant whose order holds this ticket: the one fan who may put it back."""
    with open_session(engine) as session:
        return session.exec(
            select(Order.fan_id)
            .join(Ticket, col(Ticket.order_id) == col(Order.id))
            .where(Ticket.code == code)
        ).first()


def order_has_resale(session: Session, order_id: str) -> bool:
    """Whether a ticket of this order was put back (listed or resold)."""
    found = session.exec(
        select(ResaleListing.id).where(ResaleListing.seller_order_id == order_id).limit(1)
    ).first()
    return found is not None


def mark_seats_returned(engine: Engine, scripts: SyncScripts, event_id: str) -> int:
    """After a sale was rebuilt from the database (which counts put-back seats as not
    sold): every listing's seat recorded as returned, so none is returned twice."""
    with open_session(engine) as session:
        listings = session.exec(
            select(ResaleListing.id, ResaleListing.ticket_type_id).where(
                ResaleListing.event_id == event_id
            )
        ).all()
    for listing_id, type_id in listings:
        scripts.run("resale_return", event_id, listing_id, type_id, "1")
    return len(listings)


def put_back_counts(engine: Engine, event_id: str) -> dict[tuple[str, str], int]:
    """Tickets put back (listed or resold) per seller order and type: seats its
    order no longer holds, for a sale rebuilt from the database (purchase/restore.py)."""
    with open_session(engine) as session:
        rows = session.exec(
            select(ResaleListing.seller_order_id, ResaleListing.ticket_type_id, func.count())
            .where(ResaleListing.event_id == event_id)
            .group_by(col(ResaleListing.seller_order_id), col(ResaleListing.ticket_type_id))
        ).all()
    return {(order_id, type_id): int(n) for order_id, type_id, n in rows}


def resold_count(engine: Engine, event_id: str | None = None) -> int:
    """Resales completed: listings resold whose seller was refunded (the demo's ``resold``)."""
    query = select(func.count()).where(
        col(ResaleListing.status) == RESOLD, col(ResaleListing.refund_ref).is_not(None)
    )
    if event_id is not None:
        query = query.where(col(ResaleListing.event_id) == event_id)
    with open_session(engine) as session:
        return int(session.exec(query).one())
