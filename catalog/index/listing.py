"""The listing snapshot: the ``datasets`` columns a search lists, as one memory-mapped
Arrow file next to the index, so big catalogues list their matches fast.

DuckDB filters a million rows in 3-4 ms, but then decodes a compressed vector of
2,048 rows per column (and a whole string dictionary per segment) for every match it
returns: 10-30 ms for a listing of a few hundred scattered rows. The snapshot holds
the columns of ``cat.df`` plus ``kind`` and ``num``, uncompressed and in ``num``
order, in ``lab.voxcat/listing.arrow``; low-cardinality text columns are
dictionary-encoded (with their DuckDB-lower-cased values alongside), so a filter on
them compares small integer codes. Opening it maps the file (its pages come from the
page cache, mapped by a background pass) and copies nothing; a process lets go of it
after ``VOXCAT_READ_IDLE`` seconds without use, as of its DuckDB instance.

A snapshot is only ever used for the exact index state it was built from: it records
the index file's stamp (inode, size, modification time and those of its WAL) and is
ignored as soon as the index changes, so it can make a search faster but never change
its answer. Bulk writers (``scan``, ``import_table``) rebuild it at their end once an
index holds :data:`MIN_ROWS` datasets; any other write to an index that has one starts
a refresh in a background process (``python -m catalog.index.listing INDEX``), and
until that is done searches run on DuckDB alone. ``VOXCAT_LISTING=0`` turns it off.

>>> refresh("lab.duckdb")                  # doctest: +SKIP
>>> current("lab.duckdb").rows             # doctest: +SKIP
1000000
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import columns, readcache
from .readcache import _stamp

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

ENABLED = os.environ.get("VOXCAT_LISTING", "1") != "0"
#: indexes with fewer datasets get no snapshot from bulk writers (DuckDB alone lists
#: them in a millisecond or two)
MIN_ROWS = int(os.environ.get("VOXCAT_LISTING_MIN_ROWS", "10000"))
FORMAT_VERSION = "1"
FILE_NAME = "listing.arrow"
#: the word index: every token of the ``terms`` table (its first TOKEN_WIDTH bytes,
#: sorted) with the row positions of the datasets holding it
TERMS_FILE = "listing-terms.arrow"
TOKEN_WIDTH = 24

#: columns of the snapshot; ``tags`` is stored as ``coalesce(tags, [])`` (every
#: filter and facet treats a NULL list and an empty one alike)
COLUMNS = columns.names("listing")
#: text columns stored dictionary-encoded (few distinct values in any real index)
DICTIONARY = columns.names("dictionary")


def path_for(index: str | os.PathLike[str]) -> Path:
    """Where the snapshot of ``index`` lives (``lab.voxcat/listing.arrow``)."""
    from .connection import cache_dir

    return cache_dir(index) / FILE_NAME


class Listing:
    """A loaded snapshot: the Arrow table plus numpy views of what filters use.

    ``codes(col)`` are the dictionary codes of a dictionary column, ``values(col)`` its
    distinct values (NULL among them, as ``None``) and ``lowered(col)`` those values
    passed through DuckDB's ``lower``; ``num`` is sorted, so a row's position is found by
    binary search.
    """

    def __init__(
        self, table: pa.Table, stamp: tuple, source: Path, terms: pa.Table | None = None
    ) -> None:
        self.table = table
        self.stamp = stamp
        self.source = source
        self.rows = table.num_rows
        self.num = _numpy(table["num"])
        self.terms = None if terms is None else _word_index(terms)
        self._cache: dict[str, Any] = {}  # worked out on first use: loading stays cheap

    def codes(self, name: str) -> np.ndarray:
        """The dictionary codes of a dictionary column, one per row (mapped)."""
        key = name + "/codes"
        if key not in self._cache:
            self._cache[key] = self._dictionary(name).indices.to_numpy(zero_copy_only=False)
        return self._cache[key]

    def values(self, name: str) -> list[str | None]:
        """The distinct values of a dictionary column (NULL among them as ``None``)."""
        key = name + "/values"
        if key not in self._cache:
            self._cache[key] = self._dictionary(name).dictionary.to_pylist()
        return self._cache[key]

    def lowered(self, name: str) -> np.ndarray:
        """Those values passed through DuckDB's ``lower`` (an object array)."""
        key = name + "/lowered"
        if key not in self._cache:
            found = self._all_lowered().get(name, [])
            self._cache[key] = np.asarray(found, dtype=object)
        return self._cache[key]

    def _dictionary(self, name: str) -> pa.DictionaryArray:
        col = self.table[name]
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()

    def _all_lowered(self) -> dict[str, list[str | None]]:
        if "lowered" not in self._cache:
            meta = self.table.schema.metadata or {}
            self._cache["lowered"] = json.loads(meta.get(b"voxcat.lowered", b"{}"))
        return self._cache["lowered"]

    def column(self, name: str) -> np.ndarray:
        """A numeric or time column as numpy, mapped, not copied (NULL slots hold
        anything: see :meth:`valid`)."""
        if name not in self._cache:
            self._cache[name] = _numpy(self.table[name])
        return self._cache[name]

    def valid(self, name: str) -> np.ndarray | None:
        """Boolean mask of non-NULL rows of a column, ``None`` when it has no NULL."""
        key = name + "/valid"
        if key not in self._cache:
            col = self.table[name]
            if col.null_count == 0:
                self._cache[key] = None
            else:
                import pyarrow.compute as pc

                self._cache[key] = _numpy(pc.is_valid(col))
        return self._cache[key]

    def has_nan(self, name: str) -> bool:
        """Whether a float column holds NaN (DuckDB orders and compares NaN as the
        largest number, numpy does not: such columns are filtered by DuckDB)."""
        key = name + "/nan"
        if key not in self._cache:
            arr, valid = self.column(name), self.valid(name)
            nan = arr.dtype.kind == "f" and bool(
                np.isnan(arr).any() if valid is None else (np.isnan(arr) & valid).any()
            )
            self._cache[key] = nan
        return self._cache[key]

    def positions(self, nums: Any, *, strict: bool = True) -> np.ndarray:
        """Row positions of dataset ``num`` values, sorted. A value not in the snapshot
        raises :class:`Stale` (the index changed under it), or is left out when not
        ``strict`` (the terms index keeps the words of rewritten rows until its next
        rebuild: they match no dataset)."""
        nums = np.unique(np.asarray(nums, dtype=np.int64))
        if strict:
            return self.locate(nums)
        pos = np.minimum(np.searchsorted(self.num, nums), max(self.rows - 1, 0))
        return pos[self.num[pos] == nums] if self.rows else pos[:0]

    def frequencies(self, name: str) -> np.ndarray:
        """How many rows hold each code of a dictionary column."""
        key = name + "/freq"
        if key not in self._cache:
            self._cache[key] = np.bincount(self.codes(name), minlength=len(self.values(name)))
        return self._cache[key]

    def locate(self, nums: Any) -> np.ndarray:
        """Row positions of ``num`` values in the order given (:class:`Stale` if one is
        missing)."""
        nums = np.asarray(nums, dtype=np.int64)
        pos = np.searchsorted(self.num, nums)
        pos[pos >= self.rows] = 0
        if len(pos) and not np.array_equal(self.num[pos], nums):
            raise Stale(f"{self.source}: a dataset is missing from the listing snapshot")
        return pos

    def fresh(self) -> bool:
        """Whether the index is still exactly the state this snapshot was built from."""
        return _stamp(self.source) == self.stamp

    def word_rows(self, pieces: list[str]) -> np.ndarray | None:
        """Sorted positions of the rows holding, for every piece, a word that starts
        with it (as the ``terms`` lookups of text search); ``None`` when the word index
        cannot say (none was built, or a piece is longer than :data:`TOKEN_WIDTH`
        bytes), so DuckDB looks the words up."""
        if self.terms is None or not pieces:
            return None
        tokens, starts, rows = self.terms
        found: np.ndarray | None = None
        for piece in pieces:
            key = piece.encode()
            if len(key) > TOKEN_WIDTH:
                return None
            lo = int(np.searchsorted(tokens, np.bytes_(key), "left"))
            hi = int(np.searchsorted(tokens, np.bytes_(key.ljust(TOKEN_WIDTH, b"\xff")), "right"))
            hit = rows[starts[lo] : starts[hi]]
            if hi - lo > 1:  # several words start with it
                hit = np.unique(hit)
            if found is None:
                found = hit
            else:
                keep = np.zeros(self.rows, bool)
                keep[found] = True
                found = hit[keep[hit]]
            if not len(found):
                break
        return found


