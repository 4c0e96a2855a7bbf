"""A briefly kept read-only DuckDB instance per index, so reads cost microseconds.

Opening a DuckDB database costs about 12 ms here even for an empty file, far more
than a faceted search of a million rows. So a process keeps one read-only
connection per index while it is busy reading, and hands out cursors on it:

- it is dropped after ``IDLE`` seconds without use (the shared idle thread of
  :mod:`.idle` closes it),
  so the file lock never blocks writers in other processes for long;
- it is dropped when the index file (or its WAL) changed on disk, because a
  read-only instance does not see other processes' writes;
- it is dropped at once when a writer in another process is waiting: a writer that
  finds the index locked creates ``<index>.wait``; readers check for that file (one
  ``stat``) and stop caching until the writer removes it;
- a write in this process drops it first (DuckDB refuses read-write and read-only
  instances of one file in one process).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

from . import idle

IDLE = float(os.environ.get("VOXCAT_READ_IDLE", "1.0"))
ENABLED = os.environ.get("VOXCAT_READ_CACHE", "1") != "0"


def _stamp(path: Path) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    try:
        wal = os.stat(str(path) + ".wal")
        wal_stamp: tuple = (wal.st_mtime_ns, wal.st_size)
    except OSError:
        wal_stamp = ()
    return (st.st_mtime_ns, st.st_size, st.st_ino, wal_stamp)


def wait_flag(path: Path) -> Path:
    """The file a blocked writer creates to ask readers to let go."""
    return Path(str(path) + ".wait")


class _Anchor:
    def __init__(self, con: duckdb.DuckDBPyConnection, stamp: tuple | None) -> None:
        self.con, self.stamp = con, stamp
        self.users = 0
        self.retired = False  # forgotten while in use: the last user closes it
        self.last_used = time.monotonic()


_anchors: dict[Path, _Anchor] = {}
_lock = threading.Lock()


def _sweep() -> None:
    now = time.monotonic()
    with _lock:
        for path in [p for p, a in _anchors.items() if a.users == 0 and now - a.last_used >= IDLE]:
            _close(path)


def _close(path: Path) -> None:
    """Forget the anchor of ``path``; close it now, or when its last user is done."""
    a = _anchors.pop(path, None)
    if a is None:
        return
    if a.users == 0:
        with contextlib.suppress(Exception):
            a.con.close()
    else:
        a.retired = True


def drop(path: Path) -> None:
    """Close this process's cached read-only instance of ``path`` (before a write)."""
    with _lock:
        _close(path)


@atexit.register
def close_all() -> None:
    """Close every cached instance (at exit, so nothing is left for the GC to find)."""
    with _lock:
        for path in list(_anchors):
            _close(path)


def writer_waiting(path: Path, max_age: float = 120.0) -> bool:
    """A writer elsewhere is waiting for the lock (a flag older than ``max_age`` s is
    left over from a killed writer and ignored)."""
    try:
        return time.time() - os.stat(wait_flag(path)).st_mtime < max_age
    except OSError:
        return False


_thread = threading.local()
_openers: dict[Path, threading.Lock] = {}
#: the longest a reader waits for a writer in another process that asked for the file
WRITER_WAIT = 10.0


def _cursor(path: Path) -> tuple[_Anchor | None, Any]:
    """The cached instance of ``path`` and a cursor on it, if it shows the file as it
    is now; ``(None, None)`` otherwise (a stale one is let go of)."""
    stamp = _stamp(path)
    with _lock:
        a = _anchors.get(path)
        if a is not None and a.stamp != stamp:
            _close(path)
            a = None
        if a is None:
            return None, None
        a.users += 1
        return a, a.con.cursor()


def _opening(path: Path) -> threading.Lock:
    with _lock:
        return _openers.setdefault(path, threading.Lock())


def _wait_for_writer(path: Path) -> None:
    """Wait (at most :data:`WRITER_WAIT` s) until the writer that asked for ``path``
    has taken it (it removes the flag then; this reader then waits for its lock)."""
    deadline = time.monotonic() + WRITER_WAIT
    while writer_waiting(path) and time.monotonic() < deadline:
        time.sleep(0.005)


def reading_stamp(path: Path) -> tuple | None:
    """The stamp of ``path`` when the read-only instance this thread is reading it
    through was opened (what it shows: the index at that stamp, or later), or ``None``
    outside :func:`cached_read`."""
    return getattr(_thread, "stamps", {}).get(path)


@contextlib.contextmanager
def _reading_at(path: Path, stamp: tuple | None) -> Iterator[None]:
    stamps = _thread.__dict__.setdefault("stamps", {})
    before = stamps.get(path)
    stamps[path] = stamp
    try:
        yield
    finally:
        if before is None:
            stamps.pop(path, None)
        else:
            stamps[path] = before


@contextlib.contextmanager
def cached_read(
    path: Path, opener: Callable[[], duckdb.DuckDBPyConnection]
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the cached read-only instance of ``path`` (opened by ``opener``)."""
    if ENABLED and writer_waiting(path):
        # let the writer in, and wait for it here rather than open an instance of our
        # own for every read meanwhile (each would take the file's read lock again)
        drop(path)
        _wait_for_writer(path)
    if not ENABLED or writer_waiting(path):
        drop(path)
        stamp = _stamp(path)
        con = opener()
        try:
            with _reading_at(path, stamp):
                yield con
        finally:
            con.close()
        return
    a, cursor = _cursor(path)
    if a is None:
        # one thread opens it, the others reading this index wait for that; opened
        # outside the global lock: the opener may wait for another process's write
        # lock, and no thread reading another index may be held up by that wait
        with _opening(path):
            a, cursor = _cursor(path)
            if a is None:
                stamp = _stamp(path)  # before: what it shows is this state or later
                fresh = _Anchor(opener(), stamp)
                with _lock:
                    old = _anchors.get(path)
                    if old is not None:
                        _close(path)
                    a = fresh
                    _anchors[path] = a
                    idle.register(_sweep)
                    a.users += 1
                    cursor = a.con.cursor()
    try:
        with _reading_at(path, a.stamp):
            yield cursor
    finally:
        cursor.close()
        with _lock:
            a.users -= 1
            a.last_used = time.monotonic()
            if a.retired and a.users == 0:
                with contextlib.suppress(Exception):
                    a.con.close()
