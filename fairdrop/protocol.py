"""The fan socket's protocol, in one place: every message's kind and fields.

A fan's page opens ``/ws/events/{event_id}`` with its session cookie (a join
made it). Every message either way is one JSON object whose ``t`` names its
kind (:class:`MessageType`). The server sends:

- ``status`` (:class:`StatusMessage`): the fan's own place (its
  :class:`FanState`, number, admission, hold) with the sale's shared figures.
  The first message on every socket, and again whenever the fan's place
  changes; complete on its own.
- ``progress`` (:class:`ProgressMessage`): the sale's shared figures only, the
  same text to every socket, on each change and heartbeat; the page works out
  its own "ahead" and wait from its number (static/queue_state.js).
- answers to this fan only, from the purchase worker or the web process:
  ``hold_queued``, ``hold_result``, ``payment``, ``order``, ``released``,
  ``order_refunded``. Each answer from the worker carries the fan's new
  ``status`` in its :data:`STATUS_FIELD` (one frame, not two: a frame costs
  the web process a write system call); a page reads the answer, then that
  status, as if they had come one after the other;
- ``error`` (:class:`ErrorMessage`, a code of :class:`fairdrop.errors.ErrorCode`):
  a refused message (the socket stays open) or a refused socket (then closed
  with 4000 + the code's HTTP status, or 1008 / 1009 for floods and size);
- ``pong``, the answer to a ``ping``.

The page sends ``ping`` (:class:`PingMessage`) and ``hold``
(:class:`HoldMessage`, the same request as ``POST /purchases``).

Between Redis and the web processes the event's pub/sub channel carries the
clock's :class:`SaleProgress` (``t`` ``progress``, without ``fan``) and the
fan messages above with a ``fan`` field naming their entrant, which the web
process strips before it sends them to that fan's sockets only. A worker that
answers many fans at once (a batch of holds) publishes them as one message
whose :data:`FANS_FIELD` lists them, each with its ``fan``: every web process
decodes the batch once instead of one message per fan.

The page's JavaScript (static/) cannot import this module: it spells the same
names, and the README's "The socket protocol" section lists them for both.
Fields are as sent today; a new field is added here first.
"""

# No ``from __future__ import annotations`` here: the TypedDicts' required and
# optional keys are read at run time (tests compare them with what the server sends).
from enum import StrEnum
from typing import Literal, NotRequired, TypedDict

from fairdrop.errors import ErrorCode


class MessageType(StrEnum):
    """The ``t`` of every message on a fan's socket and on the event's channel."""

    # The server to the page.
    STATUS = "status"
    PROGRESS = "progress"
    HOLD_QUEUED = "hold_queued"
    HOLD_RESULT = "hold_result"
    PAYMENT = "payment"
    ORDER = "order"
    RELEASED = "released"
    ORDER_REFUNDED = "order_refunded"
    ERROR = "error"
    PONG = "pong"
    # The page to the server.
    PING = "ping"
    HOLD = "hold"


class FanState(StrEnum):
    """What a fan's page shows: a ``status`` message's ``state``."""

    # The sale's window has not opened: the page waits, its socket open.
    NOT_OPEN = "not_open"
    # In the window (or the draw): in, without a number until the draw.
    WAITING_ROOM = "waiting_room"
    # The address placed its share of new entrants: the room tries again at ``wait_s``.
    ADDRESS_BUSY = "address_busy"
    QUEUED = "queued"
    # Let in: ``admission`` holds the token to buy with and its deadline.
    ADMITTED = "admitted"
    # Let in, but the hold time passed without a hold.
    TURN_OVER = "turn_over"
    # Has tickets.
    DONE = "done"
    SOLD_OUT = "sold_out"


class EntryStatus(StrEnum):
    """A join's place (join.lua): ``status`` in ``POST /join``'s answer.

    A refused join (unknown_event, sign_in_required, not_on_list) is an HTTP
    error instead; address_busy is one too (429) over HTTP, while a socket
    waits with it and tries again.
    """

    NOT_OPEN = "not_open"
    BUFFERED = "buffered"  # in the window: drawn at its close
    QUEUED = "queued"  # after the window: in arrival order, behind everyone drawn
    SOLD_OUT = "sold_out"
    ADDRESS_BUSY = "address_busy"


# The statuses of a join that gave the fan a place.
PLACED = frozenset({EntryStatus.BUFFERED, EntryStatus.QUEUED})


class SaleState(StrEnum):
    """The sale's phase (``event_state`` on the socket, ``state`` on the channel)."""

    SCHEDULED = "scheduled"
    BUFFERING = "buffering"
    DRAWING = "drawing"
    QUEUEING = "queueing"
    SOLD_OUT = "sold_out"


# Phases in which a drawn fan has no number yet.
BEFORE_NUMBERS = frozenset({SaleState.SCHEDULED, SaleState.BUFFERING, SaleState.DRAWING})


