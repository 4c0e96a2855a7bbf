"""One background thread per process that lets go of what sits idle.

The read cache (a DuckDB instance per index, :mod:`.readcache`) and the listing
snapshot (a mapping per index, :mod:`.listing`) are both kept while in use and let go
of after ``VOXCAT_READ_IDLE`` seconds (``readcache.IDLE``) without use. Each registers
a *sweep* (a function that drops what has been idle that long); one daemon thread,
started by the first registration, calls every sweep each half ``IDLE``.

The thread holds nothing but the sweep functions between sweeps: a daemon thread's
frame outlives interpreter shutdown, and an object it referenced would be reported as
leaked.

>>> register(lambda: None)                 # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

_sweeps: list[Callable[[], None]] = []
_lock = threading.Lock()
_thread: threading.Thread | None = None


def register(sweep: Callable[[], None]) -> None:
    """Have ``sweep`` called every half ``readcache.IDLE`` seconds from now on (once,
    however often it is registered); starts the thread on first use.

    >>> register(print)                    # doctest: +SKIP
    """
    global _thread
    with _lock:
        if sweep not in _sweeps:
            _sweeps.append(sweep)
        if _thread is None:
            _thread = threading.Thread(target=_run, name="voxcat-idle", daemon=True)
            _thread.start()


def _period() -> float:
    from . import readcache  # read each time: tests and benchmarks change it

    return readcache.IDLE / 2


def _run() -> None:
    while True:
        time.sleep(_period())
        with _lock:
            sweeps = list(_sweeps)
        for sweep in sweeps:
            try:
                sweep()
            except Exception:  # pragma: no cover - a sweep must not stop the others
                continue
