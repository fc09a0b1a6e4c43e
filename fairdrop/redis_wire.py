"""The asyncio Redis connection of the web processes, with a cheaper command packer,
and the pipelining of the event scripts they call.

Every event script is called with its 22 KEYS (queue_engine/keys.py), so an
EVALSHA has some 30 arguments. redis-py's ``pack_command`` adds each one to
the command by joining the whole buffer so far again (21 µs for a join's
EVALSHA, 15 µs this way with the keys already bytes, loadtests/RESULTS.md).
This packer writes the same bytes with one join. Commands with a large or memoryview argument,
which redis-py sends in pieces rather than copy, are left to redis-py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio
import redis.asyncio.connection
import redis.exceptions

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


class Autopipeline:
    """Commands asked for in one pass of the event loop, sent to Redis as one pipeline.

    A burst of fresh fans' joins reaches the web process many at a time: each
    request's handler runs up to its join.lua call in the same pass. Sent one
    by one, each call took a pooled connection, a write and a read system call
    and redis-py's retry and timing layers of its own: about a fifth of a
    join's web CPU (py-spy over the join bench, loadtests/RESULTS.md). Here the
    calls of one pass go out in one write and their answers are read together;
    a lone call goes as it did. Each call's answer, or its error, is its own
    (``raise_on_error=False``); a connection lost is redis-py's retry, as for a
    single command, and its error goes to every call of the batch. The scripts
    sent this way answer a repeat the same (fairdrop/connections.py LONE_RETRIES).
    Nothing waits for a batch to fill: a pass with one call sends one.

    A lone Redis only: a cluster pipeline splits by node and reloads no script.
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self._queued: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        # The sending tasks, held so that none is collected before it ends.
        self._sending: set[asyncio.Task[None]] = set()

    def execute(self, *args: Any) -> asyncio.Future[Any]:
        """The command's answer once it comes back, sent at the end of this pass."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._send_queued)
        self._queued.append((args, answer))
        return answer

    def _send_queued(self) -> None:
        batch, self._queued = self._queued, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]]) -> None:
        try:
            if len(batch) == 1:
                results = [await self._one(batch[0][0])]
            else:
                async with self.client.pipeline(transaction=False) as pipe:
                    for args, _ in batch:
                        pipe.execute_command(*args)
                    results = await pipe.execute(raise_on_error=False)
        except Exception as error:  # the connection's: every call of the batch failed
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(error)
            return
        except asyncio.CancelledError:  # the loop closing: nobody is left waiting long
            for _, answer in batch:
                answer.cancel()
            raise
        for (_, answer), result in zip(batch, results, strict=True):
            if answer.done():  # its caller gave up waiting (cancelled)
                continue
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)

    async def _one(self, args: tuple[Any, ...]) -> Any:
        try:
            return await self.client.execute_command(*args)  # type: ignore[no-untyped-call]
        except redis.exceptions.ResponseError as error:  # the command's own, as in a batch
            return error