# --- what the server sends ----------------------------------------------------


class SaleFigures(TypedDict):
    """The part of ``status`` and ``progress`` that is the same for every fan."""

    event_state: SaleState
    serving: int  # the highest number let in so far
    drawn: int  # how many entrants the draw numbered; a higher number joined after it
    remaining: dict[str, int]  # tickets available per ticket type id
    remaining_total: int
    tickets_may_return: bool  # none left, but live holds may give some back
    paused: bool
    pause_message: str  # the organiser's words while paused ("" for the page's own)
    opens_at: int  # epoch ms
    drop_at: int  # epoch ms: the window closes and the draw runs
    rate_per_min: int  # fans let in per minute
    # For the page's odds and wait (queue_engine/odds.py, static/queue_odds.js):
    in_room: int  # fans waiting for their turn, and fans let in still shopping
    held: int  # tickets in live holds: they come back if unpaid
    choosing: int  # fans let in who hold nothing yet
    choosing_long: int  # of them, choosing longer than any buyer took: likely to buy nothing
    buyers: int  # fans who have held tickets so far
    per_buyer: float  # tickets per buyer so far (0 before anyone has bought)
    per_buyer_sd: float  # how much buyers differ in that
    most_per_fan: int  # the most one fan may take now (per-person limits of types left)
    hold_return_share: float  # of the holds' tickets that ended, the share that came back
    next_admit_ms: int | None  # epoch ms the next fan goes in at the rate; None: no rate
    # What holds the queue back: "rate", "cap" (fans shopping), "stock" (every
    # ticket left promised to fans choosing now), or "" (nobody waits).
    admit_limit: str
    # The latest resale round (buffer/rounds.py): tickets back after the sale
    # sold out are drawn among whoever enters its window. 0 before any round.
    round: int
    round_state: str  # "buffering" (open), "drawing", or "" (none open)
    round_drop_at: int  # epoch ms its window closes
    round_entered: int  # fans in it while it is open


class SignedAdmission(TypedDict):
    """A status's ``admission``: the fan may ask for tickets with the token until the deadline."""

    token: str  # signed: the fan's right to ask for tickets until the deadline
    deadline_ms: int


class FanPlace(TypedDict):
    """The part of ``status`` that is this fan's own."""

    t: Literal[MessageType.STATUS]
    state: FanState
    number: int  # 0 until the fan has one (the draw, or joining after it)
    ahead: int | None  # fans before this one still to be let in; None without a number
    # Seconds until queued fan's turn at the current rate, or, while address_busy,
    # until the room tries to place the page again; None otherwise.
    wait_s: int | None
    admission: SignedAdmission | None  # set while admitted
    hold_id: str  # the fan's live hold, or ""
    now_ms: int  # the server's clock, so a page with a wrong clock counts down right


class StatusMessage(FanPlace, SaleFigures):
    """``status``: the fan's place and the sale's figures in one object."""


class ProgressMessage(SaleFigures):
    """``progress``: the shared figures, one text for every socket."""

    t: Literal[MessageType.PROGRESS]
    now_ms: int


class FanAnswer(TypedDict):
    """What every answer from the worker to one fan may carry: its status after it.

    Sent by the web process when the fan's place is known (its room has the
    sale's progress): the page reads it as the ``status`` that follows the
    answer (the hold it now has, its order's "done").
    """

    status: NotRequired[StatusMessage]


class HoldQueuedMessage(TypedDict):
    """A ``hold`` sent on the socket was accepted; its answer comes as ``hold_result``."""

    t: Literal[MessageType.HOLD_QUEUED]
    request_id: str


class Hold(TypedDict):
    """A hold as the purchase scripts keep it (purchase/lua, ``take_hold``)."""

    id: str
    fan: str
    items: list[list[str | int]]  # [[ticket type id, quantity], ...]
    status: str  # held, confirmed, expired, released, refunded
    created_at: int
    expires_at: int  # epoch ms: unpaid, the tickets go back then
    request_id: str
    buyer: str
    presale: NotRequired[str]


class HoldResultMessage(FanAnswer):
    """The worker's answer to a hold request: the hold, or a refusal's code."""

    t: Literal[MessageType.HOLD_RESULT]
    ok: bool
    request_id: str
    hold: NotRequired[Hold]
    code: NotRequired[ErrorCode]
    message: NotRequired[str]
    price: NotRequired[dict[str, int | str]]  # a discounted hold's (purchase/jobs.py _price)


class StripeSetUp(TypedDict):
    publishable_key: str
    js_url: str


