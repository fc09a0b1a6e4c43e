"""Named points where a worker stops, so a test or the demo can kill it there.

Off unless ``FAIRDROP_FAULT`` names a point, and only tests and the demo set
it, in the environment of the one worker process they mean to kill. The
worker then sleeps at that point, with the work before it done and the work
after it not, which is where a crash would leave it; the test kills it with
SIGKILL. It is read here, not in fairdrop/settings.py, on purpose: it is no
setting of the product, a deployment never sets it, and Settings.as_env would
hand it on to every process of a stack.

- ``pause_in_hold_batch``: hold.lua has run for every request of the batch,
  and no fan has been told its answer.
- ``pause_after_confirm``: confirm.lua has sold the hold's tickets, and its
  order is not yet written.
"""

from __future__ import annotations

import logging
import os
import time

PAUSE_IN_HOLD_BATCH = "pause_in_hold_batch"
PAUSE_AFTER_CONFIRM = "pause_after_confirm"
FAULTS = (PAUSE_IN_HOLD_BATCH, PAUSE_AFTER_CONFIRM)
# Far longer than any test waits before it kills the worker.
PAUSE_S = 600.0

log = logging.getLogger("fairdrop.faults")


FAULT_ENV = "FAIRDROP_FAULT"


def fault_point(name: str) -> None:
    """Sleeps here when FAIRDROP_FAULT names this point; returns at once otherwise."""
    if os.environ.get(FAULT_ENV, "") != name:
        return
    log.warning("fault point %s reached: pausing for %.0f s", name, PAUSE_S)
    time.sleep(PAUSE_S)
