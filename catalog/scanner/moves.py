"""Where a new dataset came from: rows of the index with its checksum whose path is gone.

A dataset found at a path the index does not know keeps the id of a row with the same
checksum whose own path no longer exists (a move or a rename); otherwise it is new (a
copy gets its own id). Identical content is common (empty files, copies, template
files), so the lookup must not cost more per dataset as the index fills with rows of
one checksum:

- each checksum is asked for once per scan, in one query per batch for the batch's new
  checksums, leaving out rows this scan already wrote or confirmed and rows at paths
  the walk found (those exist: they cannot be where anything moved from);
- the other rows are checked lazily, one ``lstat`` each at most (rows last seen in
  place first, as the likeliest source; then rows already marked missing), and a row
  found still present, or taken by a move, is never looked at again. A row of the
  same file name is tried first, so the files of a moved folder of identical files
  keep their own ids.

So N identical files cost O(N) work, not O(N²). The caller checks a picked row again
inside its transaction (:meth:`MoveSources.pick` may offer a row another process has
changed since it was read) and asks again when it changed.
"""

from __future__ import annotations

import collections
from collections.abc import Collection, Iterable

from ..index import Connection
from ..index.store import path_exists


class MoveSources:
    """Candidate rows a new dataset may have moved from, by checksum, for one scan.

    ``present`` holds the index-form paths the walk found (they exist); it is read, not
    copied, so paths added later count too.

    >>> sources = MoveSources(scan_id=7, present={"/data/new/a.tif"})   # doctest: +SKIP
    >>> sources.load(con, ["b3:5f2a..."])                                 # doctest: +SKIP
    >>> sources.pick("b3:5f2a...", "/data/new/a.tif")                     # doctest: +SKIP
    ('k2x9q4m1abcd', '/data/old/a.tif')
    """

    def __init__(self, scan_id: int, present: Collection[str]) -> None:
        self.scan_id = scan_id
        self.present = present
        # ``hash()`` of every checksum asked for: a few bytes each, as a scan may hold
        # millions (a collision, about 1 in 10^7 at a million, skips one lookup)
        self._asked: set[int] = set()
        # per checksum with candidates: rows in the order to try, and by file name
        self._rows: dict[str, collections.deque[tuple[str, str, str]]] = {}
        self._named: dict[str, dict[str, collections.deque[tuple[str, str, str]]]] = {}
        self._done: set[str] = set()  # ids picked, or found still in place
        self.queries = 0  # lookups sent to the index (for tests of the cost)

    def load(self, con: Connection, checksums: Iterable[str | None]) -> None:
        """Fetch the rows of checksums not asked for yet, in one query."""
        new = sorted({c for c in checksums if c and hash(c) not in self._asked})
        if not new:
            return
        self._asked.update(hash(c) for c in new)
        self.queries += 1
        found = con.execute(
            "SELECT checksum, id, path, status FROM datasets "
            "WHERE checksum IN (SELECT unnest(?)) AND scan_id IS DISTINCT FROM ? "
            "AND status <> 'offline' "  # on an unplugged drive: not moved, just away
            "AND NOT EXISTS (SELECT 1 FROM locations l WHERE l.dataset_id = datasets.id "
            "AND l.path = datasets.path AND l.status = 'offline') "  # ok by a replica
            "ORDER BY status = 'missing', path",
            [new, self.scan_id],
        ).fetchall()
        for checksum, ident, path, status in found:
            if path not in self.present:
                row = (ident, path, status)
                self._rows.setdefault(checksum, collections.deque()).append(row)
                named = self._named.setdefault(checksum, {})
                named.setdefault(_name(path), collections.deque()).append(row)

    def pick(
        self, checksum: str | None, path: str, taken: Collection[str] = ()
    ) -> tuple[str, str] | None:
        """``(id, path)`` of a row with ``checksum`` whose path is gone, for the dataset
        now at ``path``, and forget it; ``None`` if there is none. A row of the same
        file name is preferred, so a moved folder of identical files keeps each file's
        id. Call :meth:`load` for the checksum first."""
        if not checksum or checksum not in self._rows:
            return None
        for rows in (self._named[checksum].get(_name(path)), self._rows[checksum]):
            while rows:
                ident, old, status = rows.popleft()
                if ident in self._done or ident in taken:
                    continue
                self._done.add(ident)
                if status == "missing" or not path_exists(old):
                    return ident, old
        del self._rows[checksum], self._named[checksum]  # every row tried
        return None


def _name(path: str) -> str:
    return path.rstrip("/").rpartition("/")[2]
