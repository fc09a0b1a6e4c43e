"""The draw as docs/fairness.md specifies it, and its verification."""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import replace

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from buffer.draw import SCAN_COUNT, WRITE_CHUNK, fast_order_by_keys, read_buffer, run_draw
from buffer.order import (
    ALGORITHM,
    ALGORITHM_V1,
    Ranker,
    draw_key,
    draw_order,
    draw_ranking,
    entrants_digest,
    order_by_keys,
    seed_commitment,
)
from buffer.verify import PublishedDraw, check_published_draw
from loadtests.sync_sale import create_sale_sync, join_sync, snapshot_sync
from queue_engine.admission import admit_next_batch
from queue_engine.keys import EventKeys
from queue_engine.sales import SaleSpec, TicketTypeSpec
from queue_engine.scripts import SyncScripts
from tests.reads import set_members, zset_scores

SEED = "0f" * 32
KEY = bytes.fromhex(SEED)  # a v1 draw's key is the seed itself
RANDOMNESS = "ab" * 32  # a beacon value, for v2
# The verifier's sort (standard library) and the server's (numpy): the same order.
RANKERS = pytest.mark.parametrize(
    "rank", [order_by_keys, fast_order_by_keys], ids=["standard_library", "numpy"]
)


def spec_key(seed_hex: str, randomness_hex: str) -> bytes:
    """docs/fairness.md's v2 draw key, copied from the page itself."""
    label = b"fairdrop-draw-v2:" + randomness_hex.encode()
    return hmac.new(bytes.fromhex(seed_hex), label, hashlib.sha256).digest()


def spec_draw(key: bytes, entrants: list[str]) -> list[str]:
    """docs/fairness.md's reference implementation, copied from the page itself."""
    ids = sorted(set(entrants), key=lambda f: f.encode())
    digest = hashlib.sha256(b"".join(f.encode() + b"\n" for f in ids)).hexdigest()

    def sort_key(f: str) -> tuple[bytes, bytes]:
        mac = hmac.new(key, digest.encode() + b":" + f.encode(), hashlib.sha256).digest()
        return mac, f.encode()

    return sorted(ids, key=sort_key)


def spec_digest(entrants: list[str]) -> str:
    ids = sorted(set(entrants), key=lambda f: f.encode())
    return hashlib.sha256(b"".join(f.encode() + b"\n" for f in ids)).hexdigest()


@pytest.mark.parametrize("randomness", [RANDOMNESS, ""], ids=["beacon", "no_beacon"])
def test_draw_matches_the_published_specification(randomness: str) -> None:
    entrants = [f"fan-{i}" for i in range(500)] + ["é-unicode", "Z", "a"]
    key = draw_key(ALGORITHM, SEED, randomness)
    assert key == spec_key(SEED, randomness)
    ordered, digest = draw_order(key, entrants)
    assert ordered == spec_draw(key, entrants)
    assert digest == entrants_digest(entrants)
    assert sorted(ordered) == sorted(entrants)


def test_v1_draws_keep_their_key_and_v2_mixes_in_the_beacon() -> None:
    entrants = [f"fan-{i}" for i in range(200)]
    assert draw_key(ALGORITHM_V1, SEED) == KEY
    v1, _ = draw_order(KEY, entrants)
    with_beacon, _ = draw_order(draw_key(ALGORITHM, SEED, RANDOMNESS), entrants)
    other_beacon, _ = draw_order(draw_key(ALGORITHM, SEED, "cd" * 32), entrants)
    assert len({tuple(v1), tuple(with_beacon), tuple(other_beacon)}) == 3
    # Hex case is not a second beacon value: the key reads it as the same bytes.
    assert draw_key(ALGORITHM, SEED, RANDOMNESS.upper()) == draw_key(ALGORITHM, SEED, RANDOMNESS)
    with pytest.raises(ValueError):
        draw_key("fairdrop-draw-v9", SEED)


