"""The organiser API of a running fairdrop, over HTTP: what ``fairdrop events`` calls.

Every failure is an :class:`OrganiserApiError` carrying one printable line:
the server's own ``{"error": {"code", "message"}}`` when it answered with one
(fairdrop/errors.py), the HTTP status otherwise, or why no server answered.
The organiser token travels only in the Authorization header; no message
here ever includes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote

import httpx

# What the API's paths are (web/organiser.py, web/export.py).
EVENTS_PATH = "/api/events"


def export_path(event_id: str) -> str:
    # Quoted whole: an id typed with a "/" or ".." stays one path segment (and a 404).
    return f"{EVENTS_PATH}/{quote(event_id, safe='')}/export.csv"


class OrganiserApiError(Exception):
    """The server refused or failed the call (``status`` set), or could not be reached."""

    def __init__(self, message: str, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class OrganiserClient:
    base_url: str
    token: str
    timeout: float = 30.0
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # An empty token sends no header: the server's 401 then says what is missing.
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.Client(
            base_url=self.base_url.rstrip("/"), headers=headers, timeout=self.timeout
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OrganiserClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def create_event(self, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._json("POST", EVENTS_PATH, json=body)
        return created

    def list_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = self._json("GET", EVENTS_PATH)["events"]
        return events

    def export_orders(self, event_id: str, out: IO[bytes]) -> None:
        """The event's orders CSV (one row per ticket), written to ``out`` as it arrives."""
        with self._answer("GET", export_path(event_id)) as response:
            for chunk in response.iter_bytes():
                out.write(chunk)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        with self._answer(method, path, **kwargs) as response:
            response.read()
            try:
                return response.json()
            except ValueError:
                # Something else answers at that address (a proxy's page, another site).
                raise OrganiserApiError(
                    f"{self.base_url} answered {path} with something other than JSON: "
                    "is it a fairdrop server?",
                    response.status_code,
                ) from None

    @contextmanager
    def _answer(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """The streamed response to a call that succeeded (2xx); an error otherwise."""
        try:
            with self._http.stream(method, path, **kwargs) as response:
                if response.is_error:
                    response.read()
                    raise _refusal(response)
                yield response
        except httpx.HTTPError as exc:
            # Connection refused, a timeout, a reset mid-download: httpx's text names
            # the cause, never the headers sent.
            reason = str(exc) or type(exc).__name__
            raise OrganiserApiError(f"no answer from {self.base_url}: {reason}") from exc


def _refusal(response: httpx.Response) -> OrganiserApiError:
    """The server's JSON error as one line, or its status where it sent none (a proxy's page)."""
    status = f"{response.status_code} {response.reason_phrase}".strip()
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return OrganiserApiError(f"the server answered {status}", response.status_code)
    line = f"the server answered {status}: {code}: {message}"
    return OrganiserApiError(" ".join(line.split()), response.status_code, code)
