"""Entry receipts on a live stack (web/receipts.py): every join that gives a
place answers with a receipt signed by the key the server serves, naming the
event, the entry id and the commitment the event published; the published
draw names entry ids and never who signed in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fairdrop.errors import ErrorCode
from fairdrop.identity import OIDC, Identity, email_identity
from fairdrop.receipts import Receipt, ReceiptSigner, check_receipt
from fairdrop.settings import Settings, SettingsError
from fairdrop.tokens import Signer
from tests.live_stack import LiveStack
from tests.web.fans import WAIT_S, Crowd, client, expect_error, open_sale
from web.app import create_app

EMAIL = "ada.lovelace@example.org"
ISSUER, SUBJECT = "https://id.example.test", "oidc-subject-31337"


async def _get(stack: LiveStack, path: str) -> httpx.Response:
    async with client(stack) as http:
        return await http.get(path)


async def _served_key(stack: LiveStack) -> str:
    response = await _get(stack, "/api/receipt-key")
    assert response.status_code == 200, response.text
    served: dict[str, str] = response.json()
    assert served["algorithm"] == "Ed25519"
    # The key and its id are the stack's, derived from its secret key.
    assert served == ReceiptSigner.from_settings(stack.settings).key_document()
    return served["public_key"]


async def _seed_hash(stack: LiveStack, event_id: str) -> str:
    response = await _get(stack, f"/api/events/{event_id}")
    assert response.status_code == 200, response.text
    seed_hash: str = response.json()["seed_hash"]
    return seed_hash


def _checked(entry: dict[str, Any], key: str) -> Receipt:
    assert entry["receipt"] is not None, entry
    return check_receipt(entry["receipt"], key)


async def test_a_join_answers_with_a_receipt_of_the_entry_and_the_commitment(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    key = await _served_key(live_stack)
    event_id = open_sale(live_stack)
    fan = crowd.fan(event_id)

    entry = await fan.join()
    receipt = _checked(entry, key)

    assert (receipt.event_id, receipt.entry_id) == (event_id, entry["entrant_id"])
    assert (receipt.status, receipt.number) == ("queued", entry["number"])
    assert receipt.seed_hash == await _seed_hash(live_stack, event_id)
    draw = (await _get(live_stack, f"/api/events/{event_id}/draw")).json()
    assert receipt.beacon_round == draw["beacon"]["round"]
    assert isinstance(receipt.beacon_round, int)
    assert abs(receipt.issued_at_ms - datetime.now(UTC).timestamp() * 1000) < 60_000
    # A reload, a second tab: a new receipt of the same entry.
    again = _checked(await fan.join(), key)
    assert (again.entry_id, again.number) == (receipt.entry_id, receipt.number)
    fetched = await fan.request("GET", fan.path("/receipt"))
    assert fetched.status_code == 200, fetched.text
    assert check_receipt(fetched.json(), key).entry_id == receipt.entry_id


async def test_a_buffered_fan_gets_a_receipt_of_the_window_then_of_its_number(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    key = await _served_key(live_stack)
    event_id = live_stack.create_event()["id"]  # the window is open; the drop is in 2 s
    fan = crowd.fan(event_id)

    buffered = _checked(await fan.join(), key)
    assert (buffered.status, buffered.number) == ("buffered", 0)

    drawn = await _drawn(live_stack, event_id)
    queued = check_receipt((await fan.request("GET", fan.path("/receipt"))).json(), key)
    assert (queued.status, queued.entry_id) == ("queued", buffered.entry_id)
    assert f"{queued.number} {queued.entry_id}\n" in drawn
    assert queued.seed_hash == buffered.seed_hash
    assert queued.beacon_round == buffered.beacon_round


async def test_refusals_and_answers_without_a_place_carry_no_receipt(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduled = live_stack.create_event(
        opens_at=later.isoformat(), drop_at=(later + timedelta(minutes=5)).isoformat()
    )["id"]
    not_open = await crowd.fan(scheduled).join()
    assert (not_open["status"], not_open["receipt"]) == ("not_open", None)

    # A refusal is the error body and nothing else (expect_error checks its keys).
    proven_only = open_sale(live_stack, pow_difficulty=1_000)
    expect_error(await crowd.fan(proven_only).post_join(), ErrorCode.PROOF_OF_WORK_REQUIRED)


async def test_no_receipt_before_joining(live_stack: LiveStack, crowd: Crowd) -> None:
    event_id = open_sale(live_stack)
    stranger = crowd.fan(event_id)
    expect_error(await stranger.request("GET", stranger.path("/receipt")), ErrorCode.NOT_ENTERED)
    # A session of another sale is no entry in this one.
    elsewhere = crowd.fan(open_sale(live_stack))
    await elsewhere.join()
    visitor = crowd.fan(event_id, elsewhere.cookie)
    expect_error(await visitor.request("GET", visitor.path("/receipt")), ErrorCode.NOT_ENTERED)
    expect_error(
        await _get(live_stack, "/api/events/no-such-sale/receipt"), ErrorCode.UNKNOWN_EVENT
    )


async def _drawn(stack: LiveStack, event_id: str) -> str:
    """The published entrant list, once the draw is done."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 4 * WAIT_S
    while loop.time() < deadline:
        draw = await _get(stack, f"/api/events/{event_id}/draw")
        assert draw.status_code == 200, draw.text
        if draw.json()["drawn"]:
            listed = await _get(stack, f"/api/events/{event_id}/draw/entrants")
            assert listed.status_code == 200, listed.text
            return listed.text
        await asyncio.sleep(0.2)
    raise AssertionError(f"no draw within {4 * WAIT_S}s: {draw.text}")


async def test_the_public_draw_names_entry_ids_and_never_who_signed_in(
    live_stack: LiveStack, crowd: Crowd
) -> None:
    key = await _served_key(live_stack)
    event_id = live_stack.create_event()["id"]  # the window is open; the drop is in 2 s
    signer = Signer(live_stack.settings.secret_key)
    identities = [email_identity(EMAIL), Identity(OIDC, SUBJECT, ISSUER)]
    cookies = [signer.sign_session(signer.new_session(who, 3600)) for who in identities]
    fans = [crowd.fan(event_id, cookie) for cookie in cookies] + [crowd.fan(event_id)]
    receipts = [_checked(await fan.join(), key) for fan in fans]

    listed = await _drawn(live_stack, event_id)
    public = [
        listed,
        (await _get(live_stack, f"/api/events/{event_id}/draw")).text,
        (await _get(live_stack, f"/api/events/{event_id}")).text,
        *[(await fan.request("GET", fan.path("/receipt"))).text for fan in fans],
    ]
    for text in public:
        for secret in (EMAIL, "lovelace", "example.org", SUBJECT, ISSUER, "id.example"):
            assert secret not in text.lower(), (secret, text)
    # Each receipt's entry id is in the list: what a fan checks after the draw.
    ids = {line.split(" ")[1] for line in listed.splitlines()}
    assert {receipt.entry_id for receipt in receipts} == ids


def test_a_bad_receipt_key_stops_the_web_process_from_starting() -> None:
    settings = Settings(secret_key="s", organiser_token="t", receipt_key="not hex")
    with pytest.raises(SettingsError, match="FAIRDROP_RECEIPT_KEY"):
        create_app(settings)
