"""The draw as docs/fairness.md specifies it, and its verification."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import redis

from buffer.draw import WRITE_CHUNK, draw_order, entrants_digest, run_draw, seed_commitment
from buffer.verify import check_published_draw
from queue_engine.admission import admit_next_batch
from queue_engine.joining import join_sync
from queue_engine.keys import EventKeys
from queue_engine.sales import SaleSpec, TicketTypeSpec, create_sale_sync, snapshot_sync
from queue_engine.scripts import SyncScripts
from tests.reads import set_members, zset_scores

SEED = "0f" * 32


def spec_draw(seed_hex: str, entrants: list[str]) -> list[str]:
    """docs/fairness.md's reference implementation, copied from the page itself."""
    ids = sorted(set(entrants), key=lambda f: f.encode())
    digest = hashlib.sha256(b"".join(f.encode() + b"\n" for f in ids)).hexdigest()
    key = bytes.fromhex(seed_hex)

    def sort_key(f: str) -> tuple[bytes, bytes]:
        mac = hmac.new(key, digest.encode() + b":" + f.encode(), hashlib.sha256).digest()
        return mac, f.encode()

    return sorted(ids, key=sort_key)


def test_draw_matches_the_published_specification() -> None:
    entrants = [f"fan-{i}" for i in range(500)] + ["é-unicode", "Z", "a"]
    ordered, digest = draw_order(SEED, entrants)
    assert ordered == spec_draw(SEED, entrants)
    assert digest == entrants_digest(entrants)
    assert sorted(ordered) == sorted(entrants)


def test_order_depends_on_seed_and_on_every_entrant() -> None:
    entrants = [f"fan-{i}" for i in range(50)]
    base, _ = draw_order(SEED, entrants)
    assert draw_order("0e" * 32, entrants)[0] != base
    # Adding one entrant changes the digest and so everyone's key.
    with_one_more, _ = draw_order(SEED, [*entrants, "fan-new"])
    assert [f for f in with_one_more if f != "fan-new"] != base


def test_seed_commitment_is_sha256_of_raw_bytes() -> None:
    assert seed_commitment(SEED) == hashlib.sha256(bytes.fromhex(SEED)).hexdigest()


def _published(entrants: list[str]) -> list[tuple[int, str]]:
    ordered, _ = draw_order(SEED, entrants)
    return [(i + 1, f) for i, f in enumerate(ordered)]


def test_verification_accepts_the_true_draw_and_rejects_tampering() -> None:
    entrants = [f"fan-{i}" for i in range(100)]
    published = _published(entrants)
    digest = entrants_digest(entrants)
    commitment = seed_commitment(SEED)
    assert check_published_draw(SEED, commitment, digest, published).ok

    swapped = list(published)
    swapped[0], swapped[1] = (1, published[1][1]), (2, published[0][1])
    assert not check_published_draw(SEED, commitment, digest, swapped).ok
    assert not check_published_draw("0e" * 32, commitment, digest, published).ok
    assert not check_published_draw(SEED, commitment, digest, published[:-1]).ok
    renumbered = [(n + 1, f) for n, f in published]
    assert not check_published_draw(SEED, commitment, digest, renumbered).ok


def _drawable_sale(scripts: SyncScripts, event_id: str, fans: int) -> None:
    create_sale_sync(
        scripts,
        SaleSpec(
            event_id,
            "d",
            1_000,
            2_000,
            60,
            10,
            60,
            SEED,
            seed_commitment(SEED),
            (TicketTypeSpec("ga", "GA", 1, "EUR", 10, 1),),
        ),
    )
    for i in range(fans + 1):
        join_sync(scripts, event_id, f"fan-{i}", 1_500)
    admit_next_batch(scripts, event_id, 1_000, now_ms=2_000)


@pytest.mark.parametrize("fans", [0, 1, WRITE_CHUNK * 2 + 7])
def test_run_draw_writes_every_number_once_and_is_repeatable(redis_url: str, fans: int) -> None:
    client = redis.Redis.from_url(redis_url)
    scripts = SyncScripts(client)
    _drawable_sale(scripts, "ev", fans)
    keys = EventKeys("ev")
    entrants = list(set_members(client, keys.buffer))
    result = run_draw(scripts, "ev")
    assert result is not None and result.state == "queueing"
    assert result.entrants == len(entrants) == fans + 1
    numbers = zset_scores(client, keys.queue)
    ordered, digest = draw_order(SEED, entrants)
    assert numbers == {f: i + 1 for i, f in enumerate(ordered)}
    live = snapshot_sync(scripts, "ev")
    assert live is not None
    assert live["entrants_digest"] == digest and live["seed"] == SEED

    # A second clock (lease expired) redoes it: same numbers, nothing else changes.
    client.delete(keys.draw_lease)
    client.hset(keys.meta, "state", "drawing")
    again = run_draw(scripts, "ev")
    assert again is not None and again.digest == digest
    assert zset_scores(client, keys.queue) == numbers


def test_draw_lease_lets_only_one_clock_compute(redis_url: str) -> None:
    scripts = SyncScripts(redis.Redis.from_url(redis_url))
    _drawable_sale(scripts, "lease", 3)
    scripts.client.set(EventKeys("lease").draw_lease, "another-clock")
    assert run_draw(scripts, "lease") is None
    assert join_sync(scripts, "lease", "fan-0", 2_100).number == 0  # still waiting for the draw
