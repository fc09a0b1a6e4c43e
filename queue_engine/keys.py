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


@dataclass(frozen=True)
class EventKeys:
    event_id: str

    @cached_property
    def tag(self) -> str:
        return f"{{e:{self.event_id}}}"

    def _key(self, name: str) -> str:
        return f"{self.tag}:{name}"

    @cached_property
    def script_keys(self) -> list[str]:
        """KEYS for every event script, in the order ``_prelude.lua`` names them."""
        return [
            self._key("meta"),  # hash: schedule, rate, cap, phase, serving counter
            self._key("buffer"),  # set: fans who joined while the window was open
            self._key("queue"),  # zset: fan -> queue number
            self._key("shopping"),  # zset: admitted fan -> deadline (ms)
            self._key("stock"),  # hash: ticket type -> total stock
            self._key("available"),  # hash: ticket type -> neither held nor sold
            self._key("held"),  # hash: ticket type -> in live holds
            self._key("sold"),  # hash: ticket type -> sold
            self._key("limits"),  # hash: ticket type -> per-person limit
            self._key("bought"),  # hash: "fan|type" -> held + sold for that fan
            self._key("holds"),  # hash: hold id -> hold (JSON)
            self._key("hold_expiry"),  # zset: live hold id -> expiry (ms)
            self._key("fan_hold"),  # hash: fan -> live hold id
            self._key("requests"),  # hash: purchase request id -> result (JSON)
            self._key("seed"),  # string: the draw seed, secret until the drop
            self._key("identities"),  # hash: entrant -> who signed in (email:, oidc:, member:)
            self._key("allowance"),  # hash: entrant on the organiser's list -> tickets allowed
            self._key("presales"),  # hash: presale link id -> link (JSON: left, expiry, type)
            # hash: client address -> when it may place its next new anonymous entrant (ms)
            self._key("addresses"),
            self.channel,  # pub/sub channel (not a key; tagged all the same)
        ]

    @property
    def meta(self) -> str:
        return self.script_keys[0]

    @property
    def buffer(self) -> str:
        return self.script_keys[1]

    @property
    def queue(self) -> str:
        return self.script_keys[2]

    @property
    def shopping(self) -> str:
        return self.script_keys[3]

    @property
    def available(self) -> str:
        return self.script_keys[5]

    @property
    def held(self) -> str:
        return self.script_keys[6]

    @property
    def holds(self) -> str:
        return self.script_keys[10]

    @property
    def requests(self) -> str:
        return self.script_keys[13]

    @property
    def seed(self) -> str:
        return self.script_keys[14]

    @property
    def identities(self) -> str:
        return self.script_keys[15]

    @property
    def allowance(self) -> str:
        return self.script_keys[16]

    @property
    def presales(self) -> str:
        return self.script_keys[17]

    @property
    def addresses(self) -> str:
        return self.script_keys[18]

    @cached_property
    def channel(self) -> str:
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
