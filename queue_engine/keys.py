"""Every Redis key and channel of a sale, built in one place.

All keys of one event share the hash tag ``{e:<id>}``, so every Lua script of
that event touches a single Redis Cluster slot, and events spread across slots.
Scripts never build key names themselves: they get this list as ``KEYS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

# The global index of sales the clock walks. Not tagged: no script uses it
# together with an event's keys.
EVENTS_INDEX = "fairdrop:events"
# Events whose keys a process keeps built (see EventKeys.__new__); far more
# than the sales one process serves at once.
_KEPT = 1024
_BUILT: dict[str, EventKeys] = {}


@dataclass(frozen=True)
class EventKeys:
    event_id: str

    def __new__(cls, event_id: str) -> EventKeys:
        # One object per event: every script call asks for the same 22 key
        # names, and building them anew cost 15 us a call (0.3 us now).
        # The cached properties below then live as long as the object.
        built = _BUILT.get(event_id)
        if built is None:
            if len(_BUILT) >= _KEPT:
                _BUILT.clear()
            built = _BUILT[event_id] = super().__new__(cls)
        return built

    def __getnewargs__(self) -> tuple[str]:
        # Unpickled objects go through __new__ too, which needs the id.
        return (self.event_id,)

    @cached_property
    def tag(self) -> str:
        return f"{{e:{self.event_id}}}"

    def _key(self, name: str) -> str:
        return f"{self.tag}:{name}"

    @cached_property
    def script_keys(self) -> list[str]:
        """KEYS for every event script, in the order ``_prelude.lua`` names them:
        :attr:`stored_keys`, then the channel."""
        return [*self.stored_keys, self.channel]

    @cached_property
    def script_keys_bytes(self) -> tuple[bytes, ...]:
        """:attr:`script_keys` encoded once: redis-py encodes a str argument on
        every call, and bytes go out as they are."""
        return tuple(key.encode() for key in self.script_keys)

    @cached_property
    def stored_keys(self) -> list[str]:
        """Every key the scripts get (:attr:`script_keys` without the channel):
        all of a sale's script state, e.g. to delete or to check it is gone.
        Each is also a property of its own, named as ``_prelude.lua`` names it."""
        return [
            self.meta,
            self.buffer,
            self.queue,
            self.shopping,
            self.stock,
            self.available,
            self.held,
            self.sold,
            self.limits,
            self.bought,
            self.holds,
            self.hold_expiry,
            self.fan_hold,
            self.requests,
            self.seed,
            self.identities,
            self.allowance,
            self.presales,
            self.addresses,
            self.arrivals,
            self.tallies,
            self.discounts,
            self.lifecycle,
            self.lifecycle_once,
            self.rounds,
            self.round_buffer,
            self.requeued,
        ]

    @cached_property
    def meta(self) -> str:
        """Hash: schedule, rate, cap, phase, serving counter."""
        return self._key("meta")

    @cached_property
    def buffer(self) -> str:
        """Set: fans who joined while the window was open."""
        return self._key("buffer")

    @cached_property
    def queue(self) -> str:
        """Zset: fan -> queue number."""
        return self._key("queue")

    @cached_property
    def shopping(self) -> str:
        """Zset: admitted fan -> deadline (ms)."""
        return self._key("shopping")

    @cached_property
    def stock(self) -> str:
        """Hash: ticket type -> total stock."""
        return self._key("stock")

    @cached_property
    def available(self) -> str:
        """Hash: ticket type -> neither held nor sold."""
        return self._key("available")

    @cached_property
    def held(self) -> str:
        """Hash: ticket type -> in live holds."""
        return self._key("held")

    @cached_property
    def sold(self) -> str:
        """Hash: ticket type -> sold."""
        return self._key("sold")

    @cached_property
    def limits(self) -> str:
        """Hash: ticket type -> per-person limit."""
        return self._key("limits")

    @cached_property
    def bought(self) -> str:
        """Hash: "fan|type" -> held + sold for that fan."""
        return self._key("bought")

    @cached_property
    def holds(self) -> str:
        """Hash: hold id -> hold (JSON)."""
        return self._key("holds")

    @cached_property
    def hold_expiry(self) -> str:
        """Zset: live hold id -> expiry (ms)."""
        return self._key("hold_expiry")

    @cached_property
    def fan_hold(self) -> str:
        """Hash: fan -> live hold id."""
        return self._key("fan_hold")

    @cached_property
    def requests(self) -> str:
        """Hash: purchase request id -> result (JSON)."""
        return self._key("requests")

    @cached_property
    def seed(self) -> str:
        """String: the draw seed, secret until the drop."""
        return self._key("seed")

    @cached_property
    def identities(self) -> str:
        """Hash: entrant -> who signed in (email:, oidc:, member:)."""
        return self._key("identities")

    @cached_property
    def allowance(self) -> str:
        """Hash: entrant on the organiser's list -> tickets allowed."""
        return self._key("allowance")

    @cached_property
    def presales(self) -> str:
        """Hash: presale link id -> link (JSON: left, expiry, type)."""
        return self._key("presales")

    @cached_property
    def addresses(self) -> str:
        """Hash: client address -> when it may place its next new anonymous entrant (ms)."""
        return self._key("addresses")

    @cached_property
    def arrivals(self) -> str:
        """List: "<ms> <entrant>" for each entrant when it entered the window, in
        arrival order. For the fairness report only: nothing that decides a place
        reads it (buffer/entry_tallies.py)."""
        return self._key("arrivals")

    @cached_property
    def tallies(self) -> str:
        """Hash: the fairness report's counters: entrants placed by access route,
        joins refused by reason (buffer/entry_tallies.py)."""
        return self._key("tallies")

    @cached_property
    def discounts(self) -> str:
        """Hash: discount code (lower case) -> its terms and uses as JSON
        (purchase/discounts.py, hold.lua, release_hold, confirm.lua)."""
        return self._key("discounts")

    @cached_property
    def lifecycle(self) -> str:
        """Stream: one entry per ticket change (held, released, expired, sold,
        refunded, resold, checked_in), for other systems (queue_engine/lifecycle.py)."""
        return self._key("lifecycle")

    @cached_property
    def lifecycle_once(self) -> str:
        """Hash: ``kind:name`` of a change made in PostgreSQL (a check-in, a
        resale) -> its lifecycle entry id, so each is streamed once however
        often it is offered (stream_once.lua)."""
        return self._key("lifecycle_once")

    @cached_property
    def rounds(self) -> str:
        """Hash: resale round n -> its public record (JSON: commitment, schedule,
        digest, then the revealed seed and beacon value); "seed:<n>" -> the
        round's seed, secret until its draw (buffer/rounds.py)."""
        return self._key("rounds")

    @cached_property
    def round_buffer(self) -> str:
        """Set: fans who entered the open resale round, drawn when its window closes."""
        return self._key("round_buffer")

    @cached_property
    def requeued(self) -> str:
        """Hash: a drawn queue number its fan gave up to queue again -> that fan,
        so the published draw keeps every number it gave (buffer/published.py)."""
        return self._key("requeued")

    @cached_property
    def channel(self) -> str:
        """Pub/sub channel of the sale's updates (not a key; tagged all the same)."""
        return self._key("updates")

    def payment_event(self, provider_event_id: str) -> str:
        """Set once a payment provider's webhook event is taken, so it is handled once."""
        return self._key(f"payment_event:{provider_event_id}")

    def pow_used(self, challenge_id: str) -> str:
        """Set once a proof-of-work challenge is solved and used, until it expires."""
        return self._key(f"pow_used:{challenge_id}")

    @cached_property
    def pow_proven(self) -> str:
        """Set of entrants who joined with a proof of work; it only ever grows."""
        return self._key("pow_proven")

    @cached_property
    def draw_lease(self) -> str:
        """Held by the one clock that computes the draw; others wait for it."""
        return self._key("draw_lease")

    @cached_property
    def samples(self) -> str:
        """List: one JSON sample of the sale's figures a second while it is live,
        for the organiser's charts (queue_engine/samples.py); trimmed by length
        and expiring on its own, so not among :attr:`stored_keys`."""
        return self._key("samples")
