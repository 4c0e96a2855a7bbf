"""What a migration copies and where: the selected datasets, their files and the
place of each under the target folder, and (``--dry-run``) how long it should take.

Layout. A dataset goes to ``DIR/<drive label>/<its path inside the drive>`` when it
lives on a drive with a label (``/media/lab/WD-2019/rocks/granite.tif`` becomes
``DIR/WD-2019/rocks/granite.tif``), else to ``DIR/<scanned root's folder name>/<its
path relative to that root>`` (``/data/old/rocks/granite.tif`` scanned as
``/data/old`` becomes ``DIR/old/rocks/granite.tif``), else (no scanned root above
it: a result saved from a notebook) to ``DIR/other/<its folder name>/<its name>``. A
folder dataset keeps its files' relative paths inside it.

>>> layout_path("/media/WD-2019/rocks/a.tif", "/media/WD-2019", "", "WD-2019")
'WD-2019/rocks/a.tif'
>>> layout_path("/data/old/rocks/a.tif", "/data/old", "", None)
'old/rocks/a.tif'
>>> layout_path("/home/u/lab.store/x/pores.zarr", None, None, None)
'other/x/pores.zarr'
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from ..errors import MigrationError
from ..index import Connection
from ..paths import display, from_db, to_db
from ..remote import is_remote

PROBE_BYTES = 64 << 20  # the most a dry run reads to measure the sources' read rate
PROBE_SECONDS = 2.0


@dataclasses.dataclass
class Item:
    """One dataset to migrate: where its files come from and go (paths on disk)."""

    ident: str
    name: str
    row: dict[str, Any]
    source: Path  # the location copied from: the primary one, else an ok replica
    target: Path  # its new location under the target folder
    files: list[tuple[Path, Path, dict[str, Any]]]  # (source file, target file, files row)
    primary: bool = True  # copied from the primary location (else from a replica)

    @property
    def origin(self) -> str:
        """The location copied from, as the index stores it."""
        return to_db(self.source)

    @property
    def bytes(self) -> int:
        return sum(int(f.get("size") or 0) for _, _, f in self.files)


def _clean(part: str) -> str:
    return part.replace("/", "_").replace("\\", "_").strip() or "_"


def layout_path(path: str, root: str | None, rel: str | None, label: str | None) -> str:
    """The place (relative to the target folder, ``/``-separated) of the dataset at
    ``path`` (a filesystem path) under the scanned ``root`` whose path inside its
    drive is ``rel``, on a drive called ``label`` (see the module docstring)."""
    if root is None:
        p = Path(path)
        return f"other/{_clean(p.parent.name or 'top')}/{p.name}"
    inner = os.path.relpath(path, root)
    inner = "" if inner == "." else Path(inner).as_posix()
    if label:
        parts = [_clean(label), *(Path(rel).parts if rel else ()), *Path(inner).parts]
    else:
        parts = [_clean(Path(root).name or "root"), *Path(inner).parts]
    if len(parts) == 1:  # the root itself is the dataset
        parts.append(Path(path).name or "data")
    return "/".join(parts)


def load(
    con: Connection, index: Path, ids: list[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The ``datasets`` rows of ``ids`` (in that order; unknown ids left out) and their
    ``files`` rows in position order, paths as filesystem paths in db form."""
    from ..paths import resolve_for_db

    base = Path(index).resolve().parent
    cur = con.execute("SELECT * FROM datasets WHERE id IN (SELECT unnest(?))", [ids])
    cols = [c[0] for c in cur.description]
    key = cols.index("id")
    found = {row[key]: row for row in cur.fetchall()}
    rows = {i: dict(zip(cols, found[i])) for i in ids if i in found}
    files: dict[str, list[dict[str, Any]]] = {i: [] for i in rows}
    cur = con.execute(
        "SELECT * FROM files WHERE dataset_id IN (SELECT unnest(?)) "
        "ORDER BY dataset_id, position, path",
        [ids],
    )
    fcols = [c[0] for c in cur.description]
    for values in cur.fetchall():
        f = dict(zip(fcols, values))
        f["path"] = resolve_for_db(f["path"], base)
        files[f["dataset_id"]].append(f)
    for r in rows.values():
        r["path"] = resolve_for_db(r["path"], base)
    return rows, files


