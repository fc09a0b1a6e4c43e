"""One text to many sockets, without a task per socket, through public asyncio API only.

A send to a socket whose buffer has room completes without waiting: uvicorn
writes the frame to the transport at once, and ``send_text``'s coroutine
returns on its first step. So :func:`send_all` takes that first step itself
(``coroutine.send(None)``, the coroutine protocol) and only a send that has to
wait (a slow reader whose buffer is full) becomes a task: the coroutine, as
it stands, is handed to :func:`_resumed`, which the task awaits. Per-socket
tasks cost far more CPU than the sends: about 6-14 us a send against 1 us
here, where a whole broadcast costs about 25 us a socket (py-spy once found
task creation and ``wait_for`` a third of a broadcast).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator, Iterable
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

SEND_TIMEOUT_S = 5.0
# The loop keeps only weak references to tasks.
_STALLED_SENDS: set[asyncio.Task[None]] = set()


def send_all(pairs: Iterable[tuple[WebSocket, str]]) -> None:
    """Sends each text to its socket, one after another; a gone client is skipped."""
    for ws, text in pairs:
        if ws.client_state != WebSocketState.CONNECTED:
            continue
        sending = ws.send_text(text)
        try:
            waiting_on = sending.send(None)
        except StopIteration:
            continue
        except Exception:  # a gone client: its own handler cleans up
            continue
        task = asyncio.ensure_future(_finish_send(sending, waiting_on))
        _STALLED_SENDS.add(task)
        task.add_done_callback(_STALLED_SENDS.discard)


async def _finish_send(sending: Coroutine[Any, Any, None], waiting_on: object) -> None:
    """Finishes a send that had to wait; gives up after SEND_TIMEOUT_S."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await _resumed(sending, waiting_on)
    except Exception:  # a slow or gone client must not hold up the others
        pass
    finally:
        sending.close()  # a send given up on stops where it waits; a finished one is closed


@types.coroutine
def _resumed(
    sending: Coroutine[Any, Any, None], waiting_on: object
) -> Generator[object, None, None]:
    """Awaits a send whose first step waits on ``waiting_on``, from where it stands.

    ``waiting_on`` is what the send's coroutine yielded on that step, to be
    passed up to a task: a future (``await``-ing it marked it as waited on,
    so the task waits for it as if it had taken the step itself), or None (a
    bare yield: the task gives the loop one turn). Once the task wakes this,
    ``yield from`` resumes the send, and passes anything it waits on next,
    or a cancellation thrown in, through.
    """
    yield waiting_on
    yield from sending  # a native coroutine: types.coroutine allows it
