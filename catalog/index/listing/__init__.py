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

A snapshot records the index file's stamp (inode, size, modification time and those of
its WAL) it was built from. Once the index changed, a search uses it only together
with the overlay of what changed (:mod:`.overlay`: the rows changed since, found by
their row hashes, answered from DuckDB's present data), so it can make a search faster
but never change its answer. Bulk writers (``scan``, ``import_table``) rebuild it at
their end once an index holds :data:`MIN_ROWS` datasets; any other write to an index
that has one starts a refresh in a background process (``python -m
catalog.index.listing INDEX``). ``VOXCAT_LISTING=0`` turns it off.

The package is split by job: :mod:`.format` (the file layout and the loaded
:class:`Listing`), :mod:`.writer` (writing it), :mod:`.load` (mapping it, one per
process, let go of when idle), :mod:`.refresher` (keeping it current) and
:mod:`.overlay` (what changed since it was built). How a search uses it:
``docs/search.md``.

>>> refresh("lab.duckdb")                  # doctest: +SKIP
>>> current("lab.duckdb").rows             # doctest: +SKIP
1000000
"""

from __future__ import annotations

import os
from pathlib import Path

#: settings, read at call time from this module (tests and benchmarks patch them here)
ENABLED = os.environ.get("VOXCAT_LISTING", "1") != "0"
#: indexes with fewer datasets get no snapshot from bulk writers (DuckDB alone lists
#: them in a millisecond or two)
MIN_ROWS = int(os.environ.get("VOXCAT_LISTING_MIN_ROWS", "10000"))


def path_for(index: str | os.PathLike[str]) -> Path:
    """Where the snapshot of ``index`` lives (``lab.voxcat/listing.arrow``).

    >>> path_for("/data/lab.duckdb").name
    'listing.arrow'
    """
    from ..connection import cache_dir

    return cache_dir(index) / FILE_NAME


from .format import (  # noqa: E402
    COLUMNS,
    DICTIONARY,
    FILE_NAME,
    FORMAT_VERSION,
    LOCK_FILE,
    TERMS_FILE,
    TOKEN_WIDTH,
    Listing,
    Stale,
)
from .load import _loaded, current  # noqa: E402
from .refresher import _spawn_refresh, bulk_write, refresh, written  # noqa: E402
from .writer import build, count_rows  # noqa: E402

__all__ = [
    "COLUMNS",
    "DICTIONARY",
    "ENABLED",
    "FILE_NAME",
    "FORMAT_VERSION",
    "LOCK_FILE",
    "MIN_ROWS",
    "TERMS_FILE",
    "TOKEN_WIDTH",
    "Listing",
    "Stale",
    "_loaded",
    "_spawn_refresh",
    "build",
    "bulk_write",
    "count_rows",
    "current",
    "path_for",
    "refresh",
    "written",
]