# Fan ids as the server issues them, and anything else a string can be: unicode,
# empty, zero bytes, ids that are prefixes of others, repeats.
fan_ids = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "a", "a\x00", "ab", "\x00", "é", "\U0001f600", "fan-1", "fan-10"]),
)
# Real keys are 32 bytes; other lengths exercise HMAC's own key handling.
keys_ = st.binary(min_size=0, max_size=100)


@RANKERS
@settings(max_examples=300, deadline=None)
@given(key=keys_, entrants=st.lists(fan_ids, max_size=60))
def test_fast_draw_is_exactly_the_reference_draw(
    rank: Ranker, key: bytes, entrants: list[str]
) -> None:
    ordered, digest = draw_order(key, entrants, rank)
    assert ordered == spec_draw(key, entrants)
    assert digest == entrants_digest(entrants) == spec_digest(entrants)


def test_the_server_and_the_verifier_draw_a_large_random_crowd_alike() -> None:
    """The server's numpy sort and the verifier's plain one, on what run_draw ranks."""
    chance = random.Random(20_240_601)
    key = chance.randbytes(32)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    entrants = {"".join(chance.choices(alphabet, k=chance.randint(1, 22))) for _ in range(20_000)}
    by_bytes = sorted(f.encode() for f in entrants)
    server = draw_ranking(key, by_bytes, fast_order_by_keys)
    assert server == draw_ranking(key, by_bytes)
    ordered, digest = draw_order(key, entrants)
    assert ([by_bytes[i].decode() for i in server[0]], server[1]) == (ordered, digest)


# Few distinct parts, so keys often share their first 8 bytes or are equal
# outright: the tie-breaking that HMAC keys make practically never happen.
tying_keys = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from([bytes(8), b"\xff" * 8, bytes(7) + b"\x01"]),
    st.sampled_from([bytes(24), b"\x01" + bytes(23), b"\xff" * 24]),
)


@RANKERS
@settings(max_examples=300, deadline=None)
@given(keys=st.lists(st.one_of(tying_keys, st.binary(min_size=32, max_size=32)), max_size=40))
def test_order_by_keys_breaks_ties_by_whole_key_then_position(
    rank: Ranker, keys: list[bytes]
) -> None:
    assert rank(b"".join(keys)) == sorted(range(len(keys)), key=lambda i: (keys[i], i))


@RANKERS
def test_order_by_keys_wants_sha256_sized_keys(rank: Ranker) -> None:
    with pytest.raises(ValueError):
        rank(bytes(48))


@RANKERS
def test_equal_keys_go_in_id_byte_order(rank: Ranker) -> None:
    """The specification's last tie-break, which real HMAC keys never reach."""
    ids = sorted(["b", "a", "é", "z"], key=str.encode)
    assert [ids[i] for i in rank(bytes(32 * len(ids)))] == ["a", "b", "z", "é"]


def test_order_depends_on_seed_and_on_every_entrant() -> None:
    entrants = [f"fan-{i}" for i in range(50)]
    base, _ = draw_order(KEY, entrants)
    assert draw_order(bytes.fromhex("0e" * 32), entrants)[0] != base
    # Adding one entrant changes the digest and so everyone's key.
    with_one_more, _ = draw_order(KEY, [*entrants, "fan-new"])
    assert [f for f in with_one_more if f != "fan-new"] != base


def test_seed_commitment_is_sha256_of_raw_bytes() -> None:
    assert seed_commitment(SEED) == hashlib.sha256(bytes.fromhex(SEED)).hexdigest()


