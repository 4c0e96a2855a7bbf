"""Replicas: every place a dataset's content lives (the ``locations`` table).

A dataset's row holds its primary location (``datasets.path`` and ``drive``); each
place its content is known at, the primary one included, is a row of ``locations``
(``dataset_id``, ``path``, ``drive``, ``status``: ``ok``, ``missing``, ``offline`` or
``corrupt`` (bytes differ, found by :func:`catalog.integrity.verify`),
``first_seen``, ``last_seen``, ``last_verified``).

- a scan that finds content already in the index (same full checksum) at a new path,
  where the dataset's own location is still there (not a move), **on another drive**
  (or drive vs object storage) records a new location of that dataset, not a new
  dataset (audit ``replica.add``): tags, notes and lineage are the dataset's, so they
  are shared. Copies on the same drive stay separate datasets;
- a rescan that no longer finds a location marks it ``missing``; an unplugged drive
  makes its locations ``offline``. The dataset is ``ok`` while one location is ``ok``
  (:func:`settle`), and reads go to the primary path if it is there, else to the first
  ``ok`` location (:func:`readable`);
- ``datasets.copies`` counts the locations known, ``ok`` or ``offline``, so
  ``cat.search(copies=1)`` finds datasets held in one place only.

>>> cat.locations("k2x9q4m1abcd")                                  # doctest: +SKIP
[{'path': '/media/lab/WD-2019/rocks/granite.tif', 'drive': 'WD-2019', 'status': 'offline',
  'primary': True, ...}, {'path': '/media/lab/WD-2024/rocks/granite.tif', ...}]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from .index import Connection
from .index.store import now
from .paths import display, from_db

OK, MISSING, OFFLINE = "ok", "missing", "offline"
#: a copy whose bytes verify found different from the index's checksums
CORRUPT = "corrupt"


def location_status(dataset_status: str | None) -> str:
    """The status of a dataset's primary location from the dataset's own status.

    >>> location_status("failed"), location_status("offline")
    ('ok', 'offline')
    """
    return dataset_status if dataset_status in (MISSING, OFFLINE) else OK


def record_staged(con: Connection, table: str, where: str = "true") -> None:
    """The primary locations of datasets just inserted set-wise from the staged
    ``table`` (columns ``id`` and ``path``; rows matching the SQL ``where``), as
    :func:`record_primary` records those a scan writes row by row."""
    t = now()
    picked = f"FROM {table} WHERE {where}"
    con.execute(f"DELETE FROM locations WHERE path IN (SELECT path {picked})")
    con.execute(
        "INSERT INTO locations BY NAME SELECT id AS dataset_id, path, "
        f"'{OK}' AS status, ?::TIMESTAMP AS first_seen, ?::TIMESTAMP AS last_seen {picked}",
        [t, t],
    )


def record_primary(
    con: Connection, rows: Iterable[tuple[str, str, str | None, str | None]]
) -> None:
    """``(id, path, drive, dataset status)`` of datasets just written at ``path``: that
    location is theirs and seen now (another dataset's claim on the path, a replica
    whose content changed, is dropped)."""
    rows = list(rows)
    if not rows:
        return
    t = now()
    paths = [p for _, p, _, _ in rows]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _seen_at AS SELECT unnest(?) AS dataset_id, "
        "unnest(?) AS path, unnest(?) AS drive, unnest(?) AS status",
        [[r[0] for r in rows], paths, [r[2] for r in rows], [location_status(r[3]) for r in rows]],
    )
    con.execute(
        "DELETE FROM locations l USING _seen_at s WHERE l.path = s.path "
        "AND l.dataset_id <> s.dataset_id"
    )
    con.execute(
        "UPDATE locations l SET status = s.status, last_seen = ?, "
        "drive = coalesce(s.drive, l.drive) FROM _seen_at s "
        "WHERE l.path = s.path AND l.dataset_id = s.dataset_id",
        [t],
    )
    con.execute(
        "INSERT INTO locations SELECT s.dataset_id, s.path, s.drive, s.status, ?, ?, NULL, NULL "
        "FROM _seen_at s WHERE NOT EXISTS (SELECT 1 FROM locations l "
        "WHERE l.path = s.path AND l.dataset_id = s.dataset_id)",
        [t, t],
    )
    con.execute("DROP TABLE _seen_at")


def forget(con: Connection, pairs: Iterable[tuple[str, str]]) -> None:
    """Drop the locations ``(id, path)`` (the place a dataset moved away from)."""
    for ident, path in pairs:
        con.execute("DELETE FROM locations WHERE dataset_id = ? AND path = ?", [ident, path])


def add(
    con: Connection, ident: str, path: str, drive: str | None, signature: str | None = None
) -> None:
    """Record ``path`` (on ``drive``; its files' ``signature``) as a location of the
    dataset ``ident``, ``ok``."""
    t = now()
    con.execute("DELETE FROM locations WHERE path = ?", [path])
    con.execute(
        "INSERT INTO locations VALUES (?, ?, ?, 'ok', ?, ?, NULL, ?)",
        [ident, path, drive, t, t, signature],
    )


def _replicas_under(con: Connection, root_db: str, where: str) -> list[tuple[str, str, str]]:
    """``(path, dataset id, signature)`` of the replica locations (not a dataset's
    primary path) at or under ``root_db`` that match the SQL condition ``where``."""
    prefix = root_db.rstrip("/") + "/"
    return con.execute(
        "SELECT l.path, l.dataset_id, l.signature FROM locations l JOIN datasets d "
        "ON d.id = l.dataset_id AND d.path <> l.path "
        f"WHERE (l.path = ? OR starts_with(l.path, ?)) AND {where}",
        [root_db, prefix],
    ).fetchall()


def unchanged(con: Connection, root_db: str, found: dict[str, str]) -> list[str]:
    """Of ``found`` (``db path -> signature`` of what a scan's walk found under
    ``root_db`` and would read), the replica locations whose files did not change:
    they are ``ok``, seen now, and need no reading. Returns their paths."""
    if not found:
        return []
    rows = _replicas_under(con, root_db, "l.signature IS NOT NULL")
    same = [(p, i) for p, i, sig in rows if found.get(p) == sig]
    # a copy verify found corrupt stays so: the same names, sizes and mtimes say
    # nothing of its bytes (catalog/integrity.py)
    bad = {p for p, _, _ in _replicas_under(con, root_db, f"l.status = '{CORRUPT}'")}
    fine = [(p, i) for p, i in same if p not in bad]
    if fine:
        seen(con, [p for p, _ in fine])
        settle(con, [i for _, i in fine])
    return [p for p, _ in same]


def candidates(
    con: Connection, wanted: Sequence[str], drive: str | None, skip: Iterable[str] = ()
) -> dict[str, list[tuple[str, str]]]:
    """``checksum -> [(id, path)]`` of datasets with that checksum that a copy on
    ``drive`` (a drive id, ``None``: object storage) can be a replica of: not missing,
    on another drive (or in object storage when ``drive`` is one, on a drive when it is
    not), with no location on ``drive`` yet. ``wanted`` holds a checksum once per copy
    found: no more rows per checksum than that, in one query (a scan of many
    identical files on one drive gets none: it stays linear)."""
    if not wanted:
        return {}
    counts: dict[str, int] = {}
    for c in wanted:
        counts[c] = counts.get(c, 0) + 1
    rows = con.execute(
        """SELECT checksum, id, path FROM datasets d
        WHERE checksum IN (SELECT unnest(?)) AND NOT starts_with(checksum, 'sampled:')
        AND status IN ('ok', 'offline') AND drive IS DISTINCT FROM ?
        AND (drive IS NOT NULL OR contains(path, '://'))
        AND (? IS NOT NULL OR drive IS NOT NULL)
        AND id NOT IN (SELECT unnest(?))
        AND NOT EXISTS (SELECT 1 FROM locations l WHERE l.dataset_id = d.id
                        AND l.drive IS NOT DISTINCT FROM ? AND l.status <> 'missing')
        QUALIFY row_number() OVER (PARTITION BY checksum ORDER BY num)
            <= map_extract(map(?, ?), checksum)[1]""",
        [sorted(counts), drive, drive, list(skip), drive, list(counts), list(counts.values())],
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for checksum, ident, path in rows:
        out.setdefault(checksum, []).append((ident, path))
    return out


def closest(path: str, options: list[tuple[str, str]]) -> tuple[str, str]:
    """The option ``(id, path)`` whose path ends most like ``path`` (a copied folder's
    files find their own originals).

    >>> closest("/b/rocks/x/a.tif", [("1", "/a/rocks/a.tif"), ("2", "/a/rocks/x/a.tif")])
    ('2', '/a/rocks/x/a.tif')
    """

    def tail(other: str) -> int:
        n = 0
        for a, b in zip(reversed(path.split("/")), reversed(other.split("/"))):
            if a != b:
                break
            n += 1
        return n

    return max(options, key=lambda o: tail(o[1]))


def known_at(con: Connection, paths: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """``path -> (id, checksum)`` of the paths that are replicas (locations that are not
    their dataset's primary path)."""
    if not paths:
        return {}
    rows = con.execute(
        "SELECT l.path, d.id, d.checksum FROM locations l JOIN datasets d "
        "ON d.id = l.dataset_id AND d.path <> l.path WHERE l.path IN (SELECT unnest(?))",
        [list(paths)],
    ).fetchall()
    return {p: (i, c) for p, i, c in rows}


def seen(con: Connection, paths: Sequence[str]) -> list[str]:
    """Replica locations found again in place: ``ok``, seen now. Returns their ids."""
    if not paths:
        return []
    rows = con.execute(
        "UPDATE locations SET status = 'ok', last_seen = ? WHERE path IN (SELECT unnest(?)) "
        "RETURNING dataset_id",
        [now(), list(paths)],
    ).fetchall()
    return [i for (i,) in rows]


def vanished(con: Connection, root_db: str, present: Iterable[str] | set[str]) -> list[str]:
    """Replica locations under ``root_db`` a scan's walk did not find (``present``):
    marked ``missing``. Returns the ids of their datasets."""
    rows = _replicas_under(con, root_db, "l.status <> 'missing'")
    gone = [(p, i) for p, i, _ in rows if p not in present]
    if gone:
        con.execute(
            "UPDATE locations SET status = 'missing' WHERE path IN (SELECT unnest(?))",
            [[p for p, _ in gone]],
        )
    return [i for _, i in gone]


def primary_seen(con: Connection, ids: Sequence[str]) -> None:
    """The datasets ``ids`` were found unchanged at their primary path: that location
    is ``ok``, seen now (copies and status recounted where it was not ``ok``)."""
    if not ids:
        return
    con.execute(
        "UPDATE locations l SET status = 'ok', last_seen = ? FROM datasets d "
        "WHERE d.id = l.dataset_id AND d.path = l.path AND d.id IN (SELECT unnest(?)) "
        f"AND l.status <> '{CORRUPT}'",  # verify's finding stands (see unchanged)
        [now(), list(ids)],
    )
    several = [
        i
        for (i,) in con.execute(
            "SELECT dataset_id FROM locations WHERE dataset_id IN (SELECT unnest(?)) "
            "GROUP BY dataset_id HAVING count(*) > 1",
            [list(ids)],
        ).fetchall()
    ]
    settle(con, several)


def primary_missing(con: Connection, ids: Sequence[str]) -> None:
    """The datasets ``ids`` were not found at their primary path: that location is
    ``missing``."""
    if ids:
        con.execute(
            "UPDATE locations l SET status = 'missing' FROM datasets d WHERE d.id = l.dataset_id "
            "AND d.path = l.path AND d.id IN (SELECT unnest(?))",
            [list(ids)],
        )


def settle(con: Connection, ids: Sequence[str] | None) -> None:
    """Recount the ``copies`` of the datasets ``ids`` (``None``: every dataset) and give
    those with several locations the status their locations say: ``ok`` while one is
    ``ok``, else ``offline`` while one is, else ``missing``."""
    if ids is not None and not ids:
        return
    where = "" if ids is None else "AND d.id IN (SELECT unnest($ids))"
    mine = "" if ids is None else "WHERE dataset_id IN (SELECT unnest($ids))"
    params: dict[str, Any] = {} if ids is None else {"ids": list(ids)}
    con.execute(
        f"""UPDATE datasets d SET copies = c.n FROM (
            SELECT dataset_id, count(*) FILTER (WHERE status IN ('ok', 'offline')) AS n
            FROM locations {mine} GROUP BY dataset_id) c
        WHERE c.dataset_id = d.id AND d.copies IS DISTINCT FROM c.n {where}""",
        params,
    )
    con.execute(
        f"""UPDATE datasets d SET
            status = CASE WHEN c.ok THEN 'ok' WHEN c.offline THEN 'offline' ELSE 'missing' END,
            error = CASE WHEN c.ok OR NOT c.offline THEN NULL ELSE d.error END
        FROM (SELECT dataset_id, count(*) AS n, bool_or(status = 'ok') AS ok,
                     bool_or(status = 'offline') AS offline
              FROM locations {mine} GROUP BY dataset_id) c
        WHERE c.dataset_id = d.id AND c.n > 1 AND d.status IN ('ok', 'offline', 'missing')
        AND d.status <> CASE WHEN c.ok THEN 'ok' WHEN c.offline THEN 'offline'
                             ELSE 'missing' END {where}""",
        params,
    )


def listing(con: Connection, ident: str) -> list[dict[str, Any]]:
    """The locations of the dataset ``ident``, the primary one first: ``path`` (as a
    filesystem path or URL), ``drive`` (its label, else its id), ``drive_id``,
    ``status``, ``primary``, ``first_seen``, ``last_seen``, ``last_verified``."""
    try:
        rows = con.execute(
            """SELECT l.path, l.drive, coalesce(r.label, l.drive), l.status, l.path = d.path,
                l.first_seen, l.last_seen, l.last_verified
            FROM locations l JOIN datasets d ON d.id = l.dataset_id
            LEFT JOIN drives r ON r.id = l.drive
            WHERE l.dataset_id = ? ORDER BY l.path <> d.path, l.first_seen, l.path""",
            [ident],
        ).fetchall()
    except Exception:  # an index older than replicas, opened read-only
        return []

    def iso(t: Any) -> str | None:
        return t.isoformat() if t is not None else None

    return [
        {
            "path": display(from_db(p)),
            "drive": label,
            "drive_id": drive,
            "status": status,
            "primary": bool(primary),
            "first_seen": iso(first),
            "last_seen": iso(last),
            "last_verified": iso(verified),
        }
        for p, drive, label, status, primary, first, last, verified in rows
    ]


def readable(
    row: dict[str, Any], files: list[str], locations: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """The row and file paths (db form) to read the dataset from: its own when its
    primary path is there (or it has no other location); else those of the first ``ok``
    location that is there, file paths moved with it; else the row marked ``offline``
    with the drives to plug in (or ``missing``)."""
    others = [loc for loc in locations if not loc["primary"]]
    primary = row["path"]
    if not others or "://" in primary or os.path.lexists(from_db(primary)):
        return row, files
    for loc in others:
        if loc["status"] != OK or "://" in loc["path"]:
            continue
        if not os.path.lexists(loc["path"]):
            continue
        from .paths import to_db

        target = to_db(loc["path"])
        base = primary.rstrip("/")
        moved = [target + f[len(base) :] if f.startswith(base) else f for f in files]
        return {**row, "path": target, "status": OK, "error": None}, moved
    offline = [loc["drive"] or "?" for loc in locations if loc["status"] == OFFLINE]
    if offline:
        drives = ", ".join(dict.fromkeys(offline))
        message = f"on drive {drives} (offline): plug one in"
        return {**row, "status": OFFLINE, "error": message}, files
    return {**row, "status": MISSING}, files
