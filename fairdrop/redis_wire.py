"""The asyncio Redis connection of the web processes, with a cheaper command packer.

Every event script is called with its 22 KEYS (queue_engine/keys.py), so an
EVALSHA has some 30 arguments. redis-py's ``pack_command`` adds each one to
the command by joining the whole buffer so far again (21 µs for a join's
EVALSHA, 15 µs this way with the keys already bytes, loadtests/RESULTS.md).
This packer writes the same bytes with one join. Commands with a large or memoryview argument,
which redis-py sends in pieces rather than copy, are left to redis-py.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio.connection

# redis-py's own cut-off, past which it sends an argument as a piece of its own.
_CUTOFF = 6000


class OneJoinConnection(redis.asyncio.connection.Connection):
    """A plain TCP connection to Redis whose commands are packed in one join."""

    def pack_command(self, *args: Any) -> list[bytes]:
        command = args[0]
        # As redis-py: a command name of several words (``CONFIG GET``) is several arguments.
        if isinstance(command, str):
            args = (*command.encode().split(), *args[1:])
        elif b" " in command:
            args = (*command.split(), *args[1:])
        encoded = list(map(self.encoder.encode, args))
        if any(isinstance(arg, memoryview) or len(arg) > _CUTOFF for arg in encoded):
            return super().pack_command(*args)
        pieces = [b"$%d\r\n%b\r\n" % (len(arg), arg) for arg in encoded]
        return [b"*%d\r\n%b" % (len(encoded), b"".join(pieces))]
