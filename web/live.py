"""Live fan sockets: one Redis subscription per event per process, fanned out.

Every web process holds at most one pub/sub subscription per event (a
:class:`~web.rooms.Room`). The clock publishes one ``progress`` message per
change (and a heartbeat); the room encodes it once and sends the same
``progress`` text to every socket, and the page works out its own "ahead" and
wait from its number. A socket gets its own full ``status`` only when its
place changes (its state, its number after the draw, its admission and token,
its hold): on connect, in the step that changes it (before that step's
``progress``, so the page never sees a serving counter past its number
without its admission), and after each message with a ``fan`` field (hold
results, orders), which goes to that fan's sockets only. Nothing here polls
Redis per fan. The messages are fairdrop/protocol.py's.

- web/places.py: a socket's place and the state its page shows;
- web/rooms.py: the room, its subscription and what it sends when;
- web/sending.py: one text to many sockets without a task per socket;
- here: the hub, this process's rooms.
"""

from __future__ import annotations

import asyncio

import redis

from buffer.arrivals import NO_SHARE, AddressShare
from fairdrop.connections import AsyncSaleRedis
from fairdrop.tokens import Signer
from queue_engine.scripts import AsyncScripts
from web.rooms import Room, RoomServices


class LiveHub:
    """This process's rooms, created on the first socket of an event."""

    def __init__(
        self,
        client: AsyncSaleRedis,
        scripts: AsyncScripts,
        signer: Signer,
        share: AddressShare = NO_SHARE,
    ) -> None:
        # Each address's share of new anonymous entrants (web/rate_limits.py).
        self.services = RoomServices(client, scripts, signer, share)
        self.rooms: dict[str, Room] = {}
        self._lock = asyncio.Lock()

    async def room_for(self, event_id: str) -> Room:
        room = self.rooms.get(event_id)
        if room is not None:
            return room
        async with self._lock:
            room = self.rooms.get(event_id)
            if room is None:
                room = await self._started_room(event_id)
                self.rooms[event_id] = room
        return room

    async def _started_room(self, event_id: str) -> Room:
        """A room once subscribed; with Redis out of reach a redis-py error
        (the socket is closed with 4503: web/unavailable.py), and no room left
        behind trying to subscribe for nobody."""
        room = Room(self.services, event_id)
        try:
            await room.start()
        except TimeoutError:
            await room.stop()
            raise redis.TimeoutError(f"no subscription to sale {event_id} in time") from None
        except BaseException:
            await room.stop()
            raise
        return room

    def socket_count(self) -> int:
        return sum(len(r.sockets) for r in self.rooms.values())

    async def close(self) -> None:
        for room in self.rooms.values():
            await room.stop()
        self.rooms.clear()
