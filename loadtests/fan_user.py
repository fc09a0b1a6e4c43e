"""A locust fan: joins, holds its websocket open, buys one ticket when let in, pays.

locust has no websocket user, so the socket is ``websocket-client`` on
gevent's monkey-patched sockets: a blocking ``recv`` with a timeout yields to
the other fans instead of stalling them. Every step is reported to locust's
request events (HTTP steps through locust's own client, socket steps by hand)
so its charts show joins, admission waits, holds and confirms.

The protocol is the fan page's (``static/``) and ``launch/demo.py``'s:
``status`` messages carry the fan's ``state``, ``number`` and, once admitted,
an ``admission`` token; the worker's answers arrive as ``hold_result`` and
``order`` messages on the same socket.
"""

from __future__ import annotations

import json
import time
from typing import Any

# altcha (the proof of work's solver) opens no socket.
from altcha import v1 as altcha_v1

# locust before anything that opens sockets: importing it monkey-patches them for gevent.
from locust import HttpUser, constant, task
from locust.env import Environment
from websocket import (
    WebSocket,
    WebSocketException,
    WebSocketTimeoutException,
    create_connection,
)

from loadtests.drop_figures import STOCK_REFUSALS, DropRun, FanRecord

FAN_COOKIE = "fairdrop_fan"
READ_TIMEOUT_S = 1.0  # how long one recv may wait before the loop looks at the clock
CONNECT_TIMEOUT_S = 10.0
IDLE_CONNECTION_S = 4.0  # under uvicorn's keep-alive timeout (5 s)
# Fan-page states that end a fan's turn without it asking for tickets.
LEFT_QUEUE_STATES = frozenset({"sold_out", "turn_over", "done"})

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
        self.event_path = f"/api/events/{RUN.event_id}"
        self.step_started = 0.0
        self.last_http_at = time.monotonic()  # a new user has no pooled connection yet
        self.asked = False

    def post(self, name: str, path: str, expected: int, body: Any = None) -> bool:
        """One HTTP step through locust's client; False (and a failure) unless ``expected``."""
        if time.monotonic() - self.last_http_at > IDLE_CONNECTION_S:
            # uvicorn closes keep-alive connections idle for 5 s; a POST racing
            # that close dies with RemoteDisconnected and requests never retries
            # a POST (a browser does, on a stale connection). Start afresh instead.
            self.user.client.close()
        with self.user.client.post(
            self.event_path + path, json=body, name=name, catch_response=True
        ) as answer:
            self.last_http_at = time.monotonic()
            if answer.status_code != expected:
                answer.failure(why_refused(name, answer))
                return False
        return True

    def proof(self) -> str | None:
        """The solution to this fan's proof of work, or None when the sale asks none.

        Solved as a bot would, in Python with altcha's own solver (the page does
        it in a Web Worker); its time is reported as ``POW solve``. Raises
        FanStepFailed when the challenge cannot be had.
        """
        with self.user.client.get(
            self.event_path + "/challenge", name="challenge", catch_response=True
        ) as answer:
            if answer.status_code != 200:
                answer.failure(why_refused("challenge", answer))
                raise FanStepFailed("challenge")
            challenge = answer.json()
        if not challenge["required"]:
            return None
        started = time.monotonic()
        # altcha itself, not web/proof_of_work.py's solve: the locust processes
        # import nothing of fairdrop's (it would pull in redis; see locustfile.py).
        found = altcha_v1.solve_challenge(
            challenge["challenge"], challenge["salt"], altcha_v1.SHA256, challenge["maxnumber"]
        )
        report(self.user.environment, "POW", "solve", started)
        if found is None:
            raise FanStepFailed("no number solves the challenge")
        payload = altcha_v1.Payload(
            altcha_v1.SHA256,
            challenge["challenge"],
            found.number,
            challenge["salt"],
            challenge["signature"],
        )
        return payload.to_base64()

    def run(self) -> None:
        started = time.monotonic()
        try:
            solution = self.proof()
        except FanStepFailed:
            self.finish("join_failed")
            return
        body = {"altcha": solution} if solution else None
        if not self.post("join", "/join", 200, body):
            self.finish("join_failed")
            return
        self.record.joined_at = self.step_started = time.monotonic()
        self.record.outcome = "joined"
        cookie = self.user.client.cookies.get(FAN_COOKIE)
        ws_url = (self.user.host or "").replace("http", "ws", 1) + f"/ws/events/{RUN.event_id}"
        try:
            ws = create_connection(
                ws_url,
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
            message = json.loads(raw)
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
        kind = message.get("t")
        if kind == "status":
            return self.on_status(message, length)
        if kind == "hold_result":
            return self.on_hold_result(message, length)
        if kind == "order":
            if not message.get("ok"):
                return self.fail("confirm", f"order refused: {message.get('code')}", "not_sold")
            report(self.user.environment, "WS", "confirm", self.step_started, length)
            return self.finish("confirmed")
        if kind == "payment" and not message.get("ok"):
            return self.fail("confirm", f"payment refused: {message.get('code')}", "not_paid")
        if kind == "error":
            return self.fail("socket", f"error message: {message.get('code')}", "error")
        return False

    def on_status(self, status: dict[str, Any], length: int) -> bool:
        self.record.number = int(status.get("number") or 0) or self.record.number
        state = status.get("state")
        admission = status.get("admission")
        if self.asked:
            return False
        if state == "queued":
            self.record.outcome = "queued"
        elif state == "admitted" and isinstance(admission, dict):
            self.record.admitted_at = time.monotonic()
            self.record.admitted_deadline_ms = int(admission["deadline_ms"])
            self.record.outcome = "admitted"
            report(self.user.environment, "WS", "admission wait", self.record.joined_at, length)
            return self.ask_for_ticket(str(admission["token"]))
        elif state in LEFT_QUEUE_STATES:
            report(self.user.environment, "WS", f"left queue: {state}", self.record.joined_at)
            return self.finish(str(state))
        return False

    def ask_for_ticket(self, token: str) -> bool:
        self.asked = True
        self.step_started = time.monotonic()
        body = {"admission_token": token, "items": [{"type": RUN.ticket_type_id, "quantity": 1}]}
        if not self.post("ask for ticket", "/purchases", 202, body):
            return self.finish("ask_failed")
        return False

    def on_hold_result(self, result: dict[str, Any], length: int) -> bool:
        if not result.get("ok"):
            code = str(result.get("code"))
            if code in STOCK_REFUSALS:
                # The right answer in a drop with more fans than tickets: not a failure.
                report(self.user.environment, "WS", f"hold refused: {code}", self.step_started)
                return self.finish(f"refused:{code}")
            return self.fail("hold", f"hold refused: {code}", f"refused:{code}")
        report(self.user.environment, "WS", "hold", self.step_started, length)
        self.record.outcome = "held"
        hold_id = result["hold"]["id"]
        self.step_started = time.monotonic()
        if not self.post("pay", f"/holds/{hold_id}/pay", 202):
            return self.finish("pay_failed")
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
