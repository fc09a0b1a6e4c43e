"""``fairdrop events create | list | export`` against a live stack, over real HTTP
(launch/events_cli.py, launch/organiser_client.py, launch/event_fields.py,
launch/event_table.py).

Each command runs as a person runs it: a process of its own, the token in
FAIRDROP_ORGANISER_TOKEN. What it made or read is checked through the API.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from launch.stack import free_port
from purchase.export import COLUMNS
from tests.live_stack import LiveStack
from tests.web.fans import Crowd, open_sale

pytestmark = pytest.mark.e2e

GA = "name=GA,price_cents=4000,currency=EUR,stock=50,per_person_limit=4"


def _events(
    stack: LiveStack, *args: str, token: str | None = None, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAIRDROP_ORGANISER_TOKEN": stack.settings.organiser_token}
    if token is not None:
        env["FAIRDROP_ORGANISER_TOKEN"] = token
    answer = subprocess.run(
        [sys.executable, "-m", "launch.cli", "events", *args, "--url", url or stack.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Whatever happened, the token is never shown.
    assert stack.settings.organiser_token not in answer.stdout + answer.stderr
    return answer


def _event(stack: LiveStack, event_id: str) -> dict[str, Any]:
    listed = httpx.get(f"{stack.base_url}/api/events", headers=stack.organiser_headers).json()
    event: dict[str, Any]
    [event] = [e for e in listed["events"] if e["id"] == event_id]
    return event


def _one_line(answer: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in answer.stderr, answer.stderr
    [line] = answer.stderr.splitlines()
    return line


def test_create_from_options_makes_the_sale_asked_for(live_stack: LiveStack) -> None:
    before = datetime.now(UTC)
    answer = _events(
        live_stack,
        "create",
        "--id=cli-night",
        "--name=CLI night",
        "--opens-at=+10m",
        "--drop-at=+1h",
        "--rate-per-min=120",
        "--cap=30",
        "--hold-seconds=300",
        f"--ticket-type={GA}",
        "--ticket-type=id=vip,name=VIP,price_cents=9000,currency=EUR,stock=5,per_person_limit=1",
    )

    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.splitlines() == [
        "created sale cli-night (CLI night)",
        f"  fan page:  {live_stack.base_url}/e/cli-night",
        f"  organiser: {live_stack.base_url}/organiser#cli-night",
    ]
    event = _event(live_stack, "cli-night")
    assert (event["name"], event["rate_per_min"], event["cap"], event["hold_seconds"]) == (
        "CLI night",
        120,
        30,
        300,
    )
    opens = datetime.fromisoformat(event["opens_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=10) <= opens - before < timedelta(minutes=11)
    types = {t["id"]: (t["name"], t["price_cents"], t["stock"]) for t in event["ticket_types"]}
    assert types == {"cli-night.t1": ("GA", 4000, 50), "cli-night.vip": ("VIP", 9000, 5)}


def test_create_from_a_json_file_with_options_over_it(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    sale = {
        "id": "from-file",
        "name": "From a file",
        "opens_at": (now + timedelta(hours=1)).isoformat(),
        "drop_at": (now + timedelta(hours=2)).isoformat(),
        "rate_per_min": 60,
        "cap": 10,
        "hold_seconds": 120,
        "ticket_types": [
            {"name": "GA", "price_cents": 100, "currency": "GBP", "stock": 7, "per_person_limit": 2}
        ],
    }
    path = tmp_path / "sale.json"
    path.write_text(json.dumps(sale))

    answer = _events(live_stack, "create", "--from-json", str(path), "--cap=25", "--json")

    assert answer.returncode == 0, answer.stderr
    created = json.loads(answer.stdout)
    assert created["id"] == "from-file" and created["cap"] == 25
    assert _event(live_stack, "from-file")["cap"] == 25


def test_list_shows_every_sale_as_a_table_and_as_the_server_s_json(live_stack: LiveStack) -> None:
    event_id = open_sale(live_stack, name="Listed night")

    table = _events(live_stack, "list")
    as_json = _events(live_stack, "list", "--json")

    assert table.returncode == 0 and as_json.returncode == 0, table.stderr + as_json.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == [
        "ID",
        "NAME",
        "STATE",
        "OPENS",
        "(UTC)",
        "DROP",
        "(UTC)",
        "ACCESS",
        "TICKETS",
        "LEFT",
    ]
    [row] = [r for r in rows if r.startswith(event_id + " ")]
    assert "Listed night" in row and row.endswith("10 / 10")
    served = httpx.get(f"{live_stack.base_url}/api/events", headers=live_stack.organiser_headers)
    assert json.loads(as_json.stdout) == served.json()
    assert len(rows) == len(served.json()["events"])


async def test_export_writes_one_row_per_ticket_sold(live_stack: LiveStack, tmp_path: Path) -> None:
    event_id = open_sale(live_stack, name="Exported night")
    crowd = Crowd(live_stack)
    try:
        order = await crowd.fan(event_id).buy(2)
    finally:
        await crowd.close()
    out = tmp_path / "orders.csv"

    to_file = _events(live_stack, "export", event_id, "--output", str(out))
    to_stdout = _events(live_stack, "export", event_id)

    assert to_file.returncode == 0 and to_stdout.returncode == 0, to_file.stderr
    # The server's bytes, CRLF line ends kept (the text captured here has them as "\n").
    assert out.read_bytes() == to_stdout.stdout.replace("\n", "\r\n").encode()
    # Names and emails: the file is the organiser's alone, as mkstemp makes it.
    assert out.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert tuple(rows[0]) == COLUMNS
    assert sorted(r["ticket_code"] for r in rows) == sorted(t["code"] for t in order["tickets"])
    assert {r["order_id"] for r in rows} == {order["order_id"]}


def test_a_refused_export_leaves_no_file(live_stack: LiveStack, tmp_path: Path) -> None:
    out = tmp_path / "orders.csv"

    answer = _events(live_stack, "export", "no-such-sale", "--output", str(out))

    assert answer.returncode == 1
    assert _one_line(answer) == (
        "fairdrop events export: the server answered 404 Not Found: unknown_event: "
        "no event no-such-sale"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("", "401 Unauthorized: unauthorized: organiser token missing"),
        ("not-the-token", "403 Forbidden: forbidden: organiser token is not valid"),
    ],
)
def test_a_missing_or_wrong_token_is_one_line(
    live_stack: LiveStack, token: str, expected: str
) -> None:
    answer = _events(live_stack, "list", token=token)

    assert answer.returncode == 1 and answer.stdout == ""
    line = _one_line(answer)
    assert line.startswith(f"fairdrop events list: the server answered {expected}"), line
    assert line.endswith("(the organiser token: FAIRDROP_ORGANISER_TOKEN or --token)"), line


def test_an_invalid_sale_is_the_server_s_422_and_makes_nothing(live_stack: LiveStack) -> None:
    before = httpx.get(f"{live_stack.base_url}/api/events", headers=live_stack.organiser_headers)

    answer = _events(
        live_stack,
        "create",
        "--name=No cap",
        "--opens-at=now",
        "--drop-at=+1m",
        "--rate-per-min=60",
        "--cap=0",
        "--hold-seconds=60",
        f"--ticket-type={GA}",
    )

    assert answer.returncode == 1
    line = _one_line(answer)
    assert (
        line.startswith("fairdrop events create: the server answered 422 Unprocessable")
        and ": invalid_field: cap" in line
    ), line
    after = httpx.get(f"{live_stack.base_url}/api/events", headers=live_stack.organiser_headers)
    assert after.json() == before.json()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--ticket-type=name=GA,price=40"], "unknown field 'price'"),
        (["--ticket-type=name=GA,stock=many"], "stock must be a whole number"),
        (["--from-json=/nonexistent/sale.json"], "cannot read /nonexistent/sale.json"),
    ],
)
def test_bad_input_is_a_usage_error_before_any_request(
    live_stack: LiveStack, args: list[str], expected: str
) -> None:
    answer = _events(live_stack, "create", *args)

    assert answer.returncode == 2
    assert expected in _one_line(answer)


def test_no_server_is_one_line_and_exit_status_3(live_stack: LiveStack) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    answer = _events(live_stack, "list", url=url)

    assert answer.returncode == 3
    assert _one_line(answer).startswith(f"fairdrop events list: no answer from {url}: ")
