"""``scan()``: walk a tree, process new and changed datasets in worker processes and
write the results to the index in short batched transactions.

Incremental by design: datasets whose files are unchanged (same names, sizes and
mtimes) are only marked as seen, in one UPDATE, and the folders holding only such
datasets are not even grouped again (``known.py``), so a rescan of an unchanged tree
lists folders, reads nothing and starts no worker; moved or renamed datasets are recognised by their
checksum and keep their id, tags and notes; vanished ones are marked missing, never
deleted. Results are committed every second or so, so a killed scan loses at most
the last batch and the next scan resumes where it stopped.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import os
import socket
import stat
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from .. import drives, replicas
from ..cluster import cluster_client, dashboard_link, map_on_cluster, scheduler_address
from ..confine import file_kind
from ..errors import DiskFullError, ScanCancelled, ScanError
from ..index import Connection, cache_dir, columns, listing, resolve_index, transaction
from ..index.connection import disk_full, disk_full_cause
from ..index.search_text import REBUILD_ABOVE, rebuild_terms
from ..index.store import (
    AUDIT_SCHEMA,  # noqa: F401  (re-exported for tests)
    USER_FIELDS,
    append_audit,
    current_user,
    flatten,
    now,
    path_exists,
)
from ..index.writer import AuditEntry, DatasetWriter
from ..paths import display, from_db, storable, to_db
from ..progress import CancelFlag, Progress, ProgressArg, Reporter, bar_of, callback_of, check
from ..readers import load_readers
from ..remote import STORAGE_OPTIONS, Storage, is_remote, split_url
from ..summary import plural
from ..volumes import Volume
from . import known as known_mod
from . import redraw
from .checksum import SAMPLED_PREFIX
from .infer import PathPattern, infer_data_level, infer_modality
from .known import Known, KnownTree
from .moves import MoveSources
from .pool import alive, guarded_pool, process_started, run_pool
from .thumbnail import UNWRITTEN
from .walk import LINK_OUT, Bounds, Candidate, regroup, walk
from .worker import Result, cluster_failure, process_on_cluster, process_safely, store_png


@dataclasses.dataclass
class ScanReport:
    """What a scan found. ``str(report)`` is the summary the CLI prints."""

    root: str
    index: str
    scan_id: int
    counts: dict[str, int]
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    issues: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    bytes_processed: int = 0
    seconds: float = 0.0
    #: ``redrawn``: missing or outdated thumbnails of unchanged datasets drawn again;
    #: ``unwritten``: thumbnails that could not be written (a full disk)
    thumbnails: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"redrawn": 0, "unwritten": 0}
    )
    thumbnail_error: str | None = None  # why the first unwritten one was not written
    #: the root's drive is not mounted: which drive to plug in (nothing was scanned)
    offline: str | None = None
    #: datasets whose paths followed their drive to a new mount point
    drive_moved: int = 0
    #: copies of known datasets on another drive, recorded as their locations
    replicas: int = 0

    def __getitem__(self, key: str) -> int:
        return self.counts[key]

    @property
    def links(self) -> list[tuple[str, str]]:
        """``(link, target)`` of every symlink that leads out of the scanned folder and
        was not followed (``follow_links=True`` follows them)."""
        out = []
        for path, _sev, msg in self.issues:
            if msg.startswith(LINK_OUT):
                out.append((path, msg[len(LINK_OUT) :].split(" (scan with")[0]))
        return out

    def __str__(self) -> str:
        c = self.counts
        if self.offline is not None:
            return (
                f"Not scanned: {self.root} is {self.offline}; "
                f"{plural(c.get('offline', 0), 'dataset')} marked offline "
                "(still searchable with thumbnails and metadata)"
            )
        lines = [
            f"Scanned {self.root} into {self.index} in {self.seconds:.1f} s "
            f"({self.bytes_processed / 1e9:.2f} GB read)",
            f"  {plural(c['datasets'], 'dataset')} and {plural(c['files'], 'other file')}; "
            + ", ".join(f"{k}: {c[k]}" for k in COUNT_KEYS[2:]),
        ]
        if self.replicas:
            lines.append(
                f"  {plural(self.replicas, 'replica')}: copies of known datasets found on "
                "another drive, recorded as their locations (same ids)"
            )
        if self.drive_moved:
            lines.append(
                f"  {plural(self.drive_moved, 'dataset')} followed their drive to {self.root}"
            )
        for path, error in self.failed[:20]:
            lines.append(f"  FAILED  {error}" if path in error else f"  FAILED  {path}: {error}")
        if len(self.failed) > 20:
            lines.append(f"  ... and {len(self.failed) - 20} more failures (voxcat show --failed)")
        problems = [i for i in self.issues if i[1] == "error"]
        for path, _sev, msg in problems[:10]:
            lines.append(f"  SKIPPED {path}: {msg}")
        if self.thumbnails["redrawn"]:
            lines.append(
                f"  {plural(self.thumbnails['redrawn'], 'thumbnail')} drawn again "
                "(missing or outdated)"
            )
        if self.thumbnails["unwritten"]:
            lines.append(
                f"  {plural(self.thumbnails['unwritten'], 'thumbnail')} not written "
                f"({self.thumbnail_error}); a rescan or `voxcat thumbnails --missing` "
                "draws them"
            )
        links = self.links
        for path, target in links[:10]:
            lines.append(f"  LINK    {path} -> {target}: outside the scanned folder, not followed")
        if len(links) > 10:
            lines.append(f"  ... and {len(links) - 10} more links out of the scanned folder")
        if links:
            lines.append("  (voxcat scan --follow-links follows links out of the scanned folder)")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "links": self.links}


#: ``datasets`` (images and containers) and ``files`` (other files) the root holds
#: after the scan, as ``len(cat)`` and ``open_catalog(files=True)`` count them; the
#: rest count what happened to either kind in this scan
COUNT_KEYS = (
    "datasets",
    "files",
    "added",
    "changed",
    "moved",
    "unchanged",
    "missing",
    "failed",
)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _row(
    res: Result,
    ident: str,
    root: Path,
    scan_id: int,
    pattern: PathPattern | None,
    t: dt.datetime,
    root_db: str | None = None,
) -> dict[str, Any]:
    cand = res.candidate
    src = cand.source
    info = res.info
    rel = _rel(src.path, root)
    options = dict(src.options)
    if src.storage is not None:  # how to reach it again, without credentials
        options[STORAGE_OPTIONS] = src.storage.public
    row: dict[str, Any] = {
        "id": ident,
        "name": src.display_name,
        "path": src.location,
        "root": root_db or to_db(root),
        "kind": info.kind if info else ("file" if cand.reader is None else "image"),
        "format": cand.reader or _file_type(src.path),
        "reader": cand.reader,
        "options": json.dumps(options, default=str),
        "n_files": len(cand.files),
        "size": cand.size,
        "checksum": res.checksum,
        "signature": cand.signature,
        "thumbnail": res.thumbnail,
        "first_seen": t,
        "last_seen": t,
        "modified": dt.datetime.fromtimestamp(cand.mtime) if cand.mtime else None,
        "status": "ok" if res.ok else "failed",
        "error": res.error,
        "warnings": res.warnings or None,
        "scan_id": scan_id,
    }
    meta: dict[str, Any] = dict(info.meta) if info else {}
    inferred: list[str] = []
    if info is not None:
        sp = [info.spacing.get(a) for a in info.axes]
        spatial = [info.spacing[a] for a in "zyx" if a in info.spacing]
        row.update(
            shape=list(info.shape),
            dtype=info.dtype,
            axes=info.axes,
            spacing=sp if any(v is not None for v in sp) else None,
            units=[info.units.get(a) for a in info.axes] if info.units else None,
            voxel_size=max(spatial) if spatial else None,
            voxel_size_x=info.spacing.get("x"),
            voxel_size_y=info.spacing.get("y"),
            voxel_size_z=info.spacing.get("z"),
            modality=info.modality,
            acquired=info.acquired.replace(tzinfo=None) if info.acquired else None,
            instrument=info.instrument,
            channels=list(info.channels) or None,
            levels=len(info.levels),
            level_shapes=json.dumps([list(s) for s in info.levels]),
            data_level=info.data_level,
            access=info.access,
            arrays=json.dumps({k: dataclasses.asdict(v) for k, v in info.arrays.items()})
            if info.arrays
            else None,
        )
        if row["modality"] is None:
            row["modality"] = infer_modality(rel)
            if row["modality"]:
                inferred.append("modality")
        if row["data_level"] is None:
            row["data_level"] = infer_data_level(rel)
            if row["data_level"]:
                inferred.append("data_level")
    if pattern is not None:
        whole = len(src.files) > 1 if src.storage is not None else src.path.is_dir()
        folder_rel = rel if whole else _rel(src.path.parent, root)
        fields = pattern.match(folder_rel)
        for key in ("sample", "project"):
            if key in fields:
                row[key] = fields.pop(key)
        if fields:
            meta["path"] = fields
    if inferred:
        meta["voxcat"] = {"inferred": inferred}
    row["meta"] = json.dumps(meta, default=str, ensure_ascii=False) if meta else None
    return row


def _file_type(path: Path) -> str:
    import mimetypes

    mime, _ = mimetypes.guess_type(path.name)
    if mime:
        return mime
    suffix = path.suffix.lower().lstrip(".")
    return f"file/{suffix}" if suffix else "file"


#: fields an imported table may know better than a file's headers: kept when the
#: reader finds nothing
TABLE_FIELDS = columns.names("imported")


def _old_rows(con: Connection, key: str, values: list[str]) -> list[dict[str, Any]]:
    cur = con.execute(
        "SELECT id, path, status, checksum, first_seen, user_set, meta, "
        f"{', '.join(dict.fromkeys((*USER_FIELDS, *TABLE_FIELDS)))} "
        f"FROM datasets WHERE {key} IN (SELECT unnest(?))",
        [values],
    )
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _keep_old(row: dict[str, Any], old: dict[str, Any]) -> None:
    """Carry what a rescan must not lose: first sight, user fields, and what an
    imported table recorded (its extra columns and the fields the files lack)."""
    row["first_seen"] = old["first_seen"]
    DatasetWriter.keep_user_fields(row, old)
    old_meta = json.loads(old["meta"]) if old["meta"] else {}
    imported = (old_meta.get("voxcat") or {}).get("imported_from")
    if not imported:
        return
    for field in TABLE_FIELDS:
        if row.get(field) in (None, []) and old[field] not in (None, []):
            row[field] = old[field]
    meta = json.loads(row["meta"]) if row["meta"] else {}
    merged = {k: v for k, v in old_meta.items() if k != "voxcat"}
    merged.update(meta)
    merged["voxcat"] = {**(meta.get("voxcat") or {}), "imported_from": imported}
    row["meta"] = json.dumps(merged, default=str, ensure_ascii=False)


class _Writer:
    """Accumulates results and writes them in batches, one transaction each."""

    def __init__(
        self,
        index: Path,
        root: Path,
        scan_id: int,
        pattern: PathPattern | None,
        present: Collection[str] = (),
        root_db: str | None = None,
    ) -> None:
        self.index, self.root, self.scan_id, self.pattern = index, root, scan_id, pattern
        self.root_db = root_db or to_db(root)
        self.volume: Volume | None = None  # the drive of a root on a filesystem
        self.sources = MoveSources(scan_id, present)  # ``present``: paths the walk found
        self.pending: list[Result] = []
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.processed = 0  # results written so far (progress)
        self.saved = 0  # results committed
        self.failed: list[tuple[str, str]] = []
        self.moved_from: set[str] = set()  # db paths that turned out to be moves
        self.replicas = 0  # locations of known datasets found (catalog/replicas.py)
        self.lone: set[int] = set()  # ``hash()`` of checksums with no replica source
        self.user = current_user()
        self.last_flush = time.monotonic()

    def add(self, res: Result, batch_size: int, batch_seconds: float) -> None:
        self.pending.append(res)
        if len(self.pending) >= batch_size or time.monotonic() - self.last_flush >= batch_seconds:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        with transaction(self.index) as con:
            self._write(con, batch)
        self.saved += len(batch)

    def _write(self, con: Connection, batch: list[Result]) -> None:
        out = DatasetWriter(con, self.user)
        t = now()
        paths = [r.candidate.source.location for r in batch]
        existing = {r["path"]: r for r in _old_rows(con, "path", paths)}
        olds: list[dict[str, Any] | None] = [existing.get(p) for p in paths]
        idents: list[str | None] = [o["id"] if o is not None else None for o in olds]
        taken: set[str] = {i for i in idents if i is not None}
        moved: dict[int, str] = {}  # position in the batch -> the path it moved from
        # 0. replicas found again in place (not the move of their dataset's primary)
        again = self._found_again(con, batch, paths, olds, taken)
        # 1. a dataset at a new path keeps the id of a row with its checksum whose path
        # is gone (a move); the lookups cost the same however many rows share a checksum
        want = [
            k for k, o in enumerate(olds) if o is None and batch[k].checksum and k not in again
        ]
        self.sources.load(con, (batch[k].checksum for k in want))
        while want:
            picks = {}
            for k in want:
                got = self.sources.pick(batch[k].checksum, paths[k], taken)
                if got is not None:
                    picks[k] = got
                    taken.add(got[0])
            if not picks:
                break
            found = {r["id"]: r for r in _old_rows(con, "id", [i for i, _ in picks.values()])}
            want = []
            for k, (oid, opath) in picks.items():
                old = found.get(oid)
                if (
                    old is not None
                    and old["path"] == opath
                    and old["checksum"] == batch[k].checksum
                    and (old["status"] == "missing" or not path_exists(opath))
                ):
                    idents[k], olds[k], moved[k] = oid, old, opath
                else:  # another process changed that row since it was read: ask again
                    want.append(k)
        # 2. a replica found again in place, or content the index holds, found on
        # another drive: a location of that dataset, not a new one (catalog/replicas.py)
        placed, added = self._replicas(con, batch, paths, idents, taken, again)
        # 3. the others are new: ids from their path and checksum
        new = [k for k, i in enumerate(idents) if i is None and k not in placed]
        assigned = out.new_ids([(paths[k], batch[k].checksum) for k in new], taken)
        for k, fresh in zip(new, assigned):
            idents[k] = fresh
        rows: list[dict[str, Any]] = []
        files: list[dict[str, Any]] = []
        metas: list[dict[str, Any]] = []
        audit: list[AuditEntry] = []
        issues: list[tuple[str, str, str | None]] = []
        for k, there in placed.items():
            self.processed += 1
            if k in added:
                self.replicas += 1
                audit.append(("replica.add", there, {"path": paths[k], "drive": self.drive}))
            else:
                self.counts["unchanged"] += 1
        for k, (res, db_path, ident, old, source) in enumerate(
            zip(batch, paths, idents, olds, (moved.get(k) for k in range(len(batch))))
        ):
            if k in placed:
                continue
            assert ident is not None
            outcome = "added" if old is None else "changed"
            if source is not None:
                outcome = "moved"
                self.moved_from.add(source)
                audit.append(("move", ident, {"from": source, "to": db_path}))
            row = _row(res, ident, self.root, self.scan_id, self.pattern, t, self.root_db)
            if old is not None:
                if old["status"] == "registered":
                    outcome = "added"  # known from an imported table, first seen now
                _keep_old(row, old)
            rows.append(row)
            storage = res.candidate.source.storage
            for pos, f in enumerate(res.candidate.files):
                files.append(
                    {
                        "path": storage.url(f.path) if storage is not None else to_db(f.path),
                        "dataset_id": ident,
                        "size": f.size,
                        "mtime": f.mtime_ns / 1e9,
                        "checksum": res.file_checksums.get(f.rel),
                        "position": pos,
                        "etag": f.etag,
                    }
                )
            if res.info is not None or row["meta"]:
                meta = json.loads(row["meta"]) if row["meta"] else {}
                metas.extend(
                    {"dataset_id": ident, "key": k, "value": v, "num": n}
                    for k, v, n in flatten(meta)
                )
            self.processed += 1
            if res.ok:
                self.counts[outcome] += 1
            else:
                self.counts["failed"] += 1
                self.failed.append((display(res.candidate.source.location), res.error or ""))
                issues.append((db_path, "error", res.error))
            for w in res.warnings:
                issues.append((db_path, "warning", w))
            audit.append(
                (
                    "scan." + (outcome if res.ok else "failed"),
                    ident,
                    {
                        "path": db_path,
                        "checksum": res.checksum,
                        "error": res.error,
                        **(
                            {"before": {"checksum": old["checksum"], "path": old["path"]}}
                            if old is not None
                            else {}
                        ),
                    },
                )
            )
        out.replace(rows, files, metas)
        replicas.forget(con, ((str(idents[k]), src) for k, src in moved.items()))
        replicas.record_primary(con, ((r["id"], r["path"], self.drive, r["status"]) for r in rows))
        replicas.settle(con, [r["id"] for r in rows] + list(placed.values()))
        out.audit(audit)
        out.commit()  # search text, then audit
        _record_issues(con, self.scan_id, issues)

    @property
    def drive(self) -> str | None:
        """The drive this scan's datasets are on (``None``: object storage, unknown)."""
        return self.volume.id if self.volume is not None else None

    def _found_again(
        self,
        con: Connection,
        batch: list[Result],
        paths: list[str],
        olds: list[dict[str, Any] | None],
        taken: set[str],
    ) -> dict[int, str]:
        """``position -> id`` of the results of ``batch`` at a replica location of a
        dataset, with its content (:mod:`catalog.replicas`); they are seen now."""
        fresh = [k for k, o in enumerate(olds) if o is None and batch[k].ok and batch[k].checksum]
        if not fresh:
            return {}
        known = replicas.known_at(con, [paths[k] for k in fresh])
        out = {}
        for k in fresh:
            hit = known.get(paths[k])
            if hit is not None and hit[1] == batch[k].checksum and hit[0] not in taken:
                out[k] = hit[0]
        if out:
            replicas.seen(con, [paths[k] for k in out])
            con.executemany(  # their files as they are now: unread by the next rescan
                "UPDATE locations SET signature = ? WHERE path = ?",
                [(batch[k].candidate.signature, paths[k]) for k in out],
            )
        return out

    def _replicas(
        self,
        con: Connection,
        batch: list[Result],
        paths: list[str],
        idents: list[str | None],
        taken: set[str],
        again: dict[int, str],
    ) -> tuple[dict[int, str], set[int]]:
        """``position -> id`` of the results of ``batch`` that are locations of a known
        dataset: the replicas found ``again``, and copies (same full checksum) of a
        dataset living on another drive (object storage counts as one), not yet with
        a location on this drive, whose locations are recorded here (their positions
        are returned too)."""
        out = dict(again)
        rest = [
            k
            for k, i in enumerate(idents)
            if i is None and k not in out and batch[k].ok and batch[k].checksum
        ]
        if not rest or (self.volume is None and not is_remote(self.root_db)):
            return out, set()
        # a checksum with no dataset elsewhere has none for the rest of the scan (this
        # scan's datasets are on this drive): asked once, so identical files stay linear
        asked = [c for k in rest if (c := batch[k].checksum) and hash(c) not in self.lone]
        found = replicas.candidates(con, asked, self.drive, skip=taken | set(out.values()))
        self.lone.update(hash(c) for c in asked if c not in found)
        used: set[str] = set(out.values())
        added: set[int] = set()
        for k in rest:
            options = [o for o in found.get(batch[k].checksum or "", []) if o[0] not in used]
            if not options:
                continue  # more copies on this drive than datasets elsewhere: new ones
            ident = replicas.closest(paths[k], options)[0]
            used.add(ident)
            out[k] = ident
            added.add(k)
            replicas.add(con, ident, paths[k], self.drive, batch[k].candidate.signature)
        return out, added


