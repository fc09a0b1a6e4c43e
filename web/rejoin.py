"""Open pages get their places back in a sale Redis lost and the clock restored.

Redis restarted empty takes every place with it; the clock puts the sale back
from PostgreSQL (purchase/restore.py), with its draw. The fans' sockets
outlive all this: they run between the browser and the web process. So the
server, not the page, places each of them again: each open socket's
:class:`~web.places.FanSocket` holds what join.lua needs to place its fan
(the joiner: entrant id, policies, address), and the room that learns of the
restore joins every fan it holds again, then sends each its full status. A
drawn fan gets their drawn number back (the draw came back with the sale); a
late joiner, whose number the database never had, a place after the drawn
fans, in the order of the numbers they had before (within one process). Why
here rather than in the page: nothing new in the protocol, no reload, pages
of any client (browser, the demo's and the tests' fans) alike, and no wave of
HTTP joins on a web process the moment its Redis came back.

How a room learns of it: restore_sale.lua stamps the sale's meta with
``restored_at``, and the room reads that one field for each progress it gets
(one HGET per progress per room, none per fan). A broken subscription is no
sign: redis-py's pub/sub reconnects by itself when Redis is back quickly, and
a cluster subscription is made again for other reasons too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from buffer.arrivals import AddressShare, join
from fairdrop.connections import AsyncSaleRedis
from queue_engine.keys import EventKeys
from queue_engine.scripts import AsyncScripts
from web.places import FanSocket

log = logging.getLogger("fairdrop.live")


class RestoreWatch:
    """Whether a sale was restored since the room last looked."""

    def __init__(self, client: AsyncSaleRedis, event_id: str) -> None:
        self._client = client
        self._meta = EventKeys(event_id).meta
        self._seen: bytes | str | None = None

    async def prime(self) -> None:
        """What the sale is now: a room started after a restore has nothing to mend."""
        self._seen = await self._client.hget(self._meta, "restored_at")

    async def restored(self) -> bool:
        """True once for each restore since :meth:`prime` (or the last True)."""
        now = await self._client.hget(self._meta, "restored_at")
        if now == self._seen:
            return False
        self._seen = now
        return now is not None


async def join_again(
    scripts: AsyncScripts, event_id: str, share: AddressShare, sockets: Iterable[FanSocket]
) -> None:
    """Places each socket's fan in the restored sale (join.lua: a drawn fan's number back)."""
    # Lowest number first; pages that had none yet (buffered, waiting) last.
    ordered = sorted(sockets, key=lambda sock: (sock.number == 0, sock.number))
    for sock in ordered:
        sock.place_again(await join(scripts, event_id, sock.joiner, share))
    log.warning("sale %s was restored: %d open sockets joined again", event_id, len(ordered))
