"""What the index already knows about a tree, so a rescan skips unchanged folders.

Grouping a folder's files into datasets reads magic bytes and headers (a slice stack's
first slices, DICOM meta groups), which costs far more than listing the folder. When
every regular file of a folder belongs to a dataset the index already holds, and each
of those datasets' signature (file names, sizes and mtimes, reader, options) is what
the index recorded, the grouping would come out the same again: the walk yields those
datasets as :class:`Known` and reads nothing.

This only applies where the answer cannot differ from a full walk:

- the rows were last confirmed by a scan that finished with the same readers in the
  same order (:func:`fingerprint`, stored per scan under ``readers:<scan_id>``);
- every file of each dataset lies in that one folder, and the folder holds no file
  the index does not list for them;
- no issue that only grouping finds (a reader that failed to group files there, a
  file of a dataset that could not be stat'ed) was recorded for the folder since
  those rows were confirmed: such folders are grouped again, so their issues are
  recorded again.

Any other folder is grouped as on a first scan.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

import blake3

from ..index import Connection
from ..paths import from_db

#: ``settings`` key prefix: the readers fingerprint of each finished scan.
READERS_KEY = "readers:"
#: Bump when the walk groups files differently, so older rows are grouped again.
WALK_VERSION = 2  # 2: data files elsewhere join their header; links out not followed
#: How the issues only grouping finds begin or read (``walk._files_to_candidates``);
#: a folder with one of them is grouped again so the issue is recorded again. Issues
#: of the listing (``"cannot stat: ..."``, links, sockets) are found either way.
STAT_FAILED = "cannot stat "
GROUP_FAILED = "reader failed to group files"


def fingerprint(readers: Iterable[Any]) -> str:
    """A short hash of the readers a walk uses, in order, with their versions."""
    from .. import __version__

    parts = [f"voxcat {__version__} walk {WALK_VERSION}"]
    for r in readers:
        cls = type(r)
        top = sys.modules.get(cls.__module__.partition(".")[0])
        version = getattr(top, "__version__", "")
        parts.append(f"{r.name}={cls.__module__}.{cls.__qualname__}@{version}")
    return blake3.blake3("\n".join(parts).encode()).hexdigest()[:32]


def signature(reader: str | None, options: Any, files: Iterable[tuple[str, int, int]]) -> str:
    """The change signature of a dataset: ``files`` are ``(rel, size, mtime_ns)``.

    Changes whenever a file is added, removed, resized or touched.
    """
    h = blake3.blake3()
    h.update(f"{reader}\0{sorted(options.items())}\n".encode())
    for rel, size, mtime_ns in files:
        h.update(os.fsencode(rel) + f"\0{size}\0{mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def object_etags(etags: Iterable[tuple[str, str | None]]) -> str:
    """One hash of the ``(rel, ETag)`` of a dataset's objects: with their sizes and
    last-modified times in :func:`signature`, it is an object's equivalent of a local
    file's size and mtime (an object rewritten within the same second changes ETag)."""
    h = blake3.blake3()
    for rel, etag in sorted(etags, key=lambda x: x[0]):
        h.update(f"{rel}\0{etag or ''}\n".encode())
    return h.hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Known:
    """A dataset of the index found again by the walk, every file unchanged."""

    path: str  # as stored in the index
    id: str
    signature: str
    status: str
    folder: str  # the folder (index form) whose listing matched


@dataclasses.dataclass
class _Entry:
    id: str
    path: str
    reader: str | None
    options: str | None
    signature: str
    status: str
    names: list[str]  # its file names in the folder, in dataset order
    prefix: str  # what makes a name relative to the dataset location (usually "")


def _parent(path: str) -> str:
    head = path.rpartition("/")[0]
    return head or "/"


def _prefix(folder: str, location: str) -> str:
    """``walk._rel`` of a file of ``folder`` to ``location`` is ``prefix + name``.

    Index-form strings of normalised absolute paths: a file is its own location, or
    lies in the location folder (its name), or below it (the folders between), or
    elsewhere (its name).
    """
    base = location.rstrip("/") + "/"
    inner = folder.rstrip("/") + "/"
    return inner[len(base) :] if inner.startswith(base) else ""


