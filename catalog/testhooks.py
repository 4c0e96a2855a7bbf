"""Named pause points for crash tests: with ``VOXCAT_PAUSE_AT=<step>`` (or
``<step>#<n>``: the n-th time the step is reached) the process writes
``voxcat: paused at <step>`` to stderr and sleeps, so a test can kill it there with a
real signal and check what the next run makes of what it left. Without the variable a
pause point costs one dictionary lookup.

>>> pause("save.written")  # does nothing unless VOXCAT_PAUSE_AT names it
"""

from __future__ import annotations

import os
import sys
import threading
import time

_COUNTS: dict[str, int] = {}
_LOCK = threading.Lock()


def pause(step: str) -> None:
    """Sleep here (up to ``$VOXCAT_PAUSE_SECONDS``, default 600) if asked to."""
    wanted = os.environ.get("VOXCAT_PAUSE_AT")
    if not wanted:
        return
    name, _, nth = wanted.partition("#")
    if name != step:
        return
    with _LOCK:
        _COUNTS[step] = count = _COUNTS.get(step, 0) + 1
    if count != int(nth or 1):
        return
    sys.stderr.write(f"voxcat: paused at {step}\n")
    sys.stderr.flush()
    time.sleep(float(os.environ.get("VOXCAT_PAUSE_SECONDS", "600")))