def _word_index(terms: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tokens, starts, rows)``: numpy views of the mapped word index; the rows of
    token ``i`` are ``rows[starts[i]:starts[i + 1]]``, sorted."""
    if terms.num_rows == 0:
        return np.zeros(0, f"S{TOKEN_WIDTH}"), np.zeros(1, np.int32), np.zeros(0, np.int32)
    if terms["token"].num_chunks != 1 or terms["rows"].num_chunks != 1:
        raise ValueError("a word index in more than one piece")
    tokens, lists = terms["token"].chunk(0), terms["rows"].chunk(0)
    n = len(tokens)
    keys = np.frombuffer(
        tokens.buffers()[1], dtype=f"S{TOKEN_WIDTH}", count=n, offset=tokens.offset * TOKEN_WIDTH
    )
    starts = np.frombuffer(
        lists.buffers()[1], dtype=np.int32, count=n + 1, offset=lists.offset * 4
    )
    rows = np.frombuffer(
        lists.values.buffers()[1],
        dtype=np.int32,
        count=len(lists.values),
        offset=lists.values.offset * 4,
    )
    return keys, starts, rows


class Stale(Exception):
    """The snapshot does not match the index any more (a search then uses DuckDB)."""


def _numpy(col: Any) -> np.ndarray:
    """A fixed-width column as a numpy view of its mapped values (no copy; what NULL
    slots hold is undefined: see :meth:`Listing.valid`)."""
    import pyarrow as pa

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_boolean(col.type):  # bit-packed
        return col.to_numpy(zero_copy_only=False)
    if pa.types.is_timestamp(col.type):
        dtype = np.dtype(f"datetime64[{col.type.unit}]")
    else:
        dtype = np.dtype(col.type.to_pandas_dtype())
    return np.frombuffer(
        col.buffers()[1], dtype=dtype, count=len(col), offset=col.offset * dtype.itemsize
    )


# -- loading ----------------------------------------------------------------------------

_loaded: dict[Path, Listing] = {}
_used: dict[Path, float] = {}  # when each was last asked for
_lock = threading.Lock()
_reaper: threading.Thread | None = None


def current(index: str | os.PathLike[str]) -> Listing | None:
    """The snapshot of ``index`` if one matches its present state, else ``None``.

    Mapped once per process and kept while the index is unchanged and in use (a few
    stat calls per use); after ``VOXCAT_READ_IDLE`` seconds without use it is let go
    of, like the cached DuckDB instance, so an idle catalogue holds none of its pages.
    """
    global _reaper
    if not ENABLED:
        return None
    source = Path(index).resolve()
    stamp = _stamp(source)
    if stamp is None:
        return None
    with _lock:
        have = _loaded.get(source)
        if have is not None and have.stamp == stamp:
            _used[source] = time.monotonic()
            return have
        _loaded.pop(source, None)
        _used.pop(source, None)
    listing = _load(source, stamp)
    if listing is not None:
        with _lock:
            _loaded[source] = listing
            _used[source] = time.monotonic()
            if _reaper is None:
                _reaper = threading.Thread(target=_reap, name="voxcat-listing", daemon=True)
                _reaper.start()
    return listing


def _reap() -> None:
    while True:  # holds no snapshot between sweeps
        time.sleep(readcache.IDLE / 2)
        now = time.monotonic()
        with _lock:
            for source in [s for s, t in _used.items() if now - t >= readcache.IDLE]:
                _loaded.pop(source, None)
                _used.pop(source, None)


def _load(source: Path, stamp: tuple) -> Listing | None:
    import pyarrow as pa
    import pyarrow.ipc as ipc

    path = path_for(source)
    try:
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # missing, unreadable or empty
        return None
    try:
        reader = ipc.open_file(pa.BufferReader(pa.py_buffer(mapped)))
        meta = reader.schema.metadata or {}
        if (
            meta.get(b"voxcat.version") != FORMAT_VERSION.encode()
            or _decode_stamp(meta.get(b"voxcat.stamp")) != stamp
            or tuple(reader.schema.names) != COLUMNS
        ):
            return None
        listing = Listing(reader.read_all(), stamp, source, _load_terms(source, stamp))
    except (pa.ArrowException, OSError, ValueError):  # truncated or foreign file
        return None
    if sys.platform.startswith("linux"):
        threading.Thread(
            target=_populate, args=(mapped,), name="voxcat-listing-map", daemon=True
        ).start()
    return listing


def _load_terms(source: Path, stamp: tuple) -> pa.Table | None:
    """The word index built with the snapshot, mapped (not paged in: a lookup reads a
    few pages), or ``None`` when it is missing, broken or of another state."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        with open(path_for(source).with_name(TERMS_FILE), "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        reader = ipc.open_file(pa.BufferReader(pa.py_buffer(mapped)))
        meta = reader.schema.metadata or {}
        if (
            meta.get(b"voxcat.version") != FORMAT_VERSION.encode()
            or _decode_stamp(meta.get(b"voxcat.stamp")) != stamp
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


def _decode_stamp(raw: bytes | None) -> tuple | None:
    if raw is None:
        return None
    try:
        st = json.loads(raw)
        return (st[0], st[1], st[2], tuple(st[3]))
    except (ValueError, TypeError, IndexError, KeyError):  # not written by build()
        return None


# -- building ---------------------------------------------------------------------------


def build(index: str | os.PathLike[str]) -> Path | None:
    """Write the snapshot of ``index`` as it is now; returns its path, or ``None`` when
    the index changed while it was read (nothing is written then).

    >>> build("lab.duckdb")                    # doctest: +SKIP
    PosixPath('lab.voxcat/listing.arrow')
    """
    import pyarrow as pa

    from .connection import connect

    source = Path(index).resolve()
    before = _stamp(source)
    cols = ", ".join("coalesce(tags, []) AS tags" if c == "tags" else c for c in COLUMNS)
    with connect(source, read_only=True, cached=False) as con:
        table = con.sql(f"SELECT {cols} FROM datasets ORDER BY num").to_arrow_table()
        arrays, lowered = [], {}
        for name in COLUMNS:
            col = table[name]
            col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
            if name in DICTIONARY:
                col = _small_codes(col.dictionary_encode(null_encoding="encode"))
                values = col.dictionary.to_pylist()
                lowered[name] = con.execute(
                    "SELECT list_transform(?::VARCHAR[], lambda v: lower(v))", [values]
                ).fetchall()[0][0]
            arrays.append(col)
        # the word index: rows of stale terms (rewritten datasets) are dropped by the join
        words = con.sql(
            "SELECT t.token, list(p.pos ORDER BY p.pos) AS rows FROM terms t JOIN "
            "(SELECT num, (row_number() OVER (ORDER BY num) - 1)::INTEGER AS pos "
            "FROM datasets) p USING (num) GROUP BY t.token ORDER BY t.token"
        ).to_arrow_table()
    if _stamp(source) != before or before is None:
        return None
    stamp = {"voxcat.version": FORMAT_VERSION, "voxcat.stamp": json.dumps(before)}
    dest = path_for(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _write(dest.with_name(TERMS_FILE), _fixed_tokens(words).replace_schema_metadata(stamp))
    out = pa.table(arrays, names=list(COLUMNS))
    _write(dest, out.replace_schema_metadata({**stamp, "voxcat.lowered": json.dumps(lowered)}))
    return dest


def _write(dest: Path, table: pa.Table) -> None:
    """Write an Arrow IPC file whole, or not at all (a temporary file renamed)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _fixed_tokens(words: pa.Table) -> pa.Table:
    """``(token, rows)`` with each token cut or NUL-padded to TOKEN_WIDTH bytes, in
    byte order (a prefix of at most that many bytes finds exactly the same words)."""
    import pyarrow as pa

    tokens = words["token"].combine_chunks().cast(pa.large_binary())
    rows = words["rows"].combine_chunks()
    if not len(tokens):  # an index without words
        return pa.table(
            {
                "token": pa.array([], pa.binary(TOKEN_WIDTH)),
                "rows": pa.array([], pa.list_(pa.int32())),
            }
        )
    offsets = np.frombuffer(
        tokens.buffers()[1], dtype=np.int64, count=len(tokens) + 1, offset=tokens.offset * 8
    )
    data = (
        np.frombuffer(tokens.buffers()[2], dtype=np.uint8)
        if tokens.buffers()[2]
        else np.zeros(0, np.uint8)
    )
    lengths = np.minimum(np.diff(offsets), TOKEN_WIDTH)
    fixed = np.zeros((len(tokens), TOKEN_WIDTH), np.uint8)
    row = np.repeat(np.arange(len(tokens)), lengths)
    col = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    fixed[row, col] = data[np.repeat(offsets[:-1], lengths) + col]
    keys = fixed.view(f"S{TOKEN_WIDTH}").ravel()
    if len(keys) > 1 and not bool(np.all(keys[:-1] <= keys[1:])):  # not byte order
        order = np.argsort(keys, kind="stable")
        keys, fixed, rows = keys[order], fixed[order], rows.take(pa.array(order))
    rows = rows.cast(pa.list_(pa.int32()))
    token_col = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(TOKEN_WIDTH), len(keys), [None, pa.py_buffer(np.ascontiguousarray(fixed))]
    )
    return pa.table({"token": token_col, "rows": rows})


def _small_codes(col: pa.DictionaryArray) -> pa.DictionaryArray:
    """The same dictionary array with the narrowest integer codes."""
    import pyarrow as pa

    n = len(col.dictionary)
    width = pa.int8() if n < 2**7 else pa.int16() if n < 2**15 else pa.int32()
    return col.cast(pa.dictionary(width, col.dictionary.type))


def count_rows(index: str | os.PathLike[str]) -> int:
    """How many datasets the index holds (an uncached read: the file is let go of)."""
    from .connection import connect

    with connect(index, read_only=True, cached=False) as con:
        return con.execute("SELECT count(*) FROM datasets").fetchone()[0]


# -- keeping it current -----------------------------------------------------------------

_deferred: dict[Path, int] = {}


@contextlib.contextmanager
def bulk_write(index: str | os.PathLike[str]) -> Iterator[None]:
    """Around a bulk writer (a scan, an import): its many writes start no background
    refresh; at the end the snapshot is rebuilt here, if the index is big enough or
    already had one.
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
                f"{path_for(source)}: listing snapshot not written ({exc}); "
                "searches use DuckDB alone until it is",
                stacklevel=3,
            )


def _undefer(source: Path) -> None:
    with _lock:
        _deferred[source] -= 1
        if not _deferred[source]:
            del _deferred[source]


def refresh(index: str | os.PathLike[str], *, force: bool = False, attempts: int = 3) -> bool:
    """Rebuild the snapshot if the index has one or holds at least :data:`MIN_ROWS`
    datasets (or ``force``); returns whether a current snapshot exists afterwards.
    An index too small for one loses a stale one."""
    if not ENABLED:
        return False
    source = Path(index).resolve()
    if not source.exists():
        return False
    dest = path_for(source)
    if not (force or dest.exists() or count_rows(source) >= MIN_ROWS):
        return False
    for _ in range(attempts):
        if current(source) is not None:
            return True
        if build(source) is not None:
            return current(source) is not None
        time.sleep(0.2)  # written to meanwhile: try again on the new state
    return False


def written(index: str | os.PathLike[str]) -> None:
    """Called after every read-write connection closes: an index with a snapshot gets
    a background refresh (outside bulk writers, which rebuild at their end)."""
    if not ENABLED:
        return
    source = Path(index).resolve()
    if source in _deferred or not path_for(source).exists():
        return
    with contextlib.suppress(OSError):  # an unwritable cache folder: it stays stale
        _spawn_refresh(source)


def _spawn_refresh(source: Path) -> None:
    """Start ``python -m catalog.index.listing INDEX`` detached; a thread reaps it."""
    lock = path_for(source).with_name(FILE_NAME + ".lock")
    if not _acquire(lock):
        return  # a refresher is running; it checks the index again before it stops
    home = str(Path(__file__).resolve().parents[2])  # where ``catalog`` is imported from
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")])),
    }
    try:  # the lock is the child's now: it lets go when done
        proc = subprocess.Popen(
            [sys.executable, "-m", "catalog.index.listing", str(source), "--locked"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    except OSError:
        lock.unlink(missing_ok=True)
        return
    threading.Thread(target=proc.wait, name="voxcat-listing-reaper", daemon=True).start()


def _lock_held(lock: Path, max_age: float = 600.0) -> bool:
    try:
        return time.time() - lock.stat().st_mtime < max_age
    except OSError:
        return False


def _background(index: str, locked: bool = False, quiet: float = 0.5, rounds: int = 20) -> int:
    """The refresher process: wait until the index has been unchanged for ``quiet``
    seconds and rebuild; again while writes keep coming (at most ``rounds`` times).
    One refresher per index at a time (a lock file beside the snapshot, taken by the
    process that started this one when ``locked``)."""
    source = Path(index).resolve()
    lock = path_for(source).with_name(FILE_NAME + ".lock")
    for round_ in range(rounds):
        if not (locked and round_ == 0) and not _acquire(lock):
            return 0  # another refresher is on it
        try:
            stamp = _stamp(source)
            time.sleep(quiet)
            if stamp is not None and _stamp(source) == stamp and current(source) is None:
                build(source)
        finally:
            lock.unlink(missing_ok=True)
        # checked after letting go of the lock: a write that came meanwhile found the
        # lock taken and started no refresher of its own
        if not source.exists():
            return 1
        if current(source) is not None:
            return 0
    return 1


def _acquire(lock: Path) -> bool:
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            if _lock_held(lock):
                return False
            lock.unlink(missing_ok=True)  # left by a killed refresher
    return False


if __name__ == "__main__":  # pragma: no cover - run as the background refresher
    sys.exit(_background(sys.argv[1], locked="--locked" in sys.argv[2:]))
