"""Progress reports and cancellation of long operations (``scan``, ``export_catalog``).

``progress=`` is ``True`` (a tqdm bar), ``False`` (nothing), ``None`` (a bar when
the output is a terminal) or a callable that receives a :class:`Progress` (and then
no bar is drawn). ``cancel=`` is a ``threading.Event``, or anything with an
``is_set()`` method, checked between steps (batches of datasets, blocks of a copy,
chunks of a conversion): once it is set the operation stops at the next check as on
Ctrl-C, keeps what it finished and raises a :class:`~catalog.errors.Cancelled`.

>>> import threading
>>> seen: list[Progress] = []
>>> stop = threading.Event()
>>> report = scan("/data/drive", "lab.duckdb", progress=seen.append, cancel=stop)  # doctest: +SKIP
>>> seen[-1].phase, seen[-1].fraction                                             # doctest: +SKIP
('done', 1.0)
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .errors import Cancelled


class CancelFlag(Protocol):
    """What ``cancel=`` accepts: a ``threading.Event`` or anything like it."""

    def is_set(self) -> bool: ...


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a long operation is: ``done`` of ``total`` ``unit`` in its ``phase``, and
    ``items`` (datasets) of ``items_total``; ``extra`` holds what the operation adds
    (a scan's ``scan_id``). ``total`` is ``None`` while unknown (walking a tree).

    >>> p = Progress("reading", done=512, total=2048, items=1, items_total=4)
    >>> p.fraction
    0.25
    >>> p.to_dict()["phase"]
    'reading'
    """

    phase: str
    done: int = 0
    total: int | None = None
    items: int = 0
    items_total: int | None = None
    unit: str = "B"
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        """``done / total`` (``1.0`` when there was nothing to do), ``None`` if unknown."""
        if self.total is None:
            return None
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return {**dataclasses.asdict(self), "extra": dict(self.extra)}


ProgressCallback = Callable[[Progress], None]
#: what ``progress=`` accepts
ProgressArg = bool | None | ProgressCallback


def callback_of(progress: ProgressArg) -> ProgressCallback | None:
    """The callable given as ``progress=`` (``None`` for ``True``/``False``/``None``)."""
    if progress is None or isinstance(progress, bool):
        return None
    if not callable(progress):
        raise TypeError(
            f"progress must be True, False, None or a callable taking a Progress, "
            f"not {type(progress).__name__}"
        )
    return progress


def bar_of(progress: ProgressArg) -> bool | None:
    """What ``progress=`` says about a tqdm bar: ``False`` when a callable is given."""
    return False if callback_of(progress) is not None else progress  # type: ignore[return-value]


def is_cancelled(cancel: CancelFlag | None) -> bool:
    """Whether ``cancel`` (may be ``None``) is set."""
    return cancel is not None and bool(cancel.is_set())


def check(cancel: CancelFlag | None, error: type[Cancelled], message: str) -> None:
    """Raise ``error(message)`` if ``cancel`` is set: a checkpoint.

    >>> import threading
    >>> from catalog.errors import ScanCancelled
    >>> check(threading.Event(), ScanCancelled, "stopped")  # not set: nothing happens
    """
    if is_cancelled(cancel):
        raise error(message)


class Reporter:
    """Calls a progress callback at most every ``seconds`` (a new phase, and
    ``force=True``, always go through); safe to call from several threads. An error
    raised by the callback stops the operation like any other.

    >>> seen = []
    >>> r = Reporter(seen.append, seconds=60)
    >>> r(Progress("reading", 1, 10)); r(Progress("reading", 2, 10)); r(Progress("done", 10, 10))
    >>> [p.done for p in seen]
    [1, 10]
    """

    def __init__(self, callback: ProgressCallback | None, seconds: float = 0.1) -> None:
        self.callback, self.seconds = callback, seconds
        self.last: Progress | None = None
        self._sent = 0.0
        self._phase: str | None = None
        self._lock = threading.Lock()

    def wants(self, phase: str) -> bool:
        """Whether a report of ``phase`` would go through now (saves building one in a
        hot loop that the throttle would drop)."""
        return self.callback is not None and (
            phase != self._phase or time.monotonic() - self._sent >= self.seconds
        )

    def __call__(self, progress: Progress, force: bool = False) -> None:
        if self.callback is None:
            return
        with self._lock:
            self.last = progress
            now = time.monotonic()
            if not force and progress.phase == self._phase and now - self._sent < self.seconds:
                return
            self._sent, self._phase = now, progress.phase
            self.callback(progress)

    def flush(self) -> None:
        """Send the last progress held back by the throttle."""
        if self.last is not None:
            self(self.last, force=True)
