"""Resale rounds published and verified (web/round_draws.py, buffer/verify_round.py):
a ticket put back after a sale sold out is drawn in a round whose commitment is
public from its opening, whose seed stays secret until its draw, and whose block
of numbers anyone recomputes with ``fairdrop verify-draw URL --round N``. And
the sale's own draw still verifies after one of its drawn fans queued again."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jsonschema_rs
import redis

from buffer.verify import verify_draw
from buffer.verify_round import verify_round
from fairdrop.errors import ErrorCode
from fairdrop.receipts import check_receipt
from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack, live_stack_with
from tests.reads import zset_scores
from tests.web.fans import WAIT_S, Crowd, Fan, client, expect_error, open_sale, ticket_type
from tests.web.test_queue_again import _turn_over
from web.openapi import DOCUMENT

# A round's window on this stack: short, so the tests wait seconds for a draw.
ROUND_SECONDS = 2.0
POLL_S = 0.05
T = TypeVar("T")
# The served rounds as the OpenAPI document describes them (the fuzz test
# only ever sees a sale without rounds).
AS_DOCUMENTED = jsonschema_rs.validator_for(
    {"$ref": "#/components/schemas/ResaleRounds", "components": DOCUMENT["components"]}
)


# Sales older than a second that Redis lacks are lost: the last test empties it.
live_stack = live_stack_with(resale_round_seconds=ROUND_SECONDS, restore_grace_seconds=1.0)


async def _until(what: str, check: Callable[[], Awaitable[T | None]]) -> T:
    """``check()``'s first answer that is not None, within WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while (answer := await check()) is None:
        assert time.monotonic() < deadline, f"{what}: not within {WAIT_S}s"
        await asyncio.sleep(POLL_S)
    return answer


