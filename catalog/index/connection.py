"""Short-lived DuckDB connections with lock retry.

DuckDB lets one process hold a file read-write, or many hold it read-only, never
both. JupyterLab, notebook kernels and the CLI are separate processes, so voxcat never
keeps a connection between operations: every read or write batch opens the file, does
its work in one short transaction and closes it. A conflicting opener watches the lock
table (:mod:`~catalog.index.locks`) and tries again the moment the lock is let go
(with exponential backoff where the table cannot be read), and raises
:class:`~catalog.errors.IndexLockedError` after the timeout.

>>> with connect("lab.duckdb") as con:          # doctest: +SKIP
...     con.execute("SELECT count(*) FROM datasets").fetchone()
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from ..errors import DiskFullError, IndexLockedError, NotAnIndexError
from . import gate, listing, locks, readcache
from .schema import ensure_schema

#: an open index: what :func:`connect` and :func:`transaction` yield
Connection = duckdb.DuckDBPyConnection

DEFAULT_TIMEOUT = float(os.environ.get("VOXCAT_LOCK_TIMEOUT", "60"))
#: how often a blocked opener looks at the lock table (s)
POLL = 0.003
#: the longest a write waits for other processes before it holds up this one's reads
PRE_WAIT = 2.0
#: DuckDB settings every connection opens with (the value types ``duckdb.connect`` takes)
CONFIG: dict[str, str | bool | int | float | list[str]] = {}
_LOCK_WORDS = ("lock", "conflicting", "being used by another process")
#: how a full disk shows in errors: ``ENOSPC``/``EDQUOT`` from Python, their text from
#: DuckDB (``Could not write file "lab.duckdb.wal": No space left on device``)
_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
_FULL_WORDS = (os.strerror(errno.ENOSPC).lower(), "disk quota exceeded")


def default_index() -> Path:
    """``$VOXCAT_INDEX`` if set, else ``./voxcat.duckdb``."""
    return Path(os.environ.get("VOXCAT_INDEX") or "voxcat.duckdb")


def resolve_index(index: str | os.PathLike[str] | None) -> Path:
    """The index path to use for ``index`` (``None`` means the default)."""
    return Path(index).expanduser() if index is not None else default_index()


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException | duckdb.ConnectionException) and any(
        w in text for w in _LOCK_WORDS
    )


def _not_an_index(path: Path, why: str) -> str:
    return (
        f"{path} is not a voxcat index ({why}); give an index with --index (index= in "
        "Python), or a new file name to create one with `voxcat scan DIR --index FILE`"
    )


def _open(path: Path, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout
    delay = 0.005
    try:
        con = _retry(path, read_only, deadline, timeout, delay, flag=not read_only)
        if read_only:  # a writer creates the tables; a reader needs them (0.3 ms)
            try:
                con.execute("SELECT 1 FROM datasets LIMIT 0")
            except duckdb.CatalogException:
                con.close()
                why = "a DuckDB database without voxcat's tables"
                raise NotAnIndexError(_not_an_index(path, why)) from None
        return con
    finally:
        if not read_only:
            with contextlib.suppress(OSError):
                readcache.wait_flag(path).unlink()


def _retry(
    path: Path, read_only: bool, deadline: float, timeout: float, delay: float, flag: bool
) -> duckdb.DuckDBPyConnection:
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=CONFIG)
            # no progress bars on stdout from long queries (CLI and widgets show their own)
            con.execute("SET enable_progress_bar = false")
            return con
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if "not a valid duckdb database" in str(exc).lower():
                raise NotAnIndexError(_not_an_index(path, "not a DuckDB database file")) from None
            if not _is_lock_error(exc):
                raise
            if flag:  # ask readers in other processes to let go of their cached instance
                with contextlib.suppress(OSError):
                    readcache.wait_flag(path).touch()
            if time.monotonic() >= deadline:
                raise IndexLockedError(
                    f"{path}: the index is locked by another process (a scan, a notebook "
                    f"or JupyterLab) and stayed locked for {timeout:.0f} s; retry later or "
                    "raise VOXCAT_LOCK_TIMEOUT"
                ) from exc
            if _wait_unlocked(path, not read_only, deadline):
                continue  # let go of just now: try at once
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)


def _wait_unlocked(path: Path, write: bool, deadline: float) -> bool:
    """Wait until no other process's lock keeps this opener out of ``path``, watching
    the lock table every :data:`POLL` s; ``False`` when the table cannot be read here
    (the caller backs off instead) or the deadline passed."""
    while time.monotonic() < deadline:
        held = locks.conflicting(path, write=write)
        if held is None:
            return False
        if not held:
            return True
        time.sleep(POLL)
    return False


@contextlib.contextmanager
def connect(
    index: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    timeout: float | None = None,
    cached: bool = True,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the index for one operation, creating it (and its schema) if needed.

    Read-only opening of an index that does not exist yet raises ``FileNotFoundError``;
    read-only connections come from this process's short-lived cache of one instance
    per index unless ``cached=False`` (then the file is let go of at once). In one
    process, a write waits for the reads of the index in progress (:mod:`.gate`).
    """
    path = resolve_index(index)
    key = path.resolve()
    if not read_only:
        _await_other_processes(key, DEFAULT_TIMEOUT if timeout is None else timeout)
    gated = gate.shared(key) if read_only else gate.exclusive(key)
    with gated, _connect(path, read_only, timeout, cached) as con:
        yield con


