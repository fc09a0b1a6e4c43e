"""Resale rounds (buffer/rounds.py): a ticket back after the sale sold out, with
nobody left in line, is drawn among everyone who enters a short window, by the
sale's own algorithm under a seed committed before anyone entered."""

from __future__ import annotations

import asyncio
import json
import time
from typing import cast

import redis
import redis.asyncio

from buffer.draw import run_draw, text_of
from buffer.order import ALGORITHM, draw_key, draw_order, seed_commitment
from buffer.published import drawn_entrants
from buffer.rounds import RoundTiming, open_round, round_record, run_round_draw
from buffer.verify import PublishedDraw, check_published_draw
from loadtests.sync_sale import create_sale_sync, hold_tickets, join_sync
from purchase.holds import confirm_hold, release_hold
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.samples import Sampler
from queue_engine.scripts import SyncScripts
from tests.reads import set_members, zset_scores
from web.metrics import sale_families

SEED = "1e" * 32
WINDOW = RoundTiming(window_seconds=1.0)


def _redis_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def _drawn_in_the_past(scripts: SyncScripts, event_id: str, stock: int) -> int:
    """A sale whose window was 20 to 10 s ago by Redis's clock; that clock's now."""
    now = _redis_ms(cast(redis.Redis, scripts.client))
    window = (now - 20_000, now - 10_000)
    ga = TicketTypeSpec("ga", "GA", 1000, "EUR", stock, 1)
    spec = SaleSpec(event_id, event_id, *window, 600, 10, 60, SEED, seed_commitment(SEED), (ga,))
    assert create_sale_sync(scripts, spec)
    return now


def _sold_out_sale(scripts: SyncScripts, event_id: str) -> str:
    """A drawn sale of two tickets to three fans: the first two let in buy it
    out; the third, still in line, is who it returns. Windows in Redis's past."""
    now = _drawn_in_the_past(scripts, event_id, stock=2)
    for fan in ("a", "b", "c"):
        assert join_sync(scripts, event_id, fan, now - 15_000).status == "buffered"
    admit_next_batch(scripts, event_id, 1_000)
    assert run_draw(scripts, event_id) is not None
    admit_next_batch(scripts, event_id, 1_000)
    holds = {}
    for fan in ("a", "b", "c"):
        answer = hold_tickets(scripts, event_id, fan, f"r-{fan}", [("ga", 1)])
        if answer.ok and answer.hold is not None:
            holds[fan] = answer.hold.id
    assert len(holds) == 2, holds  # two tickets: the third fan found none
    for fan, hold_id in holds.items():
        assert confirm_hold(scripts, event_id, hold_id, f"pay-{fan}").ok
    tick = admit_next_batch(scripts, event_id, 1_000)
    assert tick.state == "sold_out" and tick.serving == 2 and not tick.round_due
    return ({"a", "b", "c"} - holds.keys()).pop()


def _put_back_one(scripts: SyncScripts, event_id: str, listing: str) -> None:
    answer = json.loads(scripts.run("resale_return", event_id, listing, "ga", "0"))
    assert answer["returned"], answer


def _meta(client: redis.Redis, event_id: str, field: str) -> str:
    return text_of(client.hget(EventKeys(event_id).meta, field))


def _turn_over(scripts: SyncScripts, event_id: str, fan: str) -> None:
    """The fan's turn ends without buying: a hold let go."""
    answer = hold_tickets(scripts, event_id, fan, f"again-{fan}", [("ga", 1)])
    assert answer.ok and answer.hold is not None, answer
    assert release_hold(scripts, event_id, answer.hold.id, fan).ok


def _open_a_round(scripts: SyncScripts, event_id: str, window_seconds: float) -> None:
    """A sold-out sale whose last fan in line let a seat put back go: round 1 opens."""
    c = _sold_out_sale(scripts, event_id)
    _put_back_one(scripts, event_id, "listing-1")
    admit_next_batch(scripts, event_id, 1_000)
    _turn_over(scripts, event_id, c)
    assert admit_next_batch(scripts, event_id, 1_000).round_due
    assert open_round(scripts, event_id, RoundTiming(window_seconds=window_seconds)) == 1


