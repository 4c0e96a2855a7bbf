"""Keeping the snapshot current: bulk writers rebuild it at their end, other writes
start a detached refresher process, one per index at a time.

The refresher holds an exclusive ``fcntl.flock`` on ``lab.voxcat/listing.arrow.lock``
while it works. The kernel lets go of that lock when its holder exits or is killed,
so a killed refresher never keeps the next one out (a lock file judged by its age
did, for minutes). A holder removes the file before it unlocks it, and a taker checks
that the file it locked is still the one at the path, so two processes never both
believe they hold it.

>>> with bulk_write("lab.duckdb"):         # doctest: +SKIP
...     many_writes()                      # one rebuild at the end, no refresher
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no background refresh there
    fcntl = None  # type: ignore[assignment]

from ...errors import ListingWarning
from .. import listing
from ..readcache import _stamp
from .format import LOCK_FILE

_deferred: dict[Path, int] = {}
_lock = threading.Lock()


@contextlib.contextmanager
def bulk_write(index: str | os.PathLike[str]) -> Iterator[None]:
    """Around a bulk writer (a scan, an import): its many writes start no background
    refresh; at the end the snapshot is rebuilt here, if the index is big enough or
    already had one.

    >>> with bulk_write("lab.duckdb"):     # doctest: +SKIP
    ...     import_rows()
    """
    source = Path(index).resolve()
    with _lock:
        _deferred[source] = _deferred.get(source, 0) + 1
    try:
        yield
    except BaseException:
        _undefer(source)
        written(source)  # what was written before the failure gets a snapshot later
        raise
    _undefer(source)
    if source not in _deferred:
        try:
            refresh(source)
        except Exception as exc:  # a speed-up must never fail a scan or an import
            warnings.warn(
                f"{listing.path_for(source)}: listing snapshot not written ({exc}); "
                "searches use DuckDB alone until it is",
                ListingWarning,
                stacklevel=3,
            )


def _undefer(source: Path) -> None:
    with _lock:
        _deferred[source] -= 1
        if not _deferred[source]:
            del _deferred[source]


def refresh(index: str | os.PathLike[str], *, force: bool = False, attempts: int = 3) -> bool:
    """Rebuild the snapshot if the index has one or holds at least
    :data:`~catalog.index.listing.MIN_ROWS` datasets (or ``force``); returns whether a
    current snapshot exists afterwards. An index too small for one loses a stale one.

    >>> refresh("lab.duckdb", force=True)  # doctest: +SKIP
    True
    """
    if not listing.ENABLED:
        return False
    source = Path(index).resolve()
    if not source.exists():
        return False
    dest = listing.path_for(source)
    if not (force or dest.exists() or listing.count_rows(source) >= listing.MIN_ROWS):
        return False
    for _ in range(attempts):
        if listing.current(source) is not None:
            return True
        if listing.build(source) is not None:
            return listing.current(source) is not None
        time.sleep(0.2)  # written to meanwhile: try again on the new state
    return False


def written(index: str | os.PathLike[str]) -> None:
    """Called after every read-write connection closes: an index with a snapshot gets
    a background refresh (outside bulk writers, which rebuild at their end).

    >>> written("lab.duckdb")              # doctest: +SKIP
    """
    if not listing.ENABLED:
        return
    source = Path(index).resolve()
    if source in _deferred or not listing.path_for(source).exists():
        return
    with contextlib.suppress(OSError):  # an unwritable cache folder: it stays stale
        listing._spawn_refresh(source)


def lock_path(index: str | os.PathLike[str]) -> Path:
    """The refresher's lock file of ``index`` (``lab.voxcat/listing.arrow.lock``).

    >>> lock_path("/data/lab.duckdb").name
    'listing.arrow.lock'
    """
    return listing.path_for(index).with_name(LOCK_FILE)


def try_lock(lock: Path) -> int | None:
    """Take the refresher lock: an exclusive ``flock`` on ``lock`` (created if
    missing); returns its descriptor, or ``None`` when another process holds it (or
    the platform has no ``flock``: then no background refresh runs).

    >>> fd = try_lock(lock_path("lab.duckdb"))   # doctest: +SKIP
    """
    if fcntl is None:  # pragma: no cover
        return None
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(10):
        fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        try:
            mine = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            mine = False
        if mine:
            return fd
        os.close(fd)  # its holder removed it between our open and flock: again
    return None


def unlock(fd: int, lock: Path) -> None:
    """Let go of a lock taken by :func:`try_lock`: the file is removed first, while
    still held, so nobody locks a removed file and believes they hold the lock."""
    with contextlib.suppress(OSError):
        lock.unlink()
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)  # explicit: a forked copy of fd must not keep it
    os.close(fd)


def _spawn_refresh(source: Path) -> subprocess.Popen | None:
    """Start ``python -m catalog.index.listing INDEX`` detached, holding the lock
    taken here (or nothing, when a refresher is running: it checks the index again
    before it stops); a thread reaps it. Returns the process."""
    lock = lock_path(source)
    fd = try_lock(lock)
    if fd is None:
        return None
    home = str(Path(__file__).resolve().parents[3])  # where ``catalog`` is imported from
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")])),
    }
    try:  # the lock is the child's now (the same open file): it lets go when done
        proc = subprocess.Popen(
            [sys.executable, "-m", "catalog.index.listing", str(source), "--lock-fd", str(fd)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(fd,),
            env=env,
        )
    except OSError:
        unlock(fd, lock)
        return None
    os.close(fd)  # not unlocked: the child's copy holds the lock
    threading.Thread(target=proc.wait, name="voxcat-listing-reaper", daemon=True).start()
    return proc


#: seconds a snapshot is kept per 10,000 of its rows before a rebuild (at most
#: :data:`REBUILD_MAX`): meanwhile searches use it with the overlay of what changed
#: (:mod:`.overlay`), and a lab's steady trickle of tags does not rebuild a big
#: snapshot (about 1 s of CPU per 100,000 rows) every second
REBUILD_PER_10K = float(os.environ.get("VOXCAT_LISTING_REBUILD_PER_10K", "1.0"))
REBUILD_MAX = 30.0


def _until_due(source: Path) -> float:
    """Seconds until the snapshot of ``source`` is old enough to be rebuilt."""
    snap = listing.load.mapped(source)
    if snap is None:
        return 0.0
    try:
        age = time.time() - listing.path_for(source).stat().st_mtime
    except OSError:
        return 0.0
    due = min(REBUILD_MAX, snap.rows / 10_000 * REBUILD_PER_10K)
    return max(0.0, due - age)


def _background(
    index: str, lock_fd: int | None = None, quiet: float = 0.5, rounds: int = 20
) -> int:
    """The refresher process: wait until the index has been unchanged for ``quiet``
    seconds and rebuild; again while writes keep coming (at most ``rounds`` times).
    One refresher per index at a time: it holds the lock (``lock_fd`` when the
    process that started it took it) while it works."""
    source = Path(index).resolve()
    lock = lock_path(source)
    for round_ in range(rounds):
        fd = lock_fd if round_ == 0 and lock_fd is not None else try_lock(lock)
        if fd is None:
            return 0  # another refresher is on it
        try:
            time.sleep(_until_due(source))
            stamp = _stamp(source)
            time.sleep(quiet)
            if stamp is not None and _stamp(source) == stamp and listing.current(source) is None:
                listing.build(source)
        finally:
            unlock(fd, lock)
        # checked after letting go of the lock: a write that came meanwhile found the
        # lock taken and started no refresher of its own
        if not source.exists():
            return 1
        if listing.current(source) is not None:
            return 0
    return 1
