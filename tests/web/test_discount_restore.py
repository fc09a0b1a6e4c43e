"""A sale Redis lost comes back with its discount codes and the uses paid orders
made of them (purchase/restore.py, purchase/discounts.py restore_codes); a
live hold's use is gone with the hold, so the limit still holds exactly."""

from __future__ import annotations

import asyncio

from fairdrop.errors import ErrorCode
from tests.live_stack import LiveStack
from tests.web import test_redis_restart as redis_restart
from tests.web.fans import Crowd, expect_error, is_message, open_sale
from tests.web.test_discounts import ask_with_code, codes, make_code
from tests.web.test_redis_restart import _flush, _stats_when_back

# A stack whose clock puts back what Redis lost (the restart tests' fixture, for this module).
live_stack = redis_restart.live_stack


async def test_codes_come_back_with_their_paid_uses(live_stack: LiveStack, crowd: Crowd) -> None:
    event_id = open_sale(live_stack)
    assert (await make_code(live_stack, event_id, code="two", max_uses=2)).status_code == 201
    buyer, holder = crowd.fan(event_id), crowd.fan(event_id)
    await buyer.join()
    socket = await buyer.open_socket()
    asked = await ask_with_code(buyer, "two")
    held = await buyer.answer_to(asked.json()["request_id"])
    assert (await buyer.pay(held["hold"]["id"])).status_code == 202
    assert (await socket.next(is_message("order"), timeout=20))["ok"]
    asked = await ask_with_code(holder, "two")
    assert (await holder.answer_to(asked.json()["request_id"]))["ok"]
    assert ((await codes(live_stack, event_id))["two"]["used"]) == 2
    await asyncio.sleep(1.0)  # past the grace for new sales

    _flush(live_stack)
    await _stats_when_back(live_stack, event_id)
    # The codes go back just after the sale itself (restore_sale, then restore_codes).
    back = (await codes(live_stack, event_id))["two"]
    for _ in range(50):
        if back["used"] is not None:
            break
        await asyncio.sleep(0.1)
        back = (await codes(live_stack, event_id))["two"]
    assert (back["used"], back["paid"]) == (1, 1), back
    # One use is left (the lost hold's): one more fan takes it, the next is refused.
    third = crowd.fan(event_id)
    asked = await ask_with_code(third, "two")
    assert (await third.answer_to(asked.json()["request_id"]))["ok"]
    expect_error(await ask_with_code(crowd.fan(event_id), "two"), ErrorCode.DISCOUNT_USED_UP)