class KnownTree:
    """Datasets under a scan root, by the folder holding all their files."""

    def __init__(self, rows: Iterable[tuple], issue_paths: Iterable[str]) -> None:
        self.folders: dict[str, list[_Entry]] = {}
        self.poisoned: set[str] = set()
        for ident, path, reader, options, sig, status, files in rows:
            files = [f for f in files if f is not None]
            if not files:  # no file rows: the index cannot tell which folder it came from
                self.poisoned.update((path, _parent(path)))
                continue
            parents = {_parent(f) for f in files}
            if len(parents) != 1:
                self.poisoned.update(parents)
                continue
            folder = parents.pop()
            self.folders.setdefault(folder, []).append(
                _Entry(
                    id=ident,
                    path=path,
                    reader=reader,
                    options=options,
                    signature=sig,
                    status=status,
                    names=[f.rpartition("/")[2] for f in files],
                    prefix=_prefix(folder, path),
                )
            )
        for p in issue_paths:
            self.poisoned.add(p)
            self.poisoned.add(_parent(p))

    def __len__(self) -> int:
        return sum(len(v) for v in self.folders.values())

    def match(self, folder: str, stats: dict[str, tuple[int, int]]) -> list[Known] | None:
        """The datasets of ``folder`` if its files (``name -> (size, mtime_ns)``, index
        form) are exactly theirs, unchanged; ``None`` when it must be grouped again."""
        entries = self.folders.get(folder)
        if not entries or folder in self.poisoned:
            return None
        if sum(len(e.names) for e in entries) != len(stats):
            return None  # a file was added or removed (paths are unique in the index)
        found = []
        for e in entries:
            try:
                files = [(from_db(e.prefix + n), *stats[n]) for n in e.names]
                options = json.loads(e.options) if e.options else {}
                sig = signature(e.reader, options, files)
            except (KeyError, ValueError, TypeError, AttributeError, UnicodeError):
                return None
            if sig != e.signature:
                return None
            found.append(Known(e.path, e.id, e.signature, e.status, folder))
        return found


def load(
    con: Connection, root: str, readers_fp: str, statuses: tuple[str, ...]
) -> KnownTree | None:
    """The :class:`KnownTree` of ``root`` (index form), or ``None`` if nothing qualifies.

    Call inside the scan's start transaction: one query for the datasets, one for the
    grouping issues recorded since the oldest of them was confirmed.
    """
    prefix = root.rstrip("/") + "/"
    rows = con.execute(
        "SELECT d.id, d.path, d.reader, d.options, d.signature, d.status, "
        "list(f.path ORDER BY f.position), min(d.scan_id) "
        "FROM datasets d "
        "JOIN settings s ON s.key = ? || d.scan_id AND s.value = ? "
        "LEFT JOIN files f ON f.dataset_id = d.id "
        "WHERE (d.path = ? OR starts_with(d.path, ?)) AND d.status IN (SELECT unnest(?)) "
        "GROUP BY d.id, d.path, d.reader, d.options, d.signature, d.status",
        [READERS_KEY, readers_fp, root, prefix, list(statuses)],
    ).fetchall()
    if not rows:
        return None
    oldest = min(r[7] for r in rows)
    issues = con.execute(
        "SELECT DISTINCT path FROM scan_issues WHERE scan_id >= ? AND (contains(message, ?) "
        "OR (starts_with(message, ?) AND NOT starts_with(message, 'cannot stat:')))",
        [oldest, GROUP_FAILED, STAT_FAILED],
    ).fetchall()
    return KnownTree((r[:7] for r in rows), (p for (p,) in issues))


def record(con: Connection, scan_id: int, readers_fp: str) -> None:
    """Remember the readers of the finished scan ``scan_id``; forget unused entries."""
    con.execute(
        "INSERT INTO settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [f"{READERS_KEY}{scan_id}", readers_fp],
    )
    con.execute(
        "DELETE FROM settings WHERE starts_with(key, ?) AND key <> ? AND key NOT IN "
        "(SELECT DISTINCT ? || scan_id FROM datasets WHERE scan_id IS NOT NULL)",
        [READERS_KEY, f"{READERS_KEY}{scan_id}", READERS_KEY],
    )
