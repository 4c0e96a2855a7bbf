"""Deferred calls for widgets: on the kernel's event loop when one runs, else a thread.

In a Jupyter kernel, widget callbacks run on the main thread's asyncio loop, so a
``call_later`` there runs the deferred work on the same thread as every other widget
callback (no locking needed). Outside a kernel (scripts, tests) a daemon timer thread
does it.

>>> d = Debouncer(0.3, lambda: print("query"))
>>> d.trigger(); d.trigger(); d.flush()       # one query, not two
query
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Protocol


class Handle(Protocol):
    def cancel(self) -> None: ...


def call_later(delay: float, fn: Callable[[], None]) -> Handle:
    """Run ``fn`` after ``delay`` seconds without blocking; returns a cancellable handle."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        timer = threading.Timer(delay, fn)
        timer.daemon = True
        timer.start()
        return timer
    return loop.call_later(delay, fn)


class Debouncer:
    """Calls ``fn`` once, ``delay`` seconds after the last :meth:`trigger`.

    ``delay=0`` calls at once (handy in tests and scripts); :meth:`flush` runs a
    pending call now.
    """

    def __init__(self, delay: float, fn: Callable[[], None]) -> None:
        self.delay = float(delay)
        self._fn = fn
        self._handle: Handle | None = None
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        """Whether a call is waiting for its delay to pass."""
        return self._handle is not None

    def trigger(self) -> None:
        """Ask for a call; calls asked for within ``delay`` of each other merge."""
        if self.delay <= 0:
            self._fn()
            return
        with self._lock:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = call_later(self.delay, self._fire)

    def _fire(self) -> None:
        with self._lock:
            if self._handle is None:
                return
            self._handle = None
        self._fn()

    def flush(self) -> None:
        """Run the pending call now (nothing happens if none is pending)."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
            self._fn()

    def cancel(self) -> None:
        """Drop the pending call."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