def _record_issues(
    con: Connection, scan_id: int, issues: Iterable[tuple[str, str, str | None]]
) -> None:
    # messages may quote undecodable file names (a library's own error text)
    rows = [(scan_id, p, sev, msg and storable(msg), now()) for p, sev, msg in issues]
    if rows:
        con.executemany("INSERT INTO scan_issues VALUES (?, ?, ?, ?, ?)", rows)


def _pid_alive(pid: int | None, started: dt.datetime | None = None) -> bool:
    """Whether the scan process ``pid`` that registered a scan at ``started`` still
    runs: a process that took over the pid later is not it."""
    if not pid or not alive(pid):
        return False
    began = process_started(pid)
    # the scan registers itself after the process started (1 s: the boot time's rounding)
    return began is None or started is None or began <= started.timestamp() + 1.0


def _start(
    index: Path,
    root: Path,
    pattern: str | None,
    readers_fp: str,
    statuses: tuple[str, ...],
    root_db: str | None = None,
) -> tuple[int, str | None, KnownTree | None]:
    """Register the scan; return its id, the path pattern and what the index knows
    (``root_db``: a root in object storage, whose URL is stored; no known tree)."""
    host = socket.gethostname()
    with transaction(index) as con:
        for scan_id, pid, started in con.execute(
            "SELECT scan_id, pid, started FROM scans WHERE status = 'running' AND host = ?",
            [host],
        ).fetchall():
            if not _pid_alive(pid, started):
                con.execute("UPDATE scans SET status = 'interrupted' WHERE scan_id = ?", [scan_id])
        key = "pattern:" + (root_db or to_db(root))
        if pattern is None:
            row = con.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
            pattern = row[0] if row else None
        else:
            con.execute(
                "INSERT INTO settings VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, pattern],
            )
        seq = con.execute("SELECT nextval('scan_seq')").fetchone()
        assert seq is not None  # a SELECT without FROM returns exactly one row
        scan_id = seq[0]
        con.execute(
            "INSERT INTO scans VALUES (?, ?, ?, ?, ?, ?, NULL, 'running', NULL)",
            [scan_id, root_db or to_db(root), current_user(), host, os.getpid(), now()],
        )
        if root_db is not None or root.is_file():
            tree = None
        else:
            tree = known_mod.load(con, to_db(root), readers_fp, statuses)
    return scan_id, pattern, tree