def _await_other_processes(path: Path, timeout: float) -> None:
    """Before a write takes this process's gate (and so holds up its new reads), wait
    until no other process holds the file (a refresher building the listing snapshot,
    a scan between its batches), so this process's readers go on meanwhile. After
    :data:`PRE_WAIT` s (or ``timeout``) it goes ahead: opening then waits as before,
    asking the other processes' cached readers to let go (``readcache.wait_flag``)."""
    if not path.exists():
        return
    deadline = time.monotonic() + min(timeout, PRE_WAIT)
    while time.monotonic() < deadline:
        if not locks.conflicting(path, write=True, others_only=True):  # free, or unknown
            return
        time.sleep(POLL)


@contextlib.contextmanager
def _connect(
    path: Path, read_only: bool, timeout: float | None, cached: bool
) -> Iterator[duckdb.DuckDBPyConnection]:
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"{path}: no voxcat index here; run `voxcat scan DIR --index {path}`"
        )
    if read_only and not cached:
        readcache.drop(path.resolve())
        con = _open(path, True, timeout)
        try:
            yield con
        finally:
            con.close()
        return
    if read_only:
        key = path.resolve()
        with readcache.cached_read(key, lambda: _open(path, True, timeout)) as con:
            yield con
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    readcache.drop(path.resolve())
    con = _open(path, read_only, timeout)
    try:
        if not read_only:
            ensure_schema(con)
        yield con
    finally:
        con.close()
        listing.written(path)


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says a disk (or a quota) is full."""
    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    text = str(exc).lower()
    return isinstance(exc, duckdb.Error | OSError) and any(w in text for w in _FULL_WORDS)


def disk_full_cause(exc: BaseException, path: str | os.PathLike[str]) -> str:
    """``no space left on device writing PATH`` for a :func:`disk_full` error: the file
    a Python error names, else ``path``."""
    from ..paths import display

    if isinstance(exc, DiskFullError):
        return exc.cause
    text = str(exc).lower()
    cause = next((w for w in _FULL_WORDS if w in text), _FULL_WORDS[0])
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        cause = (exc.strerror or cause).lower()
        if exc.filename:
            path = exc.filename
    return f"{cause} writing {display(path)}"


@contextlib.contextmanager
def transaction(
    index: str | os.PathLike[str] | None = None, *, timeout: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-write connection inside one transaction, committed on success.

    A full disk raises :class:`~catalog.errors.DiskFullError` (nothing of the
    transaction is kept).
    """
    try:
        with connect(index, timeout=timeout) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # a failed write may have ended it
                    con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
    except (duckdb.Error, OSError) as exc:
        if isinstance(exc, DiskFullError) or not disk_full(exc):
            raise
        raise DiskFullError(
            disk_full_cause(exc, resolve_index(index)),
            "nothing was changed, free some space and run it again",
        ) from exc


def cache_dir(index: str | os.PathLike[str] | None = None) -> Path:
    """The folder next to the index for thumbnails and previews: ``lab.voxcat/``."""
    path = resolve_index(index)
    return path.with_name(path.stem + ".voxcat")