def _verify_command(*args: str) -> tuple[int, dict[str, Any] | None, str]:
    done = subprocess.run(
        [sys.executable, "-m", "launch.cli", "verify-draw", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    return done.returncode, json.loads(lines[-1]) if lines else None, done.stderr


def _redis(stack: LiveStack) -> redis.Redis:
    return redis.Redis.from_url(stack.settings.redis_url or "")


def _one_ticket_sale(stack: LiveStack) -> tuple[str, str, str]:
    """A sale of one ticket: its id, its rounds' path and its draw document's URL."""
    event_id = open_sale(stack, ticket_types=[ticket_type(stock=1, per_person_limit=1)])
    draw_url = f"{stack.base_url}/api/events/{event_id}/draw"
    return event_id, f"/api/events/{event_id}/draw/rounds", draw_url


async def _sold_out_and_put_back(stack: LiveStack, crowd: Crowd, event_id: str) -> Fan:
    """The one ticket bought; once the sale has sold out, its buyer puts it back."""
    seller = crowd.fan(event_id)
    order = await seller.buy(1)
    [code] = [ticket["code"] for ticket in order["tickets"]]
    meta = EventKeys(event_id).meta

    async def sold_out() -> bool | None:
        return True if _redis(stack).hget(meta, "state") == b"sold_out" else None

    # Put back before the clock saw it sold out, the seat would go to whoever
    # asked first: the case the rounds are for is the sold-out one.
    await _until("sold out", sold_out)
    listed = await seller.request("POST", seller.path("/resale"), json={"code": code})
    assert listed.status_code == 201, listed.text
    return seller


async def test_a_resale_round_is_published_and_verifies_without_leaking_its_seed(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    event_id, rounds, draw_url = _one_ticket_sale(live_stack)
    seen: list[str] = []  # every answer before the draw, to look for the seed in

    async with client(live_stack) as http:

        async def get(path: str) -> httpx.Response:
            answer = await http.get(path)
            seen.append(answer.text)
            return answer

        assert (await get(rounds)).json() == []
        expect_error(await get(f"{rounds}/1"), ErrorCode.UNKNOWN_ROUND)
        await _sold_out_and_put_back(live_stack, crowd, event_id)

        async def opened() -> dict[str, Any] | None:
            listed = (await get(rounds)).json()
            return listed[0] if listed else None

        record = opened_record = await _until("round 1 opens", opened)
        assert (record["round"], record["drawn"], record["frozen"]) == (1, False, False)
        assert record["seed"] is None and record["entrants_url"] is None
        assert record["promise"] == "unsteerable" and record["beacon"]["status"] == "pending"
        committed = record["seed_hash"]
        secret = _redis(live_stack).hget(EventKeys(event_id).rounds, "seed:1")
        expect_error(await get(f"{rounds}/1/entrants"), ErrorCode.DRAW_NOT_DONE)

        # Newcomers in the window enter the round's draw, not the line.
        joined = [await fan.join() for fan in [crowd.fan(event_id) for _ in range(4)]]
        seen += [json.dumps(entry) for entry in joined]
        entrants = {entry["entrant_id"] for entry in joined if entry["status"] == "buffered"}
        # A slow machine may close the window before the last joins: those queue behind.
        assert len(entrants) >= 2, joined
        await get(f"{rounds}/1")
        await get(f"/api/events/{event_id}")
        await get(f"/api/events/{event_id}/draw")

        async def drawn() -> dict[str, Any] | None:
            answer = await http.get(f"{rounds}/1")
            record: dict[str, Any] = answer.json()
            if record["drawn"]:
                return record
            seen.append(answer.text)
            return None

        record = await _until("round 1 drawn", drawn)
        lines = await http.get(record["entrants_url"])
        assert (await http.get(rounds)).json() == [record]
    AS_DOCUMENTED.validate([opened_record, record])

    # The seed was secret until the draw, and is the one the record now reveals.
    assert secret == record["seed"].encode()
    assert not [text for text in seen if record["seed"] in text]
    assert record["seed_hash"] == committed and record["entrants"] == len(entrants)
    # The block follows the sale's one number (the seller's).
    first = record["first_number"]
    assert first == 2 and record["beacon"]["status"] == "verified"
    assert lines.headers["cache-control"] == "public, max-age=3600, immutable"
    published = [line.split(" ") for line in lines.text.splitlines()]
    assert [int(n) for n, _ in published] == list(range(first, first + len(entrants)))
    assert {fan for _, fan in published} == entrants

    code, verdict, _ = _verify_command(draw_url, "--round", "1", "--expect-seed-hash", committed)
    assert code == 0 and verdict is not None, verdict
    assert (verdict["verified"], verdict["round"], verdict["entrants"]) == (True, 1, len(entrants))
    assert verdict["first_number"] == first and str(verdict["promise"]).startswith("unsteerable")

    # Someone else's commitment, or two entrants' places swapped behind the
    # server's back: the check says so.
    wrong = verify_round(draw_url, 1, "ab" * 32)
    assert not wrong.ok and "seed hash" in wrong.reason
    queue = EventKeys(event_id).queue
    by_number = {n: f for f, n in zset_scores(_redis(live_stack), queue).items()}
    _redis(live_stack).zadd(queue, {by_number[first]: first + 1, by_number[first + 1]: first})
    swapped = verify_round(draw_url, 1)
    assert not swapped.ok and "wrong fan" in swapped.reason, swapped


async def test_a_round_number_that_is_not_one_gets_a_clear_refusal(
    live_stack: LiveStack,
) -> None:
    event_id = open_sale(live_stack)
    rounds = f"/api/events/{event_id}/draw/rounds"
    async with client(live_stack) as http:
        for bad in ("abc", "0", "-1", "1.5", "01", "9" * 30):
            expect_error(await http.get(f"{rounds}/{bad}"), ErrorCode.INVALID_FIELD)
            expect_error(await http.get(f"{rounds}/{bad}/entrants"), ErrorCode.INVALID_FIELD)
        expect_error(await http.get(f"{rounds}/7"), ErrorCode.UNKNOWN_ROUND)
        expect_error(await http.get(f"{rounds}/7/entrants"), ErrorCode.UNKNOWN_ROUND)
        for path in ("", "/1", "/1/entrants"):
            unknown = await http.get(f"/api/events/no-such-sale/draw/rounds{path}")
            expect_error(unknown, ErrorCode.UNKNOWN_EVENT)
    draw_url = f"{live_stack.base_url}/api/events/{event_id}/draw"
    code, _, stderr = _verify_command(draw_url, "--round", "7")
    assert code == 2 and stderr.startswith("verify-draw: no such round 7"), stderr
    code, _, stderr = _verify_command(draw_url, "--round", "0")
    assert code == 2 and "numbered from 1" in stderr, stderr
    # A receipt goes with a round now: one that cannot be read is still no verdict.
    code, _, stderr = _verify_command(draw_url, "--round", "1", "--receipt", "no-receipt.json")
    assert code == 2 and "cannot read the receipt" in stderr, stderr


async def test_the_sale_s_draw_still_verifies_after_a_drawn_fan_queued_again(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    now = datetime.now(UTC)
    event_id = open_sale(
        live_stack,
        opens_at=(now - timedelta(seconds=1)).isoformat(),
        drop_at=(now + timedelta(seconds=3)).isoformat(),
    )
    draw_url = f"{live_stack.base_url}/api/events/{event_id}/draw"
    fans = [crowd.fan(event_id) for _ in range(3)]
    entries = [await fan.join() for fan in fans]
    drawn = [(fan, e) for fan, e in zip(fans, entries, strict=True) if e["status"] == "buffered"]
    assert drawn, entries  # a slow machine may close the window early; one is enough
    again, entry = drawn[0]
    released = await again.release(await again.hold(1))
    assert released.status_code == 202, released.text
    await _turn_over(again)
    number = (await again.join())["number"]
    queued = await again.request("POST", again.path("/queue-again"))
    assert queued.status_code == 200 and queued.json()["number"] > number, queued.text

    async with client(live_stack) as http:
        lines = (await http.get(f"/api/events/{event_id}/draw/entrants")).text.splitlines()
    # The number given up stays with its fan in the published list.
    assert f"{number} {entry['entrant_id']}" in lines
    verdict = await asyncio.to_thread(verify_draw, draw_url)
    assert verdict.ok and verdict.entrants == len(drawn), verdict


async def test_a_round_entrant_holds_a_receipt_of_the_round_that_its_draw_honours(
    live_stack: LiveStack, crowd: Crowd, tmp_path: Path
) -> None:
    """Found on a live stack: a fan who joined in a round was given a receipt of
    the sale's commitment, which the sale's verify then called missing from its
    list, and ``GET /receipt`` said not_entered while the round was open."""
    event_id, rounds, draw_url = _one_ticket_sale(live_stack)
    async with client(live_stack) as http:
        key = (await http.get("/api/receipt-key")).json()["public_key"]
        sale_seed_hash = (await http.get(f"/api/events/{event_id}")).json()["seed_hash"]
    seller = await _sold_out_and_put_back(live_stack, crowd, event_id)
    # The seller joined the sale itself (after its drop): a version 1 receipt.
    sale_receipt = (await seller.request("GET", seller.path("/receipt"))).json()
    assert sale_receipt["receipt"]["v"] == 1, sale_receipt

    async def opened() -> dict[str, Any] | None:
        async with client(live_stack) as http:
            listed = (await http.get(rounds)).json()
        return listed[0] if listed else None

    record = await _until("round 1 opens", opened)
    fans = [crowd.fan(event_id) for _ in range(3)]
    joined = [(fan, await fan.join()) for fan in fans]
    in_round = [(fan, entry) for fan, entry in joined if entry["status"] == "buffered"]
    assert in_round, joined  # a slow machine may close the window early; one is enough
    fan, entry = in_round[0]
    receipt = check_receipt(entry["receipt"], key)
    assert (receipt.v, receipt.round, receipt.status, receipt.number) == (2, 1, "buffered", 0)
    assert receipt.entry_id == entry["entrant_id"] and receipt.event_id == event_id
    # The round's commitment, not the sale's.
    assert receipt.seed_hash == record["seed_hash"] != sale_seed_hash
    assert receipt.beacon_round == record["beacon"]["round"]

    fetched = await fan.request("GET", fan.path("/receipt"))
    assert fetched.status_code == 200, fetched.text
    again = check_receipt(fetched.json(), key)
    assert (again.round, again.entry_id, again.seed_hash) == (
        1,
        receipt.entry_id,
        receipt.seed_hash,
    )
    # Asked in the window it is the window's; if the round was drawn meanwhile, its number's.
    assert (again.status, again.number) == ("buffered", 0) or again.status == "queued"

    async def drawn() -> dict[str, Any] | None:
        async with client(live_stack) as http:
            answer: dict[str, Any] = (await http.get(f"{rounds}/1")).json()
        return answer if answer["drawn"] else None

    record = await _until("round 1 drawn", drawn)
    numbered = check_receipt((await fan.request("GET", fan.path("/receipt"))).json(), key)
    first, last = record["first_number"], record["first_number"] + record["entrants"] - 1
    assert (numbered.round, numbered.status) == (1, "queued")
    assert first <= numbered.number <= last

    files = {}
    for name, doc in [
        ("window", entry["receipt"]),
        ("numbered", fetched.json()),
        ("sale", sale_receipt),
    ]:
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(doc))
    files["drawn"] = tmp_path / "drawn.json"
    files["drawn"].write_text((await fan.request("GET", fan.path("/receipt"))).text)
    for name in ("window", "numbered", "drawn"):
        code, verdict, stderr = _verify_command(
            draw_url, "--round", "1", "--receipt", str(files[name]), "--receipt-key", key
        )
        assert code == 0 and verdict is not None, (name, verdict, stderr)
        assert verdict["verified"] and verdict["round"] == 1
        assert (
            verdict["receipt"]
            == f"entry {receipt.entry_id} is number {numbered.number} in round 1's list"
        )

    # The sale's verify is asked the wrong question: no false alarm, the round to check.
    code, verdict, stderr = _verify_command(draw_url, "--receipt", str(files["window"]))
    assert (code, verdict) == (2, None), verdict
    assert "resale round 1, not the sale's own draw: check it with --round 1" in stderr, stderr
    assert "missing" not in stderr
    # A round's receipt for another round, and the sale's own for a round: refused, saying which.
    code, _, stderr = _verify_command(draw_url, "--round", "2", "--receipt", str(files["window"]))
    assert code == 2 and "resale round 1, not round 2: check it with --round 1" in stderr, stderr
    code, _, stderr = _verify_command(draw_url, "--round", "1", "--receipt", str(files["sale"]))
    assert code == 2 and "the sale's own draw" in stderr and "without --round" in stderr, stderr
    code, verdict, stderr = _verify_command(draw_url, "--receipt", str(files["sale"]))
    assert code == 0 and verdict is not None and verdict["verified"], (verdict, stderr)

    # What the round's receipt promises is checked: its entry's line given to
    # another behind the server's back, the receipt proves it.
    queue = EventKeys(event_id).queue
    _redis(live_stack).zrem(queue, receipt.entry_id)
    _redis(live_stack).zadd(queue, {"someone-else-entirely0": numbered.number})
    dropped = await asyncio.to_thread(
        verify_round, draw_url, 1, None, json.loads(files["window"].read_text())
    )
    assert not dropped.ok, dropped
    assert dropped.reason == (
        f"entry {receipt.entry_id} has a signed receipt but is missing from round 1's list"
    )


async def test_a_round_still_verifies_after_redis_lost_the_sale(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    """Last in this module: it empties the stack's Redis."""
    event_id, rounds, draw_url = _one_ticket_sale(live_stack)
    meta = EventKeys(event_id).meta
    await _sold_out_and_put_back(live_stack, crowd, event_id)
    async with client(live_stack) as http:

        async def round_opened() -> bool | None:
            return True if (await http.get(rounds)).json() else None

        await _until("round 1 opens", round_opened)
        entries = [await crowd.fan(event_id).join() for _ in range(3)]
        assert any(entry["status"] == "buffered" for entry in entries), entries

        async def saved() -> bool | None:
            # Set by the clock once the drawn round is in the database.
            return True if _redis(live_stack).hget(meta, "round_saved") == b"1:" else None

        await _until("round 1 drawn and saved", saved)
        record = (await http.get(f"{rounds}/1")).json()
        lines = (await http.get(record["entrants_url"])).text

        assert _redis(live_stack).flushall()  # a restart without persistence

        async def restored() -> bool | None:
            return True if _redis(live_stack).hget(meta, "rounds_restored") == b"1" else None

        await _until("the sale restored", restored)
        assert (await http.get(rounds)).json() == [record]
        assert (await http.get(record["entrants_url"])).text == lines
    code, verdict, stderr = _verify_command(draw_url, "--round", "1")
    assert code == 0 and verdict is not None and verdict["verified"], (verdict, stderr)
    assert verdict["entrants"] == record["entrants"] > 0