def verified_there(con: Connection, items: list[Item]) -> set[str]:
    """Ids of ``items`` whose location at their target is recorded, ``ok`` and verified
    (an earlier run migrated them)."""
    if not items:
        return set()
    rows = con.execute(
        "SELECT l.dataset_id FROM locations l JOIN (SELECT unnest(?) AS id, "
        "unnest(?) AS path) w ON w.id = l.dataset_id AND w.path = l.path "
        "WHERE l.status = 'ok' AND l.last_verified IS NOT NULL",
        [[i.ident for i in items], [to_db(i.target) for i in items]],
    ).fetchall()
    return {i for (i,) in rows}


def _root_of(con: Connection, path_db: str) -> tuple[str | None, str | None, str | None]:
    """``(root, its path inside the drive, drive label)`` of the deepest scanned root at
    or above ``path_db`` (filesystem paths), or Nones."""
    row = con.execute(
        "SELECT r.path, r.rel, d.label FROM roots r LEFT JOIN drives d ON d.id = r.drive_id "
        "WHERE r.path = ? OR starts_with(?, rtrim(r.path, '/') || '/') "
        "ORDER BY length(r.path) DESC LIMIT 1",
        [path_db, path_db],
    ).fetchone()
    if row is None:
        return None, None, None
    return from_db(row[0]), from_db(row[1]) if row[1] else "", row[2]


def plan_item(con: Connection, to: Path, row: dict[str, Any], files: list[dict[str, Any]]) -> Item:
    """Where the dataset ``row`` (with its ``files`` rows) goes under ``to``; raises
    :class:`MigrationError` for a dataset that cannot be migrated (offline, missing,
    in object storage, files outside its folder)."""
    ident, name = row["id"], row["name"]
    if is_remote(row["path"]):
        raise MigrationError(
            f"{ident} ({name}) is in object storage ({row['path']}): a migration copies "
            "files on drives; export it with mode='zarr' instead"
        )
    status = row.get("status")
    if status == "offline":
        raise MigrationError(f"{ident} ({name}): {row.get('error') or 'its drive is offline'}")
    if status in ("missing", "failed"):
        why = "not found on the last scan" if status == "missing" else "failed when scanned"
        raise MigrationError(
            f"{ident} ({name}) is {status} ({why}): {display(from_db(row['path']))}; "
            "rescan it (voxcat scan) first"
        )
    home = Path(from_db(row["path"]))  # the layout follows the primary location
    root, rel, label = _root_of(con, row["path"])
    target = to / layout_path(str(home), root, rel, label)
    inside = to_db(to).rstrip("/") + "/"
    held = con.execute(  # a copy in ``to`` already (an earlier migration): that one
        "SELECT path FROM locations WHERE dataset_id = ? AND status = 'ok' "
        "AND starts_with(path, ?) ORDER BY path = ? DESC LIMIT 1",
        [ident, inside, to_db(target)],
    ).fetchone()
    if held is not None:
        target = Path(from_db(held[0]))
    rows = files or [
        {"path": row["path"], "checksum": row["checksum"], "position": 0, "size": row["size"]}
    ]
    source, primary = home, True
    if not os.path.lexists(home):  # its drive unplugged, or deleted: an ok copy elsewhere
        from ..replicas import listing, readable

        there, moved = readable(row, [f["path"] for f in rows], listing(con, ident))
        if there["path"] == row["path"]:
            cause = there.get("error") if there.get("status") == "offline" else None
            raise MigrationError(
                f"{ident} ({name}): {cause or 'no such file or folder any more'} "
                f"({display(home)}), and no copy of it is there; plug its drive in or rescan"
            )
        source, primary = Path(from_db(there["path"])), False
        rows = [{**f, "path": p} for f, p in zip(rows, moved)]
    folder = source.is_dir()
    base, new_base = (source, target) if folder else (source.parent, target.parent)
    out = []
    for f in rows:
        src = Path(from_db(f["path"]))
        inner = os.path.relpath(src, base)
        if inner.startswith(".."):
            raise MigrationError(
                f"{ident} ({name}): its file {display(src)} is outside {display(base)}; "
                "a migration keeps a dataset's files together, so move it there and rescan"
            )
        out.append((src, new_base / inner, f))
    return Item(ident, name, row, source, target, out, primary)


