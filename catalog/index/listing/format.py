"""The snapshot's file format and the loaded :class:`Listing` (numpy views of it).

``listing.arrow`` is an Arrow IPC file of :data:`COLUMNS` in ``num`` order, the
:data:`DICTIONARY` columns dictionary-encoded, with schema metadata
``voxcat.version`` (:data:`FORMAT_VERSION`), ``voxcat.stamp`` (the index file's stamp
it was built from, see :func:`encode_stamp`) and ``voxcat.lowered`` (each dictionary
column's values through DuckDB's ``lower``). ``listing-terms.arrow`` is the word
index: ``token`` (fixed :data:`TOKEN_WIDTH` bytes, sorted) and ``rows`` (the sorted
row positions holding it), with the same version and stamp.

>>> encode_stamp((1, 2, 3, ()))
'[1, 2, 3, []]'
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import columns
from ..readcache import _stamp

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    import pyarrow as pa

FORMAT_VERSION = "4"  # 2: the access column (who may see a row); 3: row hashes; 4: copies
FILE_NAME = "listing.arrow"
#: the lock file a refresher holds (``flock``) beside the snapshot
LOCK_FILE = FILE_NAME + ".lock"
#: the word index: every token of the ``terms`` table (its first TOKEN_WIDTH bytes,
#: sorted) with the row positions of the datasets holding it
TERMS_FILE = "listing-terms.arrow"
TOKEN_WIDTH = 24

#: columns of the snapshot; ``tags`` is stored as ``coalesce(tags, [])`` (every
#: filter and facet treats a NULL list and an empty one alike)
COLUMNS = columns.names("listing")
#: text columns stored dictionary-encoded (few distinct values in any real index)
DICTIONARY = columns.names("dictionary")
#: the column after :data:`COLUMNS`: each row's :data:`ROW_HASH_SQL` when the snapshot
#: was built, so the rows changed since are found (:mod:`.overlay`)
HASH_COLUMN = "rowhash"
#: what a row is as far as a search can tell: every listed column and the search text
#: (the words of the ``terms`` table come from it); DuckDB's ``hash``, so a row that
#: changed is found by comparing one number
ROW_HASH_SQL = (
    "hash("
    + ", ".join("coalesce(tags, [])" if c == "tags" else c for c in COLUMNS if c != "num")
    + ", search_text)"
)


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
        self.hashes = _numpy(table[HASH_COLUMN]) if HASH_COLUMN in table.column_names else None
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


def encode_stamp(stamp: tuple) -> str:
    """An index stamp as the snapshot's ``voxcat.stamp`` metadata."""
    return json.dumps(stamp)


def decode_stamp(raw: bytes | None) -> tuple | None:
    """The stamp in a snapshot's ``voxcat.stamp`` metadata, ``None`` if unreadable."""
    if raw is None:
        return None
    try:
        st = json.loads(raw)
        return (st[0], st[1], st[2], tuple(st[3]))
    except (ValueError, TypeError, IndexError, KeyError):  # not written by build()
        return None
