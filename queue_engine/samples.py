"""One sample a second of each live sale's figures, for the organiser's charts.

The clock (launch/clock.py) calls :meth:`Sampler.sample_all` once a second;
sample.lua appends one JSON object per live sale to the sale's samples list
(``EventKeys.samples``, the sale's hash tag), keeps the newest
:data:`SAMPLES_KEPT` and lets the list expire once the sale is over. Every web
process reads the same list (web/organiser_live.py), so a dashboard opened
late gets the whole history and every process serves the same series. Two
clocks add one sample a second between them: the script skips a second it has.

A sample's fields (short: an hour of them is about 0.7 MB a sale):
``s`` the second (Unix time), ``st`` the sale's state, ``p`` paused (0/1),
``j`` fans who ever joined, ``w`` fans waiting (in the waiting room, then in
the queue), ``a`` admitted so far (the serving counter), ``sh`` shopping now,
``h`` and ``sd`` held and sold per ticket type, ``l`` tickets left, ``r`` and
``cap`` the admission rate (a minute) and cap set, ``rf`` joins refused so far
by reason (buffer/entry_tallies.py), ``o`` and ``d`` when the window opens and
the drop (ms), ``so`` the second it was first sampled sold out (else null).
Nothing that decides a place or a ticket reads them.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.resources import files
from typing import cast

from fairdrop.connections import AsyncSaleRedis, SaleRedis
from queue_engine.keys import EVENTS_INDEX, EventKeys

log = logging.getLogger("fairdrop.samples")

# An hour at one a second: a dashboard opened late still sees the whole drop.
SAMPLES_KEPT = 3_600
# Sampling starts this long before the window opens (the countdown's flat
# start), and stops this long after the sale sold out (its last minutes).
SAMPLE_LEAD_MS = 5 * 60_000
SAMPLE_TAIL_S = 2 * 60
# The list goes a day after its last sample: no sale's clean-up has to know it.
SAMPLES_TTL_MS = 24 * 3_600_000


@cache
def _source() -> str:
    """sample.lua after the shared prelude, as queue_engine/scripts.py builds every script."""
    lua = files("queue_engine").joinpath("lua")
    return (
        lua.joinpath("_prelude.lua").read_text("utf-8")
        + "\n"
        + (lua.joinpath("sample.lua").read_text("utf-8"))
    )


def sample_keys(event_id: str) -> list[str]:
    """The event's script keys and then its samples list (sample.lua's KEYS)."""
    keys = EventKeys(event_id)
    return [*keys.script_keys, keys.samples]


class Sampler:
    """The clock's sampler: sample.lua, loaded once and called by SHA."""

    def __init__(self, client: SaleRedis, kept: int = SAMPLES_KEPT) -> None:
        self.client = client
        self.kept = kept
        self._script = client.register_script(_source())

    def sample(self, event_id: str, now_ms: int = 0) -> bool:
        """One sample of the sale now; False if it is not live or this second has one."""
        args = [now_ms, self.kept, SAMPLE_LEAD_MS, SAMPLE_TAIL_S, SAMPLES_TTL_MS]
        return bool(self._script(keys=sample_keys(event_id), args=args))

    def sample_all(self) -> int:
        """One sample of every live sale; how many were added. A sale whose
        sample fails is logged and the others are still sampled."""
        added = 0
        for raw in self.client.smembers(EVENTS_INDEX):
            event_id = raw.decode() if isinstance(raw, bytes) else raw
            try:
                added += self.sample(event_id)
            except Exception as exc:  # the charts miss a second; the sale goes on
                log.warning("sampling %s failed: %s", event_id, exc)
        return added


async def read_samples(client: AsyncSaleRedis, event_id: str, newest: int = 0) -> list[bytes]:
    """The sale's samples, oldest first, each one JSON object as stored; only
    the ``newest`` ones when given (0: all that are kept)."""
    start = -newest if newest > 0 else 0
    return cast(list[bytes], await client.lrange(EventKeys(event_id).samples, start, -1))
