"""What changed in an index since its snapshot was built, so a search keeps using the
snapshot while the index is being written (a scan adding datasets, curators tagging)
instead of falling back to DuckDB alone until the next rebuild.

The snapshot stores each row's :data:`~.format.ROW_HASH_SQL` as it was built. One
DuckDB pass (``SELECT num, hash(...) FROM datasets``: about 30 ms per 100,000
datasets) compares them with the rows as they are now and gives an :class:`Overlay`:
the snapshot rows that changed or are gone (``stale``) and the datasets the snapshot
does not describe as they are now (``nums``: changed or new). A search then takes its
answer from the snapshot for every other row and asks DuckDB about ``nums`` only
(:mod:`catalog.catalogue.core`). An overlay is worked out once per index state and
shared by every search until the next write; past :func:`limit` changed rows it is not
worth it (``None``: DuckDB answers alone until the snapshot is rebuilt).

>>> snap, ov = view("lab.duckdb", con)            # doctest: +SKIP
>>> len(ov.nums), len(ov.stale)                   # doctest: +SKIP
(300, 2)
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import listing, readcache
from ..readcache import _stamp
from .format import COLUMNS, ROW_HASH_SQL, Listing
from .load import mapped

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from ..connection import Connection

#: an overlay of more changed rows than this share of the snapshot is not used
MAX_SHARE = float(os.environ.get("VOXCAT_OVERLAY_SHARE", "0.05"))
#: ``VOXCAT_OVERLAY=0``: a snapshot is used for the exact state it was built from only
ENABLED = os.environ.get("VOXCAT_OVERLAY", "1") != "0"


@dataclasses.dataclass(frozen=True)
class Overlay:
    """The index at ``stamp`` against its snapshot: ``stale`` (sorted positions of
    snapshot rows changed or deleted since) and ``nums`` (sorted ``num`` of the
    datasets now in the index that the snapshot lacks or holds stale)."""

    stamp: tuple
    stale: np.ndarray
    nums: np.ndarray
    #: the rows ``nums`` as they are now, in the snapshot's layout (in memory, no word
    #: index): a search evaluates them as it evaluates the snapshot
    listing: Listing

    @property
    def changed(self) -> int:
        return max(len(self.stale), len(self.nums))


def limit(rows: int) -> int:
    """How many changed rows an overlay of a snapshot of ``rows`` rows may hold."""
    return max(2_000, int(rows * MAX_SHARE))


def view(index: str | os.PathLike[str], con: Connection) -> tuple[Listing, Overlay | None] | None:
    """``(snapshot, None)`` when the snapshot describes the index exactly,
    ``(snapshot, overlay)`` when some rows changed since it was built, ``None`` when
    there is no snapshot or too much changed (DuckDB answers alone). ``con`` is the
    read connection of the search (the overlay is only worked out, and only used, when
    it shows the index as it is now).

    >>> view("lab.duckdb", con)                       # doctest: +SKIP
    (<...Listing ...>, None)
    """
    if not listing.ENABLED:
        return None
    source = Path(index).resolve()
    stamp = _stamp(source)
    snap = mapped(source)
    if snap is None or stamp is None:
        return None
    if snap.stamp == stamp:
        return snap, None
    if snap.hashes is None or not ENABLED:
        return None
    if readcache.reading_stamp(source) != stamp:
        return None  # ``con`` shows another state of the index than the present one
    key = (source, snap.stamp, stamp)
    with _lock:
        if key in _found:
            ov = _found[key]
            return None if ov is None else (snap, ov)
        gate = _computing.setdefault(key, threading.Lock())
    with gate:  # one thread works it out, the others wait for it
        try:
            with _lock:
                if key in _found:
                    ov = _found[key]
                    return None if ov is None else (snap, ov)
            ov = changes(snap, con, stamp)
            if _stamp(source) != stamp:  # written meanwhile
                return None
            with _lock:  # one state of each index is worth keeping
                for old in [k for k in _found if k[0] == source]:
                    del _found[old]
                _found[key] = ov
        finally:
            with _lock:
                _computing.pop(key, None)
    return None if ov is None else (snap, ov)


_lock = threading.Lock()
_found: dict[tuple, Overlay | None] = {}
_computing: dict[tuple, threading.Lock] = {}


def changes(snap: Listing, con: Connection, stamp: tuple) -> Overlay | None:
    """The overlay of the index (read through ``con``, at ``stamp``) on ``snap``;
    ``None`` when more than :func:`limit` rows changed."""
    assert snap.hashes is not None
    got = con.execute(f"SELECT num, {ROW_HASH_SQL} AS h FROM datasets").fetchnumpy()
    nums = np.asarray(got["num"], dtype=np.int64)
    hashes = np.asarray(got["h"], dtype=np.uint64)
    if snap.rows:
        pos = np.minimum(np.searchsorted(snap.num, nums), snap.rows - 1)
        same = (snap.num[pos] == nums) & (snap.hashes[pos] == hashes)
    else:
        pos, same = np.zeros(len(nums), np.int64), np.zeros(len(nums), bool)
    keep = np.zeros(snap.rows, bool)
    keep[pos[same]] = True
    stale = np.flatnonzero(~keep)
    new = np.sort(nums[~same])
    if max(len(stale), len(new)) > limit(snap.rows):
        return None
    return Overlay(stamp, stale, new, _listing_of(snap, con, new, stamp))


def _listing_of(snap: Listing, con: Connection, nums: np.ndarray, stamp: tuple) -> Listing:
    """The rows ``nums`` as an in-memory :class:`Listing` (read through ``con``)."""
    import json

    import pyarrow as pa

    from .writer import encode

    table = rows(con, nums, list(COLUMNS))
    arrays, lowered = encode(con, table)
    out = pa.table(arrays, names=list(COLUMNS))
    out = out.replace_schema_metadata({"voxcat.lowered": json.dumps(lowered)})
    return Listing(out, stamp, snap.source)


def rows(con: Connection, nums: np.ndarray, names: list[str]) -> pa.Table:
    """The snapshot's columns ``names`` of the datasets ``nums``, read from DuckDB as
    they are now (``tags`` as the snapshot stores it: never NULL), in ``num`` order,
    with the snapshot's types except that no column is dictionary-encoded."""
    cols = ", ".join(
        "coalesce(tags, []) AS tags" if n == "tags" else n for n in names if n in COLUMNS
    )
    return con.sql(
        f"SELECT {cols} FROM datasets WHERE num IN (SELECT unnest(?)) ORDER BY num",
        params=[nums.tolist()],
    ).to_arrow_table()


def decoded(table: pa.Table) -> pa.Table:
    """``table`` with its dictionary-encoded columns decoded (to join DuckDB's rows)."""
    import pyarrow as pa

    cols: list[Any] = []
    for col in table.columns:
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        cols.append(col)
    return pa.table(cols, names=table.column_names)
