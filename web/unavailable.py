"""The sale's Redis out of reach: a clear 503 ``unavailable``, never a 500.

While Redis is down or restarting, a call that needs it fails with redis-py's
ConnectionError or TimeoutError once the client's own retries are spent
(fairdrop/connections.py). The app answers it here: an HTTP call gets 503
``unavailable`` with Retry-After, a fan's socket the same error message and
the close code 4503 (4000 + the status, as web/sockets.py closes on any
refusal), after which the page reconnects by itself. A sale the database has
and Redis lacks (Redis came back empty, and the clock has not put the sale
back yet: purchase/restore.py) gets the same answer, not 404
``unknown_event``, which would tell a page to give up on a sale that is
back a second later.
"""

from __future__ import annotations

import logging

import redis
import sqlalchemy.exc
from starlette.requests import Request
from starlette.responses import Response

from fairdrop.errors import ErrorCode, FairdropError
from web.views import error_response

log = logging.getLogger("fairdrop.web")

# What redis-py raises while a lone server or a cluster's node is out of reach.
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterDownError,
)
# PostgreSQL out of reach: a web process started during an outage has no
# sale in its catalog yet (web/catalog.py reads it from the database once).
DATABASE_DOWN: tuple[type[Exception], ...] = (sqlalchemy.exc.OperationalError,)
# The clock looks for lost sales every second (launch/clock.py).
RETRY_AFTER_S = 1


def redis_down() -> FairdropError:
    return FairdropError(
        ErrorCode.UNAVAILABLE,
        "the sale's server is restarting: try again in a moment",
        retry_after_s=RETRY_AFTER_S,
    )


def database_down() -> FairdropError:
    return FairdropError(
        ErrorCode.UNAVAILABLE,
        "the sale's database is out of reach: try again in a moment",
        retry_after_s=RETRY_AFTER_S,
    )


def sale_not_back(event_id: str) -> FairdropError:
    """A sale the catalog knows that Redis lacks: it is being put back."""
    return FairdropError(
        ErrorCode.UNAVAILABLE,
        f"sale {event_id} is being restored: try again in a moment",
        retry_after_s=RETRY_AFTER_S,
    )


async def answer_redis_down(request: Request, exc: Exception) -> Response:
    """The app's handler for :data:`REDIS_DOWN`: one log line, not a traceback per call.

    HTTP only: the one socket route, the fan's, answers for itself (web/sockets.py).
    """
    log.warning("Redis out of reach (%s): %s", request.url.path, exc)
    return error_response(redis_down())


async def answer_database_down(request: Request, exc: Exception) -> Response:
    """The app's handler for :data:`DATABASE_DOWN`, as for Redis."""
    log.warning("the database out of reach (%s): %s", request.url.path, exc)
    return error_response(database_down())