def _known(con: Connection, root: Path | str) -> dict[str, tuple[str, str, str]]:
    """``db path -> (id, signature, status)`` of every dataset under ``root`` (a path,
    or a stored root: a URL)."""
    where = root if isinstance(root, str) else to_db(root)
    prefix = where.rstrip("/") + "/"
    rows = con.execute(
        "SELECT path, id, signature, status FROM datasets WHERE path = ? OR starts_with(path, ?)",
        [where, prefix],
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _sampled(con: Connection, root: Path) -> set[str]:
    """Db paths of the datasets under ``root`` whose checksum is only sampled."""
    prefix = to_db(root).rstrip("/") + "/"
    rows = con.execute(
        "SELECT path FROM datasets WHERE (path = ? OR starts_with(path, ?)) "
        "AND starts_with(checksum, ?)",
        [to_db(root), prefix, SAMPLED_PREFIX],
    ).fetchall()
    return {r[0] for r in rows}


def _pool(jobs: int) -> cf.ProcessPoolExecutor:
    return guarded_pool(jobs)


def _crashed(cand: Candidate) -> Result:
    return Result(
        candidate=cand,
        error=f"{display(cand.source.path)}: the reader crashed its worker "
        "process (a decoder fault on damaged data)",
    )


def _run_pool(
    todo: list[Candidate],
    jobs: int,
    cache: Path,
    thumbnails: bool,
    on_result: Any,
    full_checksums: bool = False,
    check: Any = None,
) -> None:
    """Process ``todo`` in worker processes that die with this one; a crashing worker
    fails only its dataset. ``check()`` raises to stop (a cancelled scan)."""
    work = functools.partial(
        process_safely, cache=cache, thumbnails=thumbnails, full_checksums=full_checksums
    )
    run_pool(todo, jobs, work, on_result, _crashed, make_pool=_pool, check=check)


def _run_cluster(
    client: Any,
    todo: list[Candidate],
    cache: Path,
    thumbnails: bool,
    on_result: Any,
    full_checksums: bool,
    check: Any = None,
) -> None:
    """Process ``todo`` as tasks on the Dask cluster of ``client``; this process stores
    the thumbnails the workers return. ``check()`` (or ``on_result``) raises to stop (a
    cancelled scan), which cancels the tasks not yet finished."""
    work = functools.partial(
        process_on_cluster, thumbnails=thumbnails, full_checksums=full_checksums
    )
    map_on_cluster(
        client,
        work,
        todo,
        lambda res: on_result(store_png(res, cache)),
        check=check,
        failed=cluster_failure,
    )


def scan(
    path: str | os.PathLike[str],
    index: str | os.PathLike[str] | None = None,
    *,
    jobs: int | None = None,
    pattern: str | None = None,
    progress: ProgressArg = None,
    thumbnails: bool = True,
    retry_failed: bool = False,
    full_checksums: bool = False,
    batch_seconds: float = 1.0,
    batch_size: int = 256,
    follow_links: bool | Sequence[str | os.PathLike[str]] = False,
    cancel: CancelFlag | None = None,
    scheduler: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> ScanReport:
    """Index every dataset under ``path`` into the DuckDB ``index``.

    ``path`` may be a URL of object storage (``s3://bucket/prefix``, or any protocol
    fsspec has installed): objects are grouped and read like files, through fsspec
    with ``storage_options`` (e.g. ``{"endpoint_url": "http://127.0.0.1:9000"}``).
    Credentials come from the environment or AWS profiles as boto does, or from
    ``storage_options``; the index keeps the options without them, per root, and
    rescans of the root reuse them.

    ``jobs`` worker processes (default: one per core; ``1`` runs in this process)
    extract metadata, checksums and thumbnails. With a Dask scheduler (``scheduler``
    such as ``"tcp://head:8786"``, else ``$VOXCAT_DASK_SCHEDULER``, else Dask's
    ``scheduler-address`` configuration) that work runs as tasks on the cluster
    instead (``jobs`` is then unused): its workers must see ``path`` at the same
    place; they read and return results, thumbnails as PNG bytes, and this process
    writes the index and the thumbnails. A scheduler that does not answer raises
    :class:`~catalog.errors.ClusterUnreachable` before anything is written; a dataset
    whose task fails (its workers died) is recorded failed with the cause.

    The drive ``path`` is on is recorded (:mod:`catalog.drives`): when it is not
    mounted, nothing is read and the datasets on it are marked ``offline`` (the report's
    ``offline`` says which drive to plug in); mounted at another place, it is found by
    its UUID and its datasets' paths follow it (ids kept, ``report.drive_moved``).

    ``pattern`` such as ``"{year}/{project}/{sample}"`` fills sample/project from folder names and is
    remembered for later scans of the same root. ``retry_failed`` re-reads datasets
    that failed before even if their files did not change. Files no reader claims
    that are bigger than 64 MiB get a sampled checksum (``"sampled:..."``: size,
    mtime and a few blocks) unless ``full_checksums``, which also replaces the sampled
    checksums the index holds under ``path``.

    Only regular files are read, and the scan stays inside ``path``: symlinks that lead
    out of it are recorded (``report.links``) and not followed, and a header naming a
    data file outside it fails with the cause. ``follow_links=True`` follows links
    anywhere; a list of folders follows them only into those folders.

    ``progress``: ``True`` draws a tqdm bar, ``False`` none, ``None`` (default) one when
    the output is a terminal; a callable receives a :class:`~catalog.progress.Progress`
    instead (phases ``walking``, ``reading``, ``thumbnails``, ``done``; bytes of the
    datasets read, datasets seen; ``extra["scan_id"]``, on a cluster also
    ``extra["scheduler"]`` and ``extra["dashboard"]``), at most ten times a second.
    ``cancel`` (a ``threading.Event``, or anything with ``is_set()``) is checked between
    folders of the walk and between datasets: once set, the scan stops as on Ctrl-C
    (finished datasets saved, the scan marked ``interrupted``) and raises
    :class:`~catalog.errors.ScanCancelled`.

    >>> report = scan("/data/old_drive", index="lab.duckdb")      # doctest: +SKIP
    >>> report["added"], report["failed"]                           # doctest: +SKIP
    (1832, 3)
    >>> scan("/lab/data", "lab.duckdb", scheduler="tcp://head:8786")  # doctest: +SKIP
    >>> stop = threading.Event()                                    # doctest: +SKIP
    >>> scan("/data/old_drive", "lab.duckdb", progress=print, cancel=stop)  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    remote = isinstance(path, str) and is_remote(path)
    if storage_options and not remote:
        raise ScanError(f"{display(path)}: storage_options are for URLs (s3://...), not paths")
    index_path = Path(os.path.abspath(resolve_index(index)))
    opts = _Options(
        t0=t0,
        jobs=jobs,
        pattern=pattern,
        progress=progress,
        thumbnails=thumbnails,
        retry_failed=retry_failed,
        # objects are hashed in full: a range read costs a request
        full_checksums=full_checksums or remote,
        batch_seconds=batch_seconds,
        batch_size=batch_size,
        cancel=cancel,
    )
    if remote:
        return _with_client(
            index_path,
            opts,
            scheduler,
            lambda: _scan_objects(str(path), index_path, opts, storage_options),
        )
    root = Path(os.path.abspath(path))
    # the root's drive: moved to another mount point (followed), or unplugged (offline)
    placed = drives.place(index_path, root)
    if placed.offline is not None:
        return _offline_report(root, index_path, placed, t0)
    root = placed.root
    if not os.path.lexists(root):
        raise ScanError(f"{display(root)}: no such file or folder")
    try:
        mode = os.stat(root).st_mode
    except OSError as exc:
        raise ScanError(f"{display(root)}: {exc.strerror}") from exc
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise ScanError(
            f"{display(root)}: {file_kind(mode)}, not a file or folder; nothing was scanned "
            "(voxcat reads regular files only)"
        )
    if not os.access(root, os.R_OK):
        raise ScanError(f"{display(root)}: permission denied")
    bounds = Bounds.of(root, follow_links)
    out = _with_client(
        index_path, opts, scheduler, lambda: _scan(root, index_path, opts, bounds, placed.volume)
    )
    out.drive_moved = placed.moved
    return out


def _with_client(
    index_path: Path, opts: _Options, scheduler: str | None, run: Callable[[], ScanReport]
) -> ScanReport:
    """``run()`` with the Dask client of ``scheduler`` (if any) in ``opts.client`` and
    the listing refreshed once at the end; a scan stopped before its end (while
    walking, say) is marked interrupted, not left ``running``."""
    address = scheduler_address(scheduler)
    try:
        with contextlib.ExitStack() as stack:
            # connected first: an unreachable scheduler fails before anything is written
            opts.client = stack.enter_context(cluster_client(address)) if address else None
            stack.enter_context(listing.bulk_write(index_path))  # one refresh at the end
            return run()
    except BaseException:
        if opts.started:
            _mark_interrupted(index_path, opts.started[0])
        raise


def _scan(
    root: Path, index_path: Path, opts: _Options, bounds: Bounds, volume: Volume | None
) -> ScanReport:
    """:func:`scan` of a folder (or a file) on a drive."""
    cancel = opts.cancel
    cache = cache_dir(index_path)
    compiled = PathPattern(opts.pattern) if opts.pattern else None
    readers = load_readers()
    readers_fp = known_mod.fingerprint(readers)
    # datasets that stay unchanged when their files do (see the classification below)
    reusable: tuple[str, ...] = ("ok", "missing", "offline")
    reusable += () if opts.retry_failed else ("failed",)
    scan_id, saved, tree = _start(index_path, root, opts.pattern, readers_fp, reusable)
    opts.started.append(scan_id)
    report = Reporter(callback_of(opts.progress))
    extra = _job_extra(scan_id, opts.client)
    report(Progress("walking", extra=extra), force=True)
    if compiled is None and saved:
        compiled = PathPattern(saved)

    walk_issues: list[tuple[str, str, str]] = []
    unreadable: list[str] = []

    def issue(p: str, severity: str, message: str) -> None:
        walk_issues.append((to_db(p), severity, message))
        if severity == "error" and "folder" in message:
            unreadable.append(to_db(p).rstrip("/") + "/")

    exclude = frozenset({index_path, Path(str(index_path) + ".wal"), cache})
    found: list[Candidate | Known] = []
    for item in walk(
        root, readers, issue=issue, exclude=exclude, known=tree, bounds=bounds, cancel=cancel
    ):
        found.append(item)
        if report.wants("walking"):
            report(Progress("walking", items=len(found), extra=extra))
    tree = None  # free it before the index is read again

    seen: set[str] = set()  # every dataset path the walk found (and regrouped below)
    writer = _Writer(index_path, root, scan_id, compiled, present=seen)
    writer.volume = volume
    todo: list[Candidate] = []
    unchanged: list[str] = []
    again: dict[str, set[str]] = {}  # folder -> reused datasets the index changed meanwhile
    with transaction(index_path) as con:
        known = _known(con, root)
        sampled = _sampled(con, root) if opts.full_checksums else set()  # to hash in full
        for item in found:
            if isinstance(item, Known):
                db_path = item.path
            else:
                db_path = to_db(item.source.path)
            seen.add(db_path)
            old = None if db_path in sampled else known.get(db_path)
            if _reusable(old, item.signature, opts.retry_failed):
                assert old is not None
                unchanged.append(old[0])
            elif isinstance(item, Known):
                again.setdefault(item.folder, set()).add(db_path)
            else:
                todo.append(item)
        todo, redraws = _settle(con, writer, cache, unchanged, todo, opts.thumbnails)
        finished = not todo and not again and not redraws
        if finished:  # nothing to read: close the scan in this same transaction
            missing = _vanished(known, seen, unreadable)
            _finish(con, scan_id, writer, missing, walk_issues, readers_fp)
    if finished:
        n = len(unchanged)
        report(Progress("done", 0, 0, n, n, extra=extra), force=True)
        return _report(root, index_path, scan_id, writer, walk_issues, 0, opts.t0)

    # datasets the walk reused but another process changed in the index meanwhile:
    # group their folders for real so they are processed like any other
    for folder, paths in again.items():
        for cand in regroup(
            Path(from_db(folder)), readers, issue=issue, exclude=exclude, bounds=bounds
        ):
            db_path = to_db(cand.source.path)
            if db_path in paths or db_path not in seen:
                seen.add(db_path)
                todo.append(cand)

    run = _Pass(root, index_path, cache, scan_id, writer, known, seen, unreadable, walk_issues)
    return _read(run, opts, readers_fp, todo, len(unchanged), redraws, report, extra)


@dataclasses.dataclass
class _Options:
    """How :func:`scan` was asked to run: the same for files and objects."""

    t0: float  # when the scan started (perf_counter)
    jobs: int | None
    pattern: str | None
    progress: ProgressArg
    thumbnails: bool
    retry_failed: bool
    full_checksums: bool
    batch_seconds: float
    batch_size: int
    cancel: CancelFlag | None = None
    client: Any = None  # a Dask client, or None: a local pool
    #: the scan id, once registered
    started: list[int] = dataclasses.field(default_factory=list)

    @property
    def workers(self) -> int:
        """Worker processes of the local pool (default: one per core)."""
        return max(1, self.jobs or os.cpu_count() or 1)


@dataclasses.dataclass
class _Pass:
    """What a scan knows when its reading phase starts: shared by files and objects."""

    root: Path | str  # as reported: the folder, or the URL of a prefix
    index_path: Path
    cache: Path
    scan_id: int
    writer: _Writer
    known: dict[str, tuple[str, str, str]]
    seen: set[str]  # every dataset path the walk found
    unreadable: list[str]  # folders the walk could not read: nothing under them vanished
    walk_issues: list[tuple[str, str, str]]


def _job_extra(scan_id: int, client: Any) -> dict[str, Any]:
    """The ``extra`` of a scan's progress: its id and, on a cluster, the dashboard."""
    extra: dict[str, Any] = {"scan_id": scan_id}
    if client is not None:  # a job links the cluster's dashboard
        extra["scheduler"] = client.scheduler.address
        link = dashboard_link(client)
        if link:
            extra["dashboard"] = link
    return extra


def _reusable(old: tuple[str, str, str] | None, signature: str, retry_failed: bool) -> bool:
    """Whether a dataset found with ``signature``, which the index holds as ``old``
    (id, signature, status), is unchanged: nothing to read. A failed one is read again
    only with ``retry_failed``; a missing or offline one came back as it was."""
    if old is None or old[1] != signature:
        return False
    return old[2] in ("ok", "missing", "offline") or (old[2] == "failed" and not retry_failed)


def _settle(
    con: Connection,
    writer: _Writer,
    cache: Path,
    unchanged: list[str],
    todo: list[Candidate],
    thumbnails: bool,
) -> tuple[list[Candidate], list[redraw.Job]]:
    """Mark the ``unchanged`` datasets seen (back to ``ok`` if they were missing or
    offline) and drop from ``todo`` the replicas whose files did not change. Returns
    what is left to read and the unchanged datasets whose thumbnail must be drawn."""
    if unchanged:
        con.execute(
            "UPDATE datasets SET last_seen = ?, scan_id = ?, "
            "error = CASE WHEN status = 'offline' THEN NULL ELSE error END, "
            "status = CASE WHEN status IN ('missing', 'offline') THEN 'ok' ELSE status END "
            "WHERE id IN (SELECT unnest(?))",
            [now(), writer.scan_id, unchanged],
        )
        replicas.primary_seen(con, unchanged)
    # replicas whose files did not change: found again without reading them
    kept = set(
        replicas.unchanged(con, writer.root_db, {c.source.location: c.signature for c in todo})
    )
    if kept:
        todo = [c for c in todo if c.source.location not in kept]
    writer.counts["unchanged"] = len(unchanged) + len(kept)
    # unchanged datasets whose thumbnail is gone or was never written
    redraws = (
        redraw.missing(con, cache, unchanged, retry_undrawable=False)[0]
        if thumbnails and unchanged
        else []
    )
    return todo, redraws


def _read(
    run: _Pass,
    opts: _Options,
    readers_fp: str,
    todo: list[Candidate],
    n_unchanged: int,
    redraws: list[redraw.Job],
    report: Reporter,
    extra: dict[str, Any],
) -> ScanReport:
    """The reading phase of a scan: ``todo`` processed (here, in a pool or on a
    cluster), results written in batches, missing thumbnails drawn, the scan closed."""
    writer, index_path, cache, scan_id = run.writer, run.index_path, run.cache, run.scan_id
    jobs, client, thumbnails, full_checksums = (
        opts.workers,
        opts.client,
        opts.thumbnails,
        opts.full_checksums,
    )
    batch_seconds, batch_size, cancel = opts.batch_seconds, opts.batch_size, opts.cancel
    unwritten: list[str] = []  # thumbnails that could not be written
    total = sum(c.size for c in todo)
    bar = _progress(bar_of(opts.progress), total, len(todo))
    done_bytes = 0  # read (a sampled checksum leaves most of a big file unread)
    seen_bytes = 0  # of the datasets finished, as the bar counts them
    items_total = n_unchanged + len(todo)

    def stop_if_cancelled() -> None:
        check(cancel, ScanCancelled, "the scan was cancelled")

    def on_result(res: Result) -> None:
        nonlocal done_bytes, seen_bytes
        done_bytes += res.candidate.size - res.unread
        seen_bytes += res.candidate.size
        unwritten.extend(w for w in res.warnings if w.startswith(UNWRITTEN))
        writer.add(res, batch_size, batch_seconds)
        n = writer.processed + len(writer.pending)
        if bar is not None:
            bar.update(res.candidate.size)
            bar.set_postfix_str(f"{n}/{len(todo)} datasets")
        if report.wants("reading"):
            report(
                Progress("reading", seen_bytes, total, n_unchanged + n, items_total, extra=extra)
            )
        stop_if_cancelled()  # after this result is handed to the writer, which keeps it

    report(Progress("reading", 0, total, n_unchanged, items_total, extra=extra), force=True)
    try:
        if client is not None:
            _run_cluster(
                client, todo, cache, thumbnails, on_result, full_checksums, stop_if_cancelled
            )
        elif jobs == 1 or len(todo) <= 1:
            for cand in todo:
                stop_if_cancelled()
                on_result(process_safely(cand, cache, thumbnails, full_checksums))
        else:
            _run_pool(todo, jobs, cache, thumbnails, on_result, full_checksums, stop_if_cancelled)
        writer.flush()
        if redraws:
            report(
                Progress("thumbnails", seen_bytes, total, items_total, items_total, extra=extra),
                force=True,
            )
        redrawn = _redraw(
            index_path,
            cache,
            scan_id,
            redraws,
            jobs,
            batch_seconds,
            unwritten,
            stop_if_cancelled,
            client=client,
        )
    except BaseException as exc:
        _stopped(exc, index_path, scan_id, writer)
        raise
    finally:
        if bar is not None:
            bar.close()

    vanished = _vanished(run.known, run.seen, run.unreadable)
    missing = [p for p in vanished if p not in writer.moved_from]
    try:
        with transaction(index_path) as con:
            _finish(con, scan_id, writer, missing, run.walk_issues, readers_fp)
    except DiskFullError as exc:
        raise DiskFullError(exc.cause, _saved(writer)) from exc
    out = _report(run.root, index_path, scan_id, writer, run.walk_issues, done_bytes, opts.t0)
    out.thumbnails = {"redrawn": redrawn, "unwritten": len(unwritten)}
    if unwritten:
        out.thumbnail_error = unwritten[0][len(UNWRITTEN) :]
    report(Progress("done", seen_bytes, total, items_total, items_total, extra=extra), force=True)
    return out


def _offline_report(
    root: Path, index_path: Path, placed: drives.Placement, t0: float
) -> ScanReport:
    """The report of a scan whose root is on an unplugged drive: nothing was read."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    counts["offline"] = placed.offline_datasets
    return ScanReport(
        root=display(root),
        index=display(index_path),
        scan_id=0,
        counts=counts,
        seconds=time.perf_counter() - t0,
        offline=placed.offline,
    )


def _saved(writer: _Writer) -> str:
    n = writer.saved
    return (
        f"{n:,} {'dataset was' if n == 1 else 'datasets were'} saved, free some space and "
        "rerun the scan to continue"
    )


def _stopped(exc: BaseException, index_path: Path, scan_id: int, writer: _Writer) -> None:
    """The scan stops on ``exc`` (Ctrl-C, SIGTERM, a full disk): save what is finished
    and mark the scan interrupted, as far as the disk allows; a full disk raises
    :class:`DiskFullError` saying what was saved."""
    full = exc if disk_full(exc) else None
    failed: BaseException | None = None
    if full is None:
        try:
            writer.flush()  # keep every finished dataset, even on Ctrl-C
        except BaseException as again:
            full, failed = (again, None) if disk_full(again) else (None, again)
    _mark_interrupted(index_path, scan_id)
    if full is not None:
        raise DiskFullError(disk_full_cause(full, index_path), _saved(writer)) from full
    if failed is not None:
        raise failed


def _mark_interrupted(index_path: Path, scan_id: int) -> None:
    """Mark a scan that stopped before its end ``interrupted`` (if this fails too, the
    next scan does it: this pid will be gone by then)."""
    with contextlib.suppress(Exception), transaction(index_path) as con:
        con.execute(
            "UPDATE scans SET status = 'interrupted', finished = ? "
            "WHERE scan_id = ? AND status = 'running'",
            [now(), scan_id],
        )


def _redraw(
    index_path: Path,
    cache: Path,
    scan_id: int,
    jobs: list[redraw.Job],
    workers: int,
    batch_seconds: float,
    unwritten: list[str],
    check: Any = None,
    client: Any = None,
) -> int:
    """Draw the missing thumbnails of unchanged datasets; returns how many were drawn.
    ``check()`` is called between thumbnails (it raises to stop)."""
    if not jobs:
        return 0
    where = {j.id: j.path for j in jobs}
    pending: list[redraw.Drawn] = []
    drawn = 0
    last = time.monotonic()

    def flush() -> None:
        nonlocal last
        last = time.monotonic()
        if pending:
            with transaction(index_path) as con:
                redraw.record(con, pending)
                _record_issues(
                    con,
                    scan_id,
                    ((where[d.id], "warning", d.warning) for d in pending if d.warning),
                )
            pending.clear()

    def on_drawn(d: redraw.Drawn) -> None:
        nonlocal drawn
        pending.append(d)
        drawn += d.thumbnail is not None
        if d.warning and d.warning.startswith(UNWRITTEN):
            unwritten.append(d.warning)
        if time.monotonic() - last >= batch_seconds:
            flush()

    try:
        redraw.run(jobs, cache, workers, on_drawn, check=check, client=client)
    finally:
        with contextlib.suppress(DiskFullError):
            flush()
    return drawn


def _vanished(
    known: dict[str, tuple[str, str, str]], seen: set[str], unreadable: list[str]
) -> list[str]:
    """Known paths the walk did not find (outside folders it could not read)."""
    return [
        p
        for p, (_i, _s, status) in known.items()
        if p not in seen and status != "missing" and not any(p.startswith(u) for u in unreadable)
    ]


def _finish(
    con: Connection,
    scan_id: int,
    writer: _Writer,
    missing: list[str],
    walk_issues: list[tuple[str, str, str]],
    readers_fp: str,
) -> None:
    """Mark vanished datasets missing, record the walk's issues, close the scan."""
    counts = writer.counts
    counts["missing"] = len(missing)
    if missing:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT id FROM datasets WHERE path IN (SELECT unnest(?)) AND status <> 'missing' "
                "AND NOT EXISTS (SELECT 1 FROM locations l WHERE l.dataset_id = datasets.id "
                "AND l.path = datasets.path AND l.status = 'missing')",  # ok by a replica
                [missing],
            ).fetchall()
        ]
        con.execute(
            "UPDATE datasets SET status = 'missing', scan_id = ?, "
            "error = CASE WHEN status = 'offline' THEN NULL ELSE error END "
            "WHERE id IN (SELECT unnest(?))",
            [scan_id, ids],
        )
        append_audit(con, (("scan.missing", i, {}) for i in ids), writer.user)
        replicas.primary_missing(con, ids)
        replicas.settle(con, ids)
    gone = replicas.vanished(con, writer.root_db, writer.sources.present)
    if gone:
        append_audit(con, (("replica.missing", i, {}) for i in gone), writer.user)
        replicas.settle(con, gone)
    _record_issues(con, scan_id, walk_issues)
    if writer.volume is not None:
        drives.record(con, writer.root_db, writer.volume, scan_id)
    kinds = con.execute(
        "SELECT count(*) FILTER (kind <> 'file'), count(*) FILTER (kind = 'file') "
        "FROM datasets WHERE scan_id = ? AND status <> 'missing'",
        [scan_id],
    ).fetchone()
    assert kinds is not None  # an aggregate without GROUP BY returns exactly one row
    counts["datasets"], counts["files"] = kinds
    written = sum(counts[k] for k in ("added", "changed", "moved", "failed"))
    if written >= REBUILD_ABOVE:  # many appended terms: sort them again for lookups
        rebuild_terms(con)
    con.execute(
        "UPDATE scans SET status = 'done', finished = ?, counts = ? WHERE scan_id = ?",
        [now(), json.dumps(counts), scan_id],
    )
    known_mod.record(con, scan_id, readers_fp)


