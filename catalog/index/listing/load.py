"""Mapping the snapshot: one :class:`~.format.Listing` per index per process, kept while
the index is unchanged and in use, let go of after ``VOXCAT_READ_IDLE`` seconds idle
(by the shared thread of :mod:`catalog.index.idle`).

>>> current("lab.duckdb")                  # doctest: +SKIP
<catalog.index.listing.format.Listing object at ...>
"""

from __future__ import annotations

import mmap
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .. import idle, listing, readcache
from ..readcache import _stamp
from .format import (
    COLUMNS,
    FORMAT_VERSION,
    HASH_COLUMN,
    TERMS_FILE,
    Listing,
    _word_index,
    decode_stamp,
)

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

_loaded: dict[Path, Listing] = {}
_used: dict[Path, float] = {}  # when each was last asked for
_files: dict[Path, tuple] = {}  # the identity of the file each was mapped from
_lock = threading.Lock()


def current(index: str | os.PathLike[str]) -> Listing | None:
    """The snapshot of ``index`` if one matches its present state, else ``None``.

    Mapped once per process and kept while it is in use (a few stat calls per use);
    after ``VOXCAT_READ_IDLE`` seconds without use it is let go of, like the cached
    DuckDB instance, so an idle catalogue holds none of its pages. (:func:`mapped`
    gives it whatever state it was built from; a search then asks
    :func:`catalog.index.listing.overlay.changes` what changed since.)

    >>> current("lab.duckdb").rows         # doctest: +SKIP
    1000000
    """
    if not listing.ENABLED:
        return None
    source = Path(index).resolve()
    stamp = _stamp(source)
    snap = mapped(source)
    return snap if snap is not None and stamp is not None and snap.stamp == stamp else None


def mapped(index: str | os.PathLike[str]) -> Listing | None:
    """The snapshot file of ``index`` as it is on disk, whatever index state it was
    built from (its ``stamp``); ``None`` when there is none (or it is unreadable, or of
    another format). Mapped again only when the file was replaced.

    >>> mapped("lab.duckdb").stamp == current_stamp   # doctest: +SKIP
    False
    """
    if not listing.ENABLED:
        return None
    source = Path(index).resolve()
    try:
        st = os.stat(listing.path_for(source))
        identity = (st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        identity = None
    with _lock:
        have = _loaded.get(source)
        if have is not None and identity is not None and _files.get(source) == identity:
            _used[source] = time.monotonic()
            return have
        _loaded.pop(source, None)
        _used.pop(source, None)
        _files.pop(source, None)
    if identity is None:
        return None
    snap = _load(source)
    if snap is not None:
        with _lock:
            _loaded[source] = snap
            _files[source] = identity
            _used[source] = time.monotonic()
        idle.register(_sweep)
    return snap


def _sweep() -> None:
    """Let go of the snapshots unused for ``readcache.IDLE`` seconds."""
    now = time.monotonic()
    with _lock:
        for source in [s for s, t in _used.items() if now - t >= readcache.IDLE]:
            _loaded.pop(source, None)
            _used.pop(source, None)
            _files.pop(source, None)


def _load(source: Path) -> Listing | None:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    path = listing.path_for(source)
    try:
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # missing, unreadable or empty
        return None
    try:
        reader = ipc.open_file(pa.BufferReader(pa.py_buffer(mapped)))
        meta = reader.schema.metadata or {}
        stamp = decode_stamp(meta.get(b"voxcat.stamp"))
        if (
            meta.get(b"voxcat.version") != FORMAT_VERSION.encode()
            or stamp is None
            or tuple(reader.schema.names) != (*COLUMNS, HASH_COLUMN)
        ):
            return None
        snap = Listing(reader.read_all(), stamp, source, _load_terms(source, stamp))
    except (pa.ArrowException, OSError, ValueError):  # truncated or foreign file
        return None
    if sys.platform.startswith("linux"):
        threading.Thread(
            target=_populate, args=(mapped,), name="voxcat-listing-map", daemon=True
        ).start()
    return snap


def _load_terms(source: Path, stamp: tuple) -> pa.Table | None:
    """The word index built with the snapshot, mapped (not paged in: a lookup reads a
    few pages), or ``None`` when it is missing, broken or of another state."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        with open(listing.path_for(source).with_name(TERMS_FILE), "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        reader = ipc.open_file(pa.BufferReader(pa.py_buffer(mapped)))
        meta = reader.schema.metadata or {}
        if (
            meta.get(b"voxcat.version") != FORMAT_VERSION.encode()
            or decode_stamp(meta.get(b"voxcat.stamp")) != stamp
            or reader.schema.names != ["token", "rows"]
        ):
            return None
        table = reader.read_all()
        _word_index(table)  # checks its shape
        return table
    except (pa.ArrowException, OSError, ValueError):
        return None


MADV_POPULATE_READ = 22  # Linux >= 5.14; Python 3.11's mmap module lacks the name


def _populate(mapped: mmap.mmap, step: int = 1 << 20) -> None:
    """Map every page of the snapshot (from the page cache) in the background, a MB
    at a time, so searches do not pay a page fault per row they touch (``madvise``
    holds the GIL: the pause between steps lets searches run)."""
    for start in range(0, len(mapped), step):
        try:
            mapped.madvise(MADV_POPULATE_READ, start, min(step, len(mapped) - start))
        except (OSError, ValueError):  # an older kernel, or the mapping is gone
            return
        time.sleep(0)
