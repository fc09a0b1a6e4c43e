"""A locust fan: joins, holds its websocket open, buys one ticket when let in, pays.

locust has no websocket user, so the socket is ``websocket-client`` on
gevent's monkey-patched sockets: a blocking ``recv`` with a timeout yields to
the other fans instead of stalling them. Every step is reported to locust's
request events (HTTP steps through locust's own client, socket steps by hand)
so its charts show joins, admission waits, holds and confirms.

The protocol is fairdrop/protocol.py's, and what the fan does on each message
is launch/fan_client.py's ``FanPage``, the same as the demo's fans: this
module makes the calls with locust's client and reports each step.
"""

from __future__ import annotations

import time
from typing import Any

# locust before anything that opens sockets: importing it monkey-patches them for gevent.
from locust import HttpUser, constant, task
from locust.env import Environment
from websocket import (
    WebSocket,
    WebSocketException,
    WebSocketTimeoutException,
    create_connection,
)

# After locust: the fan client pulls in httpx and websockets (no Redis).
from fairdrop.protocol import FanState, MessageType
from fairdrop.tokens import FAN_COOKIE
from launch.fan_client import (
    FanPage,
    Step,
    event_path,
    items_of,
    join_body,
    messages_in,
    pay_path,
    purchase_body,
    socket_url,
)
from launch.fan_proof import solution_for
from loadtests.drop_figures import STOCK_REFUSALS, DropRun, FanRecord

READ_TIMEOUT_S = 1.0  # how long one recv may wait before the loop looks at the clock
CONNECT_TIMEOUT_S = 10.0
IDLE_CONNECTION_S = 4.0  # under uvicorn's keep-alive timeout (5 s)

# Filled in at test start by the locustfile; one per locust process.
RUN = DropRun()


class FanStepFailed(Exception):
    """A step of the fan's journey went wrong in a way a real fan would notice."""


def report(
    environment: Environment,
    request_type: str,
    name: str,
    started: float,
    length: int = 0,
    failure: str | None = None,
) -> None:
    """One step into locust's statistics, timed from ``started`` (time.monotonic())."""
    environment.events.request.fire(  # type: ignore[no-untyped-call]  # untyped in locust
        request_type=request_type,
        name=name,
        response_time=(time.monotonic() - started) * 1000,
        response_length=length,
        exception=FanStepFailed(failure) if failure else None,
        context={},
    )


def why_refused(step: str, response: Any) -> str:
    """A failed HTTP step in a line: the status and body, or the client's own error."""
    if response.status_code == 0:  # no answer at all: locust keeps the exception
        return f"{step}: no answer: {response.error!r}"
    return f"{step} answered {response.status_code}: {response.text[:200]}"