def check_place(con: Connection, item: Item) -> None:
    """Refuse a target another dataset of the index already holds (its primary path or
    a location at or inside the target, or a location containing it)."""
    target = to_db(item.target)
    row = con.execute(
        "SELECT dataset_id, path FROM locations WHERE dataset_id <> ? AND (path = ? "
        "OR starts_with(path, ?) OR starts_with(?, rtrim(path, '/') || '/')) LIMIT 1",
        [item.ident, target, target.rstrip("/") + "/", target],
    ).fetchone()
    if row is None:
        row = con.execute(
            "SELECT id, path FROM datasets WHERE id <> ? AND path = ? LIMIT 1",
            [item.ident, target],
        ).fetchone()
    if row is not None:
        raise MigrationError(
            f"{item.ident} ({item.name}) would be copied to {display(item.target)}, where "
            f"the index holds dataset {row[0]} ({display(from_db(row[1]))}); migrate to "
            "another folder"
        )


def check_unchanged(item: Item) -> None:
    """Every source file still has the size and modification time the index recorded;
    else :class:`~catalog.errors.SourceChanged` naming the file (nothing is read)."""
    from ..errors import SourceChanged

    for src, _, f in item.files:
        try:
            st = os.stat(src)
        except OSError as exc:
            raise SourceChanged(
                f"{item.ident} ({item.name}): {display(src)} cannot be read any more "
                f"({exc.strerror or exc}); rescan the drive (voxcat scan) and migrate again",
                str(src),
            ) from None
        size, mtime = f.get("size"), f.get("mtime")
        if not item.primary:  # a replica's files need not keep the mtimes (cp without -p):
            mtime = None  # its content is checked against the index checksum as it is read
        problem = None
        if size is not None and st.st_size != int(size):
            problem = f"it has {st.st_size} bytes, the index recorded {int(size)}"
        elif mtime is not None and abs(st.st_mtime_ns / 1e9 - float(mtime)) > 1e-6:
            problem = "it was modified since it was scanned"
        if problem is not None:
            raise SourceChanged(
                f"{item.ident} ({item.name}): the source file {display(src)} changed: "
                f"{problem}; rescan it (voxcat scan) and migrate again",
                str(src),
            )


def measure_read_rate(paths: list[Path]) -> float | None:
    """Bytes per second of reading (up to :data:`PROBE_BYTES` or
    :data:`PROBE_SECONDS` of) the biggest of ``paths``, its cached pages dropped
    first so the figure is the drive's, not memory's; ``None`` if nothing was read."""
    if not paths:
        return None
    biggest = max(paths, key=lambda p: p.stat().st_size if p.exists() else -1)
    read = 0
    t0 = time.perf_counter()
    try:
        fd = os.open(biggest, os.O_RDONLY)
    except OSError:
        return None
    try:
        with contextlib.suppress(AttributeError, OSError):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while read < PROBE_BYTES and time.perf_counter() - t0 < PROBE_SECONDS:
            chunk = os.read(fd, 4 << 20)
            if not chunk:
                break
            read += len(chunk)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - t0
    return read / seconds if read and seconds > 0 else None