class PaymentMessage(FanAnswer):
    """A payment started (``pending``: the page confirms it with the provider), or refused.

    A refused one is ``unknown_hold``, ``hold_expired``, or ``payment_failed``
    (the provider said no; ``released`` says the hold was let go).
    """

    t: Literal[MessageType.PAYMENT]
    ok: bool
    pending: NotRequired[bool]
    hold_id: NotRequired[str]
    provider: NotRequired[str]
    client_secret: NotRequired[str | None]
    stripe: NotRequired[StripeSetUp]
    code: NotRequired[ErrorCode]
    message: NotRequired[str]
    released: NotRequired[bool]


class Ticket(TypedDict):
    type: str
    code: str


class OrderMessage(FanAnswer):
    """The order a payment bought, or its refund (``code`` ``refunded``).

    A refund's ``reason`` is the code of why it bought nothing: ``hold_ended``,
    ``no_stock``, ``paid_twice``, a hold's own refusal (``sold_out``,
    ``limit_exceeded``, ...), ``amount_mismatch`` or ``order_not_recorded``.
    """

    t: Literal[MessageType.ORDER]
    ok: bool
    hold_id: str
    order_id: NotRequired[str]
    total_cents: NotRequired[int]
    currency: NotRequired[str]
    late: NotRequired[bool]  # paid after the hold ended, and the tickets were still free
    tickets: NotRequired[list[Ticket]]
    code: NotRequired[ErrorCode]
    reason: NotRequired[ErrorCode]
    refund_ref: NotRequired[str]
    message: NotRequired[str]


class ReleasedMessage(FanAnswer):
    """The fan let a hold go (``released``: it was still live)."""

    t: Literal[MessageType.RELEASED]
    ok: bool
    hold_id: str
    released: NotRequired[bool]
    code: NotRequired[ErrorCode]
    message: NotRequired[str]


class OrderRefundedMessage(FanAnswer):
    """The organiser cancelled one of this fan's orders: refunded, its tickets void."""

    t: Literal[MessageType.ORDER_REFUNDED]
    order_id: str
    refund_ref: str | None


class ErrorMessage(TypedDict):
    t: Literal[MessageType.ERROR]
    code: ErrorCode
    message: str


class PongMessage(TypedDict):
    t: Literal[MessageType.PONG]


# --- what the page sends ------------------------------------------------------


class PingMessage(TypedDict):
    t: Literal[MessageType.PING]


class Item(TypedDict):
    type: str  # a ticket type id
    quantity: int


class HoldMessage(TypedDict):
    """Asks for tickets, as ``POST /api/events/{id}/purchases`` does."""

    t: Literal[MessageType.HOLD]
    admission_token: str
    items: list[Item]
    discount_code: NotRequired[str]  # any case; hold.lua takes a use with the tickets


# --- the event's channel (Redis pub/sub to the web processes) -----------------


class SaleProgress(TypedDict):
    """The clock's ``progress`` on the channel (queue_engine/lua/_prelude.lua ``progress``)."""

    t: Literal[MessageType.PROGRESS]
    at: int  # epoch ms of the step
    state: SaleState
    serving: int
    last_number: int
    drawn: int  # entrants of the window, numbered by the draw; later numbers joined late
    paused: bool
    pause_message: str
    rate_per_min: int
    cap: int
    hold_ms: int
    drop_at: int
    opens_at: int
    shopping: int
    held: int
    remaining: dict[str, int]
    choosing: int  # shopping without a hold
    choosing_long: int
    buyers: int
    per_buyer: float
    per_buyer_sd: float
    most_per_fan: int
    hold_return_share: float
    tokens: float  # the admission rate's bucket (tick.lua) ...
    tokens_at: int  # ... as of this epoch ms
    admit_limit: str
    round: int  # the latest resale round (SaleFigures)
    round_state: str
    round_drop_at: int
    round_entered: int


# The field that routes a channel message to one fan's sockets (queue_engine/notify.py).
FAN_FIELD = "fan"
# A channel message with this field carries many fans' messages (a list, each
# with its FAN_FIELD), routed as if each had come alone.
FANS_FIELD = "fans"
# The field of a fan's answer on its socket that carries its status (FanAnswer).
STATUS_FIELD = "status"


# Each kind of message the server sends a page, and what the page sends the server.
SERVER_MESSAGES: dict[str, type] = {
    MessageType.STATUS: StatusMessage,
    MessageType.PROGRESS: ProgressMessage,
    MessageType.HOLD_QUEUED: HoldQueuedMessage,
    MessageType.HOLD_RESULT: HoldResultMessage,
    MessageType.PAYMENT: PaymentMessage,
    MessageType.ORDER: OrderMessage,
    MessageType.RELEASED: ReleasedMessage,
    MessageType.ORDER_REFUNDED: OrderRefundedMessage,
    MessageType.ERROR: ErrorMessage,
    MessageType.PONG: PongMessage,
}
PAGE_MESSAGES: dict[str, type] = {
    MessageType.PING: PingMessage,
    MessageType.HOLD: HoldMessage,
}