def _report(
    root: Path | str,
    index_path: Path,
    scan_id: int,
    writer: _Writer,
    walk_issues: list[tuple[str, str, str]],
    done_bytes: int,
    t0: float,
) -> ScanReport:
    return ScanReport(
        root=display(root),
        index=display(index_path),
        scan_id=scan_id,
        counts=writer.counts,
        failed=writer.failed,
        issues=[(display(p), s, m) for p, s, m in walk_issues],
        bytes_processed=done_bytes,
        seconds=time.perf_counter() - t0,
        replicas=writer.replicas,
    )


def _progress(progress: bool | None, total: int, n: int) -> Any:
    """The tqdm bar of the reading phase (plain tqdm: no widgets in a kernel)."""
    if progress is False or n == 0:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc="scanning",
        disable=None if progress is None else False,
        dynamic_ncols=True,
    )


def _scan_objects(
    url: str, index_path: Path, opts: _Options, storage_options: dict[str, Any] | None
) -> ScanReport:
    """:func:`scan` of a prefix in object storage (``catalog/scanner/objects.py``);
    with a Dask ``client`` the objects are read by its workers (which reach the
    storage with the options given, or with their own credentials)."""
    from .objects import walk_objects

    protocol, inner = split_url(url)
    root_db = f"{protocol}://{inner}"
    key = STORAGE_KEY + root_db
    if storage_options is None:  # a rescan: the root's options as the index keeps them
        with transaction(index_path) as con:
            row = con.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
        storage_options = json.loads(row[0]) if row else {}
    storage = Storage.of(protocol, storage_options)
    root = Path(inner)
    cache = cache_dir(index_path)

    readers = load_readers()
    readers_fp = known_mod.fingerprint(readers)
    scan_id, saved, _tree = _start(
        index_path, root, opts.pattern, readers_fp, ("ok",), root_db=root_db
    )
    opts.started.append(scan_id)
    compiled = (
        PathPattern(opts.pattern) if opts.pattern else (PathPattern(saved) if saved else None)
    )
    report = Reporter(callback_of(opts.progress))
    extra = _job_extra(scan_id, opts.client)
    report(Progress("walking", extra=extra), force=True)
    walk_issues: list[tuple[str, str, str]] = []

    def issue(p: str, severity: str, message: str) -> None:
        walk_issues.append((p, severity, message))

    with transaction(index_path) as con:  # what the index holds: read nothing of those
        held = {
            r[0]: (r[1], r[2])
            for r in con.execute(
                "SELECT path, signature, reader FROM datasets "
                "WHERE starts_with(path, ?) AND status <> 'failed'",
                [root_db.rstrip("/") + "/"],
            ).fetchall()
        }
    found = walk_objects(storage, inner, readers, issue, held)
    check(opts.cancel, ScanCancelled, "the scan was cancelled")
    seen: set[str] = set()
    writer = _Writer(index_path, root, scan_id, compiled, present=seen, root_db=root_db)
    todo: list[Candidate] = []
    unchanged: list[str] = []
    with transaction(index_path) as con:
        known = _known(con, root_db)
        if not found and not known:
            from ..errors import BucketNotFound

            raise BucketNotFound(f"{root_db}: no objects under this prefix; nothing was scanned")
        con.execute(
            "INSERT INTO settings VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, json.dumps(storage.public, sort_keys=True)],
        )
        for cand in found:
            db_path = cand.source.location
            seen.add(db_path)
            old = known.get(db_path)
            if _reusable(old, cand.signature, opts.retry_failed):
                assert old is not None
                unchanged.append(old[0])
            else:
                todo.append(cand)
        todo, redraws = _settle(con, writer, cache, unchanged, todo, opts.thumbnails)
        if not todo and not redraws:
            _finish(con, scan_id, writer, _vanished(known, seen, []), walk_issues, readers_fp)
    if not todo and not redraws:
        n = len(unchanged)
        report(Progress("done", 0, 0, n, n, extra=extra), force=True)
        return _report(root_db, index_path, scan_id, writer, walk_issues, 0, opts.t0)
    run = _Pass(root_db, index_path, cache, scan_id, writer, known, seen, [], walk_issues)
    return _read(run, opts, readers_fp, todo, len(unchanged), redraws, report, extra)


#: ``settings`` key prefix of a root in object storage: its storage options, without
#: credentials (:func:`catalog.remote.public_options`)
STORAGE_KEY = "storage:"
