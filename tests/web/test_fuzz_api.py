"""Schemathesis against the live app's own /openapi.json, on PostgreSQL.

Every documented operation gets generated requests (valid and invalid by the
schema) as the organiser, as a fan who joined, and as nobody, with all of
schemathesis's checks: no 5xx, every answer in the documented shape, the
error body the JSON error shape, schema-valid requests not refused, required
headers required, ``Allow`` on 405 listing the path's methods. Path ids are
the real sale's half the time, so the operations do real work as well as
meeting unknown ids. Bounded: a few examples per operation, a deadline each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from fairdrop.tokens import FAN_COOKIE
from tests.live_stack import LiveStack, running_stack
from tests.servers import PostgresServer
from tests.web.fans import open_sale
from web.openapi import DOCUMENT

pytestmark = pytest.mark.e2e

EXAMPLES = 12
# Operations whose rules JSON Schema cannot state, so a request valid by the
# schema may still be refused (422) on purpose: the positive-data check is
# left out for these only, every other check runs everywhere.
CROSS_FIELD_RULES = {
    # drop_at not before opens_at; one currency per sale; the dearest order
    # within the maximum; the access policy's sign-in set up on the server.
    ("POST", "/api/events"),
    ("POST", "/api/events/{event_id}/access"),
    # A CSV file's rows and columns (web/access_csv.py).
    ("POST", "/api/events/{event_id}/access-list"),
    # expires_at in the future; the type one of this sale's.
    ("POST", "/api/events/{event_id}/presale-links"),
    # A door name, unless the door token names its door.
    ("POST", "/api/door/check-in"),
    # IP addresses and CIDR blocks with no bits past their prefix.
    ("PUT", "/api/blocklist"),
    # add_stock names this sale's own types; the cap not below what is sold;
    # a new drop_at not before opens_at.
    ("PATCH", "/api/events/{event_id}"),
    # A percentage at most 100; expires_at in the future; the type one of this sale's.
    ("POST", "/api/events/{event_id}/discounts"),
    # after names an order of this sale (the previous page's next_after).
    ("GET", "/api/events/{event_id}/orders"),
}


@pytest.fixture(scope="module")
def live_stack(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    with running_stack(postgres_server, tmp_path_factory.mktemp("fuzz-stack")) as stack:
        yield stack


@pytest.fixture(scope="module")
def sale(live_stack: LiveStack) -> str:
    """A real sale, open now, for path ids to point at."""
    return open_sale(live_stack)


@pytest.fixture(scope="module")
def fan_cookie(live_stack: LiveStack, sale: str) -> str:
    joined = httpx.post(f"{live_stack.base_url}/api/events/{sale}/join", timeout=10)
    assert joined.status_code == 200, joined.text
    return str(joined.cookies[FAN_COOKIE])


# The document the app serves at /openapi.json (tests/web/test_openapi.py checks
# it is served as it is); read here so the operations are known at collection.
schema = schemathesis.openapi.from_dict(DOCUMENT)


def _headers(who: str, stack: LiveStack, cookie: str) -> dict[str, str]:
    if who == "organiser":
        return {"Authorization": f"Bearer {stack.settings.organiser_token}"}
    if who == "fan":
        return {"Cookie": f"{FAN_COOKIE}={cookie}"}
    return {}


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(
    case: Any, data: st.DataObject, live_stack: LiveStack, sale: str, fan_cookie: str
) -> None:
    headers: dict[str, str] = {}
    if case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE:
        # A valid request may come from anyone and name the real sale; a
        # request made invalid on purpose is sent as it was made (its missing
        # credentials or wrong id are what it tests).
        who = data.draw(st.sampled_from(["organiser", "fan", "nobody"]))
        headers = _headers(who, live_stack, fan_cookie)
        if "event_id" in case.path_parameters and data.draw(st.booleans()):
            case.path_parameters["event_id"] = sale
    excluded = []
    if (case.method.upper(), case.path) in CROSS_FIELD_RULES:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(base_url=live_stack.base_url, headers=headers, excluded_checks=excluded)