class FanJourney:
    """One fan's drop, from join to order, driven by the messages on its socket."""

    def __init__(self, user: FanUser, record: FanRecord, timeout_s: float) -> None:
        self.user = user
        self.record = record
        self.timeout_s = timeout_s
        self.page = FanPage(want=RUN.wanted_by(record))
        self.step_started = 0.0
        self.last_http_at = time.monotonic()  # a new user has no pooled connection yet

    def post(self, name: str, path: str, expected: int, body: Any = None) -> bool:
        """One HTTP step through locust's client; False (and a failure) unless ``expected``."""
        if time.monotonic() - self.last_http_at > IDLE_CONNECTION_S:
            # uvicorn closes keep-alive connections idle for 5 s; a POST racing
            # that close dies with RemoteDisconnected and requests never retries
            # a POST (a browser does, on a stale connection). Start afresh instead.
            self.user.client.close()
        with self.user.client.post(path, json=body, name=name, catch_response=True) as answer:
            self.last_http_at = time.monotonic()
            if answer.status_code != expected:
                answer.failure(why_refused(name, answer))
                return False
        return True

    def proof(self) -> str | None:
        """The solution to this fan's proof of work, or None when the sale asks none.

        Solved as a bot would, in Python with altcha's own solver (the page does
        it in a Web Worker); its time is reported as ``POW solve``. Raises
        FanStepFailed when the challenge cannot be had or solved.
        """
        with self.user.client.get(
            event_path(RUN.event_id, "/challenge"), name="challenge", catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure(why_refused("challenge", answer))
                raise FanStepFailed("challenge")
            challenge = answer.json()
        if not challenge["required"]:
            return None
        started = time.monotonic()
        try:
            solution = solution_for(challenge)
        except ValueError as exc:
            raise FanStepFailed(str(exc)) from exc
        report(self.user.environment, "POW", "solve", started)
        return solution

    def run(self) -> None:
        started = time.monotonic()
        try:
            solution = self.proof()
        except FanStepFailed:
            self.finish("join_failed")
            return
        if not self.post("join", event_path(RUN.event_id, "/join"), 200, join_body(solution)):
            self.finish("join_failed")
            return
        self.record.joined_at = self.step_started = time.monotonic()
        self.record.outcome = "joined"
        cookie = self.user.client.cookies.get(FAN_COOKIE)
        try:
            ws = create_connection(
                socket_url(self.user.host or "", RUN.event_id),
                header=[f"Cookie: {FAN_COOKIE}={cookie}"],
                timeout=CONNECT_TIMEOUT_S,
                suppress_origin=True,
            )
        except (OSError, WebSocketException) as exc:
            report(self.user.environment, "WS", "open socket", started, failure=repr(exc))
            self.finish("socket_failed")
            return
        report(self.user.environment, "WS", "open socket", started)
        try:
            ws.settimeout(READ_TIMEOUT_S)
            self.follow(ws, started + self.timeout_s)
        finally:
            ws.close()

    def follow(self, ws: WebSocket, deadline: float) -> None:
        """Reads the socket until this fan is finished or out of time."""
        while time.monotonic() < deadline:
            try:
                raw = ws.recv()
            except WebSocketTimeoutException:
                continue
            except (OSError, WebSocketException) as exc:
                self.fail("socket", f"socket closed: {exc!r}", "socket_closed")
                return
            if not raw:  # an empty frame is what a close looks like here
                self.fail("socket", "socket closed by the server", "socket_closed")
                return
            for message in messages_in(raw):
                if isinstance(message, dict) and self.on_message(message, len(raw)):
                    return
        self.fail("fan timeout", f"not finished after {self.timeout_s} s", "timed_out")

    def finish(self, outcome: str) -> bool:
        self.record.outcome = outcome
        self.record.finished = True
        return True

    def fail(self, name: str, why: str, outcome: str) -> bool:
        report(self.user.environment, "WS", name, self.step_started, failure=why)
        return self.finish(outcome)

    def on_message(self, message: dict[str, Any], length: int) -> bool:
        """True when this fan is finished."""
        page = self.page
        step = page.read(message)
        self.record.number = page.number
        if step is Step.ASK:
            assert page.admission is not None
            if not self.record.admitted_at:  # not again when it asks for fewer (FanPage)
                self.record.admitted_at = time.monotonic()
                self.record.admitted_deadline_ms = int(page.admission["deadline_ms"])
                self.record.outcome = "admitted"
                report(self.user.environment, "WS", "admission wait", self.record.joined_at, length)
            return self.ask_for_ticket(page.admission["token"])
        if step is Step.PAY:
            report(self.user.environment, "WS", "hold", self.step_started, length)
            self.record.outcome = "held"
            self.step_started = time.monotonic()
            if not self.post("pay", pay_path(RUN.event_id, page.hold_id), 202):
                return self.finish("pay_failed")
            return False
        if step is Step.FINISHED:
            return self.finished_by(message, length)
        if step is Step.WAIT and not page.asked and message.get("state") == FanState.QUEUED:
            self.record.outcome = "queued"  # a status: only those carry a state
        return False

    def finished_by(self, message: dict[str, Any], length: int) -> bool:
        """The message after which this fan has nothing left to do, reported by its kind."""
        kind, why = message.get("t"), self.page.final
        if kind == MessageType.STATUS:
            report(self.user.environment, "WS", f"left queue: {why}", self.record.joined_at)
            return self.finish(why)
        if kind == MessageType.HOLD_RESULT:
            if why in STOCK_REFUSALS:
                # The right answer in a drop with more fans than tickets: not a failure.
                report(self.user.environment, "WS", f"hold refused: {why}", self.step_started)
                return self.finish(f"refused:{why}")
            return self.fail("hold", f"hold refused: {why}", f"refused:{why}")
        if kind == MessageType.ORDER:
            if not message.get("ok"):
                return self.fail("confirm", f"order refused: {why}", "not_sold")
            report(self.user.environment, "WS", "confirm", self.step_started, length)
            return self.finish("confirmed")
        if kind == MessageType.PAYMENT:
            return self.fail("confirm", f"payment refused: {why}", "not_paid")
        return self.fail("socket", f"error message: {why}", "error")

    def ask_for_ticket(self, token: str) -> bool:
        self.step_started = time.monotonic()
        body = purchase_body(token, items_of(RUN.ticket_type_id, self.page.want))
        if not self.post("ask for ticket", event_path(RUN.event_id, "/purchases"), 202, body):
            return self.finish("ask_failed")
        return False


class FanUser(HttpUser):
    """One fan per locust user: it takes part in the drop once, then idles."""

    wait_time = constant(1)
    fan_timeout_s = 120.0

    def on_start(self) -> None:
        self.took_part = False

    @task
    def take_part_in_drop(self) -> None:
        if self.took_part or not RUN.event_id:
            return
        self.took_part = True
        timeout = float(getattr(self.environment.parsed_options, "fan_timeout", 0) or 0)
        FanJourney(self, RUN.new_fan(), timeout or self.fan_timeout_s).run()
