"""Error codes fans and organisers can see, and the exception that carries them.

Every 4xx answer is ``{"error": {"code": ..., "message": ...}}`` with a code
from this module, so clients and tests can rely on the codes. So is every
code on a fan's socket (fairdrop/protocol.py): an ``error`` message's, and a
refused hold's, payment's or order's. A few codes only ever travel there,
from the purchase worker's scripts and jobs, never as an HTTP answer: they
are :data:`WORKER_ONLY`, and have no HTTP status.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    MALFORMED_JSON = "malformed_json"
    INVALID_FIELD = "invalid_field"
    BODY_TOO_LARGE = "body_too_large"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    UNKNOWN_EVENT = "unknown_event"
    EVENT_EXISTS = "event_exists"
    UNKNOWN_TICKET_TYPE = "unknown_ticket_type"
    UNKNOWN_HOLD = "unknown_hold"
    UNKNOWN_REQUEST = "unknown_request"
    UNKNOWN_TICKET = "unknown_ticket"
    UNKNOWN_ORDER = "unknown_order"
    UNKNOWN_ROUND = "unknown_round"
    ORDER_NOT_PAID = "order_not_paid"
    NO_FAN_ID = "no_fan_id"
    NOT_OPEN = "not_open"
    NOT_ADMITTED = "not_admitted"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    FOREIGN_TOKEN = "foreign_token"
    PAUSED = "paused"
    SOLD_OUT = "sold_out"
    NOT_ENOUGH_STOCK = "not_enough_stock"
    LIMIT_EXCEEDED = "limit_exceeded"
    HOLD_EXISTS = "hold_exists"
    HOLD_EXPIRED = "hold_expired"
    HOLD_NOT_YOURS = "hold_not_yours"
    DRAW_NOT_DONE = "draw_not_done"
    MESSAGE_TOO_LARGE = "message_too_large"
    TOO_MANY_MESSAGES = "too_many_messages"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BAD_SIGNATURE = "bad_signature"
    PAYMENTS_NOT_CONFIGURED = "payments_not_configured"
    SIGN_IN_REQUIRED = "sign_in_required"
    NOT_ON_LIST = "not_on_list"
    WINDOW_OPEN = "window_open"
    INVALID_LINK = "invalid_link"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNKNOWN_PRESALE = "unknown_presale"
    PRESALE_EXPIRED = "presale_expired"
    PRESALE_USED_UP = "presale_used_up"
    UNKNOWN_DOOR_TOKEN = "unknown_door_token"
    DOOR_TOKEN_REVOKED = "door_token_revoked"
    TICKET_OF_ANOTHER_EVENT = "ticket_of_another_event"
    # Resale (purchase/resale.py): only the buyer of a paid ticket not yet used
    # may put it back, once; an order with a ticket put back is not cancelled whole.
    NOT_YOUR_TICKET = "not_your_ticket"
    TICKET_CHECKED_IN = "ticket_checked_in"
    TICKET_NOT_VALID = "ticket_not_valid"
    TICKET_LISTED = "ticket_listed"
    ORDER_HAS_RESALE = "order_has_resale"
    # A sale someone holds or bought tickets of (a presale) cannot be deleted.
    SALE_HAS_BUYERS = "sale_has_buyers"
    # Queueing again is for a fan whose turn ended without buying (buffer/lua/queue_again.lua).
    TURN_NOT_OVER = "turn_not_over"
    ALREADY_BOUGHT = "already_bought"
    EMAIL_SIGN_IN_NOT_CONFIGURED = "email_sign_in_not_configured"
    LINK_EXPIRED = "link_expired"
    SIGN_IN_USED = "sign_in_used"
    UNKNOWN_SIGN_IN = "unknown_sign_in"
    WRONG_CODE = "wrong_code"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    TOO_MANY_SIGN_INS = "too_many_sign_ins"
    LOGIN_NOT_CONFIGURED = "login_not_configured"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_UNAVAILABLE = "sign_in_unavailable"
    CROSS_SITE_REQUEST = "cross_site_request"
    REQUEST_TIMEOUT = "request_timeout"
    HEADERS_TOO_LARGE = "headers_too_large"
    PROOF_OF_WORK_REQUIRED = "proof_of_work_required"
    INVALID_PROOF_OF_WORK = "invalid_proof_of_work"
    TOO_MANY_REQUESTS = "too_many_requests"
    # A new anonymous entrant past its address's share of a sale (join.lua).
    ADDRESS_BUSY = "address_busy"
    BLOCKED = "blocked"
    # No place in the sale for this session, so no receipt (web/receipts.py).
    NOT_ENTERED = "not_entered"
    # The sale's Redis is out of reach (down, restarting) or has not had the
    # sale put back yet (purchase/restore.py): ask again after Retry-After.
    UNAVAILABLE = "unavailable"
    # Discount codes (purchase/discounts.py, hold.lua): refused, nothing held or used.
    UNKNOWN_DISCOUNT = "unknown_discount"
    DISCOUNT_EXPIRED = "discount_expired"
    DISCOUNT_USED_UP = "discount_used_up"
    DISCOUNT_NOT_APPLICABLE = "discount_not_applicable"
    DISCOUNT_EXISTS = "discount_exists"
    # The worker's own, on a fan's socket only (WORKER_ONLY below).
    # A payment after its hold ended, whose tickets are gone by now (confirm.lua).
    NO_STOCK = "no_stock"
    # A payment for a hold that ended otherwise (an organiser's refund: confirm.lua).
    HOLD_ENDED = "hold_ended"
    # A second payment for a hold another payment bought (purchase/jobs.py confirm_job).
    PAID_TWICE = "paid_twice"
    # The ``order`` answer of a payment that bought nothing: it went back in full;
    # the answer's ``reason`` is one of the codes here.
    REFUNDED = "refunded"
    # The provider refused or cancelled the payment; the hold was let go
    # (purchase/payment_events.py).
    PAYMENT_FAILED = "payment_failed"
    # Refund reasons: a paid amount other than the hold's price; an order the
    # database refused to record (purchase/jobs.py undo_unrecordable_sale).
    AMOUNT_MISMATCH = "amount_mismatch"
    ORDER_NOT_RECORDED = "order_not_recorded"
    # Only sold holds go back on sale (return_sold.lua, an organiser's cancel).
    HOLD_NOT_SOLD = "hold_not_sold"


# Codes the purchase worker sends on a fan's socket (or logs), never an HTTP
# answer: no status, and not in the OpenAPI document's HTTP errors.
WORKER_ONLY = frozenset(
    {
        ErrorCode.NO_STOCK,
        ErrorCode.HOLD_ENDED,
        ErrorCode.PAID_TWICE,
        ErrorCode.REFUNDED,
        ErrorCode.PAYMENT_FAILED,
        ErrorCode.AMOUNT_MISMATCH,
        ErrorCode.ORDER_NOT_RECORDED,
        ErrorCode.HOLD_NOT_SOLD,
    }
)


STATUS_FOR: dict[ErrorCode, int] = {
    ErrorCode.MALFORMED_JSON: 400,
    ErrorCode.INVALID_FIELD: 422,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNKNOWN_EVENT: 404,
    ErrorCode.EVENT_EXISTS: 409,
    ErrorCode.UNKNOWN_TICKET_TYPE: 422,
    ErrorCode.UNKNOWN_HOLD: 404,
    ErrorCode.UNKNOWN_REQUEST: 404,
    ErrorCode.UNKNOWN_TICKET: 404,
    ErrorCode.UNKNOWN_ORDER: 404,
    ErrorCode.UNKNOWN_ROUND: 404,
    ErrorCode.ORDER_NOT_PAID: 409,
    ErrorCode.NO_FAN_ID: 401,
    ErrorCode.NOT_OPEN: 409,
    ErrorCode.NOT_ADMITTED: 403,
    ErrorCode.INVALID_TOKEN: 403,
    ErrorCode.TOKEN_EXPIRED: 403,
    ErrorCode.FOREIGN_TOKEN: 403,
    ErrorCode.PAUSED: 409,
    ErrorCode.SOLD_OUT: 409,
    ErrorCode.NOT_ENOUGH_STOCK: 409,
    ErrorCode.LIMIT_EXCEEDED: 409,
    ErrorCode.HOLD_EXISTS: 409,
    ErrorCode.HOLD_EXPIRED: 409,
    ErrorCode.HOLD_NOT_YOURS: 403,
    ErrorCode.DRAW_NOT_DONE: 409,
    ErrorCode.MESSAGE_TOO_LARGE: 413,
    ErrorCode.TOO_MANY_MESSAGES: 429,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.BAD_SIGNATURE: 400,
    ErrorCode.PAYMENTS_NOT_CONFIGURED: 404,
    ErrorCode.SIGN_IN_REQUIRED: 401,
    ErrorCode.NOT_ON_LIST: 403,
    ErrorCode.WINDOW_OPEN: 409,
    ErrorCode.SALE_HAS_BUYERS: 409,
    ErrorCode.TURN_NOT_OVER: 409,
    ErrorCode.ALREADY_BOUGHT: 409,
    ErrorCode.INVALID_LINK: 400,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.UNKNOWN_PRESALE: 404,
    ErrorCode.PRESALE_EXPIRED: 410,
    ErrorCode.PRESALE_USED_UP: 409,
    ErrorCode.UNKNOWN_DOOR_TOKEN: 404,
    ErrorCode.DOOR_TOKEN_REVOKED: 403,
    # Valid, but not at this event's doors: nothing is checked in.
    ErrorCode.TICKET_OF_ANOTHER_EVENT: 409,
    ErrorCode.NOT_YOUR_TICKET: 403,
    ErrorCode.TICKET_CHECKED_IN: 409,
    ErrorCode.TICKET_NOT_VALID: 409,
    ErrorCode.TICKET_LISTED: 409,
    ErrorCode.ORDER_HAS_RESALE: 409,
    ErrorCode.EMAIL_SIGN_IN_NOT_CONFIGURED: 404,
    # Gone for good: the fan asks for a new link.
    ErrorCode.LINK_EXPIRED: 410,
    # A sign-in challenge works once, by its link or its code.
    ErrorCode.SIGN_IN_USED: 409,
    ErrorCode.UNKNOWN_SIGN_IN: 404,
    ErrorCode.WRONG_CODE: 403,
    # The challenge is closed after too many wrong codes.
    ErrorCode.TOO_MANY_ATTEMPTS: 429,
    # Too many challenges for one address at once.
    ErrorCode.TOO_MANY_SIGN_INS: 429,
    ErrorCode.LOGIN_NOT_CONFIGURED: 404,
    # The OpenID Connect callback refused: state, code, provider error or ID token.
    ErrorCode.SIGN_IN_FAILED: 400,
    # A 5xx: the sign-in provider cannot be reached or answered with a server error.
    ErrorCode.SIGN_IN_UNAVAILABLE: 503,
    # A state-changing request from a page of another site (web/edge.py).
    ErrorCode.CROSS_SITE_REQUEST: 403,
    # Too slow: a request's head or body did not arrive in time (web/slow_clients.py,
    # web/validation.py read_body).
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.HEADERS_TOO_LARGE: 431,
    # A new entrant of a sale with a difficulty joins with a solved challenge
    # (web/proof_of_work.py); 428: the request lacks what the server requires
    # first, and on the socket 4428 tells this refusal from the others.
    ErrorCode.PROOF_OF_WORK_REQUIRED: 428,
    # Forged, expired, used already, or for another sale or session.
    ErrorCode.INVALID_PROOF_OF_WORK: 403,
    # Past a rate limit of the client's address or of the fan (web/rate_limits.py);
    # the answer's Retry-After says when the next one goes through.
    ErrorCode.TOO_MANY_REQUESTS: 429,
    ErrorCode.ADDRESS_BUSY: 429,
    # The client's address is on the organiser's blocklist (web/blocklist.py).
    ErrorCode.BLOCKED: 403,
    ErrorCode.NOT_ENTERED: 404,
    # A 5xx too, with Retry-After: neither the fan's fault nor lasting (web/unavailable.py).
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.UNKNOWN_DISCOUNT: 404,
    ErrorCode.DISCOUNT_EXPIRED: 410,
    ErrorCode.DISCOUNT_USED_UP: 409,
    # The order has no ticket of the code's type.
    ErrorCode.DISCOUNT_NOT_APPLICABLE: 422,
    # The sale has that code already (codes are case-insensitive).
    ErrorCode.DISCOUNT_EXISTS: 409,
}


# Every code but the worker's own has its HTTP status (tests/web/test_openapi.py checks).
HTTP_CODES = tuple(code for code in ErrorCode if code not in WORKER_ONLY)


class FairdropError(Exception):
    """A refusal with a code a client can act on."""

    def __init__(self, code: ErrorCode, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # Whole seconds until asking again can work: the HTTP answer's Retry-After.
        self.retry_after_s = retry_after_s

    @property
    def status(self) -> int:
        return STATUS_FOR[self.code]

    def as_body(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code.value, "message": self.message}}