def test_a_seat_back_after_the_sale_is_drawn_in_a_round_and_everyone_else_waits_behind(
    scripts: SyncScripts, redis_url: str
) -> None:
    client = cast(redis.Redis, scripts.client)
    event_id = "round"
    keys = EventKeys(event_id)
    c = _sold_out_sale(scripts, event_id)
    # While a fan still waits in line, a seat put back goes to them, in order,
    # and no round opens while they choose.
    _put_back_one(scripts, event_id, "listing-1")
    tick = admit_next_batch(scripts, event_id, 1_000)
    assert tick.serving == 3 and tick.admitted == 1 and not tick.round_due
    _turn_over(scripts, event_id, c)
    tick = admit_next_batch(scripts, event_id, 1_000)
    assert tick.state == "queueing" and tick.round_due, tick

    n = open_round(scripts, event_id, WINDOW)
    assert n == 1
    assert open_round(scripts, event_id, WINDOW) == 0  # a second clock: none due
    opened = round_record(client, event_id, 1)
    assert opened is not None and "seed" not in opened and opened["algorithm"] == ALGORITHM
    committed = opened["seed_hash"]

    # Everyone who comes in the window is in the draw, whenever in it they came;
    # a fan whose turn ended asks to queue again and enters too.
    again = scripts.run("queue_again", event_id, 0, c)
    assert again[0] == b"buffered"
    newcomers = [f"new-{i}" for i in range(12)]
    for fan in newcomers:
        assert join_sync(scripts, event_id, fan).status == "buffered"
    assert join_sync(scripts, event_id, "new-3").status == "buffered"  # still once
    assert join_sync(scripts, event_id, c).status == "buffered"
    entrants = {*newcomers, c}
    assert set_members(client, keys.round_buffer) == entrants
    assert admit_next_batch(scripts, event_id, 1_000).admitted == 0  # nobody jumps the draw

    time.sleep(WINDOW.window_seconds + 0.1)
    tick = admit_next_batch(scripts, event_id, 1_000)
    assert tick.round_state == "drawing"
    # After the freeze a newcomer is behind every entrant of the round.
    late = join_sync(scripts, event_id, "late")
    assert late.status == "queued" and late.number == 3 + len(entrants) + 1

    drawn = run_round_draw(scripts, event_id)
    assert drawn is not None and drawn.entrants == len(entrants) and drawn.first_number == 4
    assert run_round_draw(scripts, event_id) is None  # done: a second clock finds nothing
    record = round_record(client, event_id, 1)
    assert record is not None and seed_commitment(record["seed"]) == committed
    ordered, digest = draw_order(draw_key(ALGORITHM, record["seed"]), entrants)
    assert record["digest"] == digest and record["entrants"] == len(entrants)
    numbers = zset_scores(client, keys.queue)
    assert [numbers[f] for f in ordered] == list(range(4, 4 + len(entrants)))
    assert numbers["late"] == 4 + len(entrants)
    assert client.exists(keys.round_buffer) == 0 and _meta(client, event_id, "round_state") == ""

    # Anyone can check the round from what is published: the block's numbers,
    # and the sale's own draw still lists c under the number c gave up.
    async def published(entrants: int, first: int) -> list[tuple[int, str]]:
        async_client = redis.asyncio.Redis.from_url(redis_url)
        try:
            return [pair async for pair in drawn_entrants(async_client, event_id, entrants, first)]
        finally:
            await async_client.aclose()

    block = asyncio.run(published(len(entrants), 4))
    check = check_published_draw(
        PublishedDraw(ALGORITHM, record["seed"], committed, digest),
        [(number - 3, fan) for number, fan in block],
    )
    assert check.ok, check.reason
    assert c in [fan for _, fan in asyncio.run(published(3, 1))]

    # The first of the round is let in next, not the newcomer after it.
    tick = admit_next_batch(scripts, event_id, 1_000)
    assert tick.admitted >= 1 and client.zscore(keys.shopping, ordered[0]) is not None
    assert client.zscore(keys.shopping, "late") is None or tick.admitted > len(entrants)


def test_a_round_nobody_enters_leaves_the_next_seat_to_whoever_comes(
    scripts: SyncScripts,
) -> None:
    client = cast(redis.Redis, scripts.client)
    event_id = "empty-round"
    _open_a_round(scripts, event_id, window_seconds=0.2)
    time.sleep(0.3)
    assert admit_next_batch(scripts, event_id, 1_000).round_state == "drawing"
    drawn = run_round_draw(scripts, event_id)
    assert drawn is not None and drawn.entrants == 0
    tick = admit_next_batch(scripts, event_id, 1_000)
    assert not tick.round_due and tick.round_state == ""
    assert _meta(client, event_id, "ran_out") == "0"
    comer = join_sync(scripts, event_id, "comer")
    assert comer.status == "queued" and comer.number == 4


def test_no_round_opens_before_the_sale_ever_sold_out(scripts: SyncScripts) -> None:
    """Tickets left over in a sale that never sold out are not a resale."""
    now = _drawn_in_the_past(scripts, "unsold", stock=5)
    join_sync(scripts, "unsold", "a", now - 15_000)
    admit_next_batch(scripts, "unsold", 1_000)
    run_draw(scripts, "unsold")
    admit_next_batch(scripts, "unsold", 1_000)
    _turn_over(scripts, "unsold", "a")
    tick = admit_next_batch(scripts, "unsold", 1_000)
    assert tick.state == "queueing" and not tick.round_due
    assert open_round(scripts, "unsold", WINDOW) == 0


def test_the_organiser_s_figures_count_a_round_s_entrants_as_waiting(
    scripts: SyncScripts, redis_url: str
) -> None:
    """The dashboard's samples and /metrics' queue length: an open round's
    entrants wait for its draw, as the window's fans wait for the sale's."""
    client = cast(redis.Redis, scripts.client)
    event_id = "figures"
    _open_a_round(scripts, event_id, window_seconds=30.0)
    for fan in ("x", "y", "z"):
        assert join_sync(scripts, event_id, fan).status == "buffered"

    assert Sampler(client).sample(event_id)
    sample = json.loads(client.lindex(EventKeys(event_id).samples, -1) or b"{}")
    # Nobody in line but the three in the round; everyone who joined: 3 + 3.
    assert (sample["w"], sample["j"]) == (3, 6), sample

    async def queue_length() -> float:
        async_client = redis.asyncio.Redis.from_url(redis_url)
        try:
            waiting, _ = await sale_families(async_client)
        finally:
            await async_client.aclose()
        return next(s.value for s in waiting.samples if s.labels["sale"] == event_id)

    assert asyncio.run(queue_length()) == 3
