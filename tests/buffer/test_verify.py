"""`fairdrop verify-draw URL` against a running server: true for the real draw,
false once the served order has been tampered with."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis

from buffer.order import draw_key, draw_order, seed_commitment
from buffer.verify import receipt_draw_mismatch, receipt_in_draw, receipt_in_list
from fairdrop.receipts import Receipt, ReceiptSigner, check_receipt
from queue_engine.keys import EventKeys
from tests.live_stack import LiveStack
from tests.reads import zset_scores


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launch.cli", "verify-draw", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _verify(url: str, *options: str) -> tuple[int, dict[str, object]]:
    done = _run(url, *options)
    verdict: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return done.returncode, verdict


def _drawn(draw_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while not (info := httpx.get(draw_url).json())["drawn"]:
        assert time.monotonic() < deadline, "the clock did not draw in time"
        time.sleep(0.2)
    drawn: dict[str, Any] = info
    return drawn


def test_the_verifier_needs_neither_redis_nor_numpy() -> None:
    """Anyone can check a draw with the standard library and httpx: importing
    the verifier, in a fresh interpreter, brings in no Redis client and no numpy."""
    check = (
        "import sys, buffer.verify; "
        "print(sorted(m for m in ('redis', 'hiredis', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_verify_draw_command_checks_the_served_order(live_stack: LiveStack) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(drop_at=(now + timedelta(seconds=4)).isoformat())
    draw_url = f"{live_stack.base_url}/api/events/{event['id']}/draw"
    # On a loaded machine the last joins may come after the drop, as late
    # joiners: the draw holds those that came in the window.
    in_window = 0
    for _ in range(25):
        joined = httpx.post(f"{live_stack.base_url}/api/events/{event['id']}/join")
        assert joined.status_code == 200
        in_window += not joined.json()["number"]
    assert in_window >= 2, in_window  # two to swap below

    # Before the drop there is nothing to check: asked of a sale whose drop is
    # an hour away, as a 4 s window could close while a slow machine starts
    # the verifier (it did at a load of 3 on a slow VM).
    later = live_stack.create_event(drop_at=(now + timedelta(hours=1)).isoformat())
    code, verdict = _verify(f"{live_stack.base_url}/api/events/{later['id']}/draw")
    assert code == 1 and verdict["verified"] is False

    info = _drawn(draw_url)
    code, verdict = _verify(draw_url, "--expect-seed-hash", event["seed_hash"])
    assert (code, verdict["verified"], verdict["entrants"]) == (0, True, in_window)
    # The stack's beacon (a local drand-speaking one) was mixed in and checked.
    assert verdict["algorithm"] == "fairdrop-draw-v2"
    assert info["promise"] == "unsteerable" and info["beacon"]["status"] == "verified"
    assert str(verdict["promise"]).startswith("unsteerable")
    assert info["entrants_url"].startswith(live_stack.base_url)

    # Swap two fans' places behind the server's back: the check must notice.
    client = redis.Redis.from_url(live_stack.settings.redis_url or "")
    queue = EventKeys(event["id"]).queue
    by_number = {n: f for f, n in zset_scores(client, queue).items()}
    client.zadd(queue, {by_number[1]: 2, by_number[2]: 1})
    code, verdict = _verify(draw_url)
    assert code == 1 and verdict["verified"] is False
    assert "wrong fan" in str(verdict["reason"])


def test_a_re_committed_seed_fails_against_the_hash_seen_before_the_drop(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    """The operator swaps the seed after the draw, publishes the new hash in the
    draw and recomputes every number: the order checks on its own, but not
    against the hash a fan saw before the drop, nor against their receipt."""
    now = datetime.now(UTC)
    event = live_stack.create_event(drop_at=(now + timedelta(seconds=4)).isoformat())
    base = f"{live_stack.base_url}/api/events/{event['id']}"
    with httpx.Client() as fan:
        joined = fan.post(f"{base}/join").json()
    for _ in range(9):
        assert httpx.post(f"{base}/join").status_code == 200
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(joined["receipt"]))
    info = _drawn(f"{base}/draw")
    code, verdict = _verify(f"{base}/draw", "--receipt", str(receipt))
    assert (code, verdict["verified"]) == (0, True), verdict
    assert "is number" in str(verdict["receipt"])

    client = redis.Redis.from_url(live_stack.settings.redis_url or "")
    keys = EventKeys(event["id"])
    new_seed = "11" * 32
    randomness = info["beacon"]["randomness"]
    entrants = list(zset_scores(client, keys.queue))
    ordered, _ = draw_order(draw_key(info["algorithm"], new_seed, randomness), entrants)
    client.zadd(keys.queue, {f: i + 1 for i, f in enumerate(ordered)})
    client.hset(
        keys.meta, mapping={"seed_hash": seed_commitment(new_seed), "seed_revealed": new_seed}
    )
    client.hset(keys.meta, "dirty", 1)

    code, verdict = _verify(f"{base}/draw", "--expect-seed-hash", event["seed_hash"])
    assert code == 1 and "seed hash" in str(verdict["reason"])
    code, verdict = _verify(f"{base}/draw", "--receipt", str(receipt))
    assert code == 1 and "seed hash" in str(verdict["reason"])


def test_a_dropped_entrant_proves_it_with_the_receipt(
    live_stack: LiveStack, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    event = live_stack.create_event(drop_at=(now + timedelta(seconds=4)).isoformat())
    base = f"{live_stack.base_url}/api/events/{event['id']}"
    joined = httpx.post(f"{base}/join").json()
    for _ in range(5):
        assert httpx.post(f"{base}/join").status_code == 200
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps(joined["receipt"]))
    info = _drawn(f"{base}/draw")
    # The operator drops that fan and redraws the rest with a fresh digest: a
    # list, digest and order that check on their own.
    client = redis.Redis.from_url(live_stack.settings.redis_url or "")
    keys = EventKeys(event["id"])
    client.zrem(keys.queue, joined["entrant_id"])
    rest = list(zset_scores(client, keys.queue))
    key = draw_key(info["algorithm"], info["seed"], info["beacon"]["randomness"])
    ordered, digest = draw_order(key, rest)
    client.zadd(keys.queue, {f: i + 1 for i, f in enumerate(ordered)})
    client.hset(keys.meta, mapping={"entrants_digest": digest, "frozen": len(rest), "dirty": 1})
    code, verdict = _verify(f"{base}/draw")
    assert (code, verdict["verified"]) == (0, True), verdict
    code, verdict = _verify(f"{base}/draw", "--receipt", str(receipt))
    assert code == 1 and "missing from the list" in str(verdict["reason"])

    forged = dict(joined["receipt"])
    forged["receipt"] = {**forged["receipt"], "entry_id": "someone-else"}
    receipt.write_text(json.dumps(forged))
    code, verdict = _verify(f"{base}/draw", "--receipt", str(receipt))
    assert code == 1 and "receipt does not check" in str(verdict["reason"])


def test_what_is_not_a_draw_gets_one_clear_line(live_stack: LiveStack, tmp_path: Path) -> None:
    unknown = _run(f"{live_stack.base_url}/api/events/no-such-event/draw")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.startswith("verify-draw: no such event draw")
    assert len(unknown.stderr.strip().splitlines()) == 1
    page = _run(f"{live_stack.base_url}/")
    assert page.returncode == 2 and "Traceback" not in page.stderr
    assert len(page.stderr.strip().splitlines()) == 1
    nowhere = _run("http://127.0.0.1:9/api/events/x/draw")
    assert nowhere.returncode == 2 and nowhere.stderr.startswith("verify-draw: cannot reach")
    bad = tmp_path / "receipt.json"
    bad.write_text("{not json")
    event = live_stack.create_event()
    unreadable = _run(f"{live_stack.base_url}/api/events/{event['id']}/draw", "--receipt", str(bad))
    assert unreadable.returncode == 2 and "cannot read the receipt" in unreadable.stderr


def _round_receipt(status: str = "queued", number: int = 12) -> Receipt:
    signer = ReceiptSigner(bytes(range(32)))
    doc = signer.issue("spring", "fan-a", status, number, "ab" * 32, 77, round_number=2)
    return check_receipt(doc, signer.public_key_hex)


ROUND_2 = {"event_id": "spring", "round": 2, "seed_hash": "ab" * 32, "beacon": {"round": 77}}


def test_a_round_s_receipt_is_held_to_its_round_s_list_and_number() -> None:
    receipt = _round_receipt()
    listed = [(11, "fan-b"), (12, "fan-a")]
    assert receipt_in_list(receipt, ROUND_2, listed, True, "round 2's list") == (
        True,
        "entry fan-a is number 12 in round 2's list",
    )
    swapped = [(11, "fan-a"), (12, "fan-b")]
    assert receipt_in_list(receipt, ROUND_2, swapped, True, "round 2's list") == (
        False,
        "entry fan-a was signed number 12, round 2's list says 11",
    )
    other_commitment = {**ROUND_2, "seed_hash": "cd" * 32}
    ok, why = receipt_in_list(receipt, other_commitment, listed, True, "round 2's list")
    assert not ok and "commitment changed" in why


def test_a_receipt_of_another_draw_says_which_to_check() -> None:
    receipt = _round_receipt("buffered", 0)
    assert receipt_draw_mismatch(receipt, 2) is None
    assert receipt_draw_mismatch(receipt, 3) == (
        "the receipt is of resale round 2, not round 3: check it with --round 2"
    )
    # Given the sale's list, no "missing" alarm: the round it is of instead.
    ok, why = receipt_in_draw(receipt, {**ROUND_2, "seed_hash": "ef" * 32}, [(1, "fan-b")])
    assert not ok and why.endswith("not the sale's own draw: check it with --round 2")