@pytest.mark.parametrize(
    ("algorithm", "randomness"),
    [(ALGORITHM, RANDOMNESS), (ALGORITHM, ""), (ALGORITHM_V1, "")],
    ids=["v2", "v2_no_beacon", "v1"],
)
def test_verification_accepts_the_true_draw_and_rejects_tampering(
    algorithm: str, randomness: str
) -> None:
    entrants = [f"fan-{i}" for i in range(100)]
    ordered, digest = draw_order(draw_key(algorithm, SEED, randomness), entrants)
    published = [(i + 1, f) for i, f in enumerate(ordered)]
    draw = PublishedDraw(algorithm, SEED, seed_commitment(SEED), digest, randomness)
    assert check_published_draw(draw, published).ok

    swapped = list(published)
    swapped[0], swapped[1] = (1, published[1][1]), (2, published[0][1])
    assert not check_published_draw(draw, swapped).ok
    assert not check_published_draw(replace(draw, seed="0e" * 32), published).ok
    # A re-committed seed: new seed, its own hash, the order recomputed. It checks
    # on its own; only the hash a fan saw before the drop (their receipt,
    # --expect-seed-hash) can tell, which tests/buffer/test_verify.py covers.
    assert not check_published_draw(draw, published[:-1]).ok
    renumbered = [(n + 1, f) for n, f in published]
    assert not check_published_draw(draw, renumbered).ok
    if randomness:
        assert not check_published_draw(replace(draw, randomness="cd" * 32), published).ok
        assert not check_published_draw(replace(draw, randomness=""), published).ok


def test_a_resale_round_s_block_verifies_from_its_first_number() -> None:
    """A round numbers a block after every earlier number (buffer/rounds.py): the
    same order, numbered from the block's first, and only from there."""
    ordered, digest = draw_order(draw_key(ALGORITHM, SEED, RANDOMNESS), ["a", "b", "c", "d"])
    block = [(41 + i, f) for i, f in enumerate(ordered)]
    draw = PublishedDraw(ALGORITHM, SEED, seed_commitment(SEED), digest, RANDOMNESS)
    assert check_published_draw(draw, block, 41).ok
    assert not check_published_draw(draw, block).ok  # not 1..N
    from_one = [(n - 40, f) for n, f in block]
    verdict = check_published_draw(draw, from_one, 41)
    assert not verdict.ok and verdict.reason == "queue numbers are not exactly 41..41+N-1"
    swapped = [(41, block[1][1]), (42, block[0][1]), *block[2:]]
    assert not check_published_draw(draw, swapped, 41).ok
    assert not check_published_draw(replace(draw, seed="0e" * 32), block, 41).ok
    assert not check_published_draw(draw, [*block, (45, "e")], 41).ok  # an entrant added


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
    # No beacon configured: the v2 key without a beacon value.
    ordered, digest = draw_order(draw_key(ALGORITHM, SEED), entrants)
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


def test_read_buffer_gives_every_member_once_in_byte_order(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    keys = EventKeys("pages")
    members = [f"fan-{i}" for i in range(SCAN_COUNT * 3 + 11)] + ["é", "z", "\U0001f600", "Z"]
    client.sadd(keys.buffer, *members)
    read = read_buffer(client, keys)
    assert read == sorted(m.encode() for m in members)


def test_run_draw_survives_health_checks_between_pipelined_commands(redis_url: str) -> None:
    """The clock's client checks its connection's health; with a tiny interval
    it would PING before every command, and a PING sent while ZADD replies are
    still unread would take one of them for its own."""
    client = redis.Redis.from_url(redis_url, health_check_interval=1e-9)
    scripts = SyncScripts(client)
    _drawable_sale(scripts, "health", WRITE_CHUNK + 1)
    result = run_draw(scripts, "health")
    assert result is not None and result.state == "queueing"
    assert sorted(zset_scores(client, EventKeys("health").queue).values()) == list(
        range(1, WRITE_CHUNK + 3)
    )


def test_draw_lease_lets_only_one_clock_compute(redis_url: str) -> None:
    scripts = SyncScripts(redis.Redis.from_url(redis_url))
    _drawable_sale(scripts, "lease", 3)
    scripts.client.set(EventKeys("lease").draw_lease, "another-clock")
    assert run_draw(scripts, "lease") is None
    assert join_sync(scripts, "lease", "fan-0", 2_100).number == 0  # still waiting for the draw
