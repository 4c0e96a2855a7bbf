"""Integrity check: re-hash datasets and compare with the checksums the index holds.

``verify`` never changes data: it reads every file of every copy (location, see
:mod:`catalog.replicas`) of the selected datasets, reports each dataset as
``unchanged``, ``modified``, ``missing`` or ``unverifiable`` (no checksum recorded, e.g.
registered from a table and never scanned; or every copy on a drive that is not
plugged in, ``offline``, whose files are not read), records the outcome in the audit
log and each copy's in its location: ``ok`` with ``last_verified`` set, ``corrupt``
(bytes differ) or, for a replica, ``missing`` (a primary copy found missing keeps its
status until a rescan marks the dataset; either loses its ``last_verified``). The
dataset rows keep their fields; their ``copies`` count is recounted. :func:`verify_location` verifies one copy. A file whose checksum is sampled
(a big non-image file scanned without ``full_checksums``) is sampled again: its size,
mtime and sampled blocks are compared, not every byte.

>>> report = verify("lab.duckdb")                                  # doctest: +SKIP
>>> report.counts                                                 # doctest: +SKIP
{'unchanged': 812, 'modified': 1, 'missing': 2, 'unverifiable': 0}

With ``scheduler=`` (or ``$VOXCAT_DASK_SCHEDULER``) the files are read and hashed on a
Dask distributed cluster (see :mod:`catalog.cluster`); the workers return checksums
and this process compares them and writes the audit rows, so the report and the audit
log are the same as with the local pool.

>>> verify("lab.duckdb", scheduler="tcp://10.0.0.5:8786").ok      # doctest: +SKIP
True
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .cluster import dashboard_link, map_on_cluster, scheduler_address
from .errors import VerifyCancelled
from .index import connect, resolve_index, transaction
from .index.store import append_audit, current_user, now
from .paths import display, from_db, resolve_for_db
from .progress import CancelFlag, Progress, ProgressArg, Reporter, bar_of, callback_of, check
from .remote import STORAGE_OPTIONS, is_remote
from .scanner.checksum import SAMPLED_READ, is_sampled, same_kind

OUTCOMES = ("unchanged", "modified", "missing", "unverifiable")
#: files per task on a Dask cluster (a task per file costs more than hashing a slice)
CLUSTER_BATCH = 16


@dataclasses.dataclass
class VerifyReport:
    """Per-dataset outcomes of :func:`verify`."""

    index: str
    results: dict[str, dict[str, Any]]  # id -> {"outcome", "name", "files": [...]}
    seconds: float
    bytes_read: int

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(OUTCOMES, 0)
        for r in self.results.values():
            out[r["outcome"]] += 1
        return out

    @property
    def corrupt(self) -> list[dict[str, Any]]:
        """The copies whose bytes differ from the index's checksums (each with the
        dataset ``id``, its ``path`` and ``drive``)."""
        return [
            {"id": i, **c}
            for i, r in self.results.items()
            for c in r.get("copies", ())
            if c["outcome"] == "modified"
        ]

    @property
    def missing(self) -> list[dict[str, Any]]:
        """The copies whose files are gone (of datasets with an intact copy too)."""
        return [
            {"id": i, **c}
            for i, r in self.results.items()
            for c in r.get("copies", ())
            if c["outcome"] == "missing"
        ]

    @property
    def offline(self) -> list[dict[str, Any]]:
        """The copies not read because their drive is not plugged in."""
        return [
            {"id": i, **c}
            for i, r in self.results.items()
            for c in r.get("copies", ())
            if c["outcome"] == "offline"
        ]

    @property
    def ok(self) -> bool:
        c = self.counts
        return c["modified"] == 0 and c["missing"] == 0

    def __str__(self) -> str:
        c = self.counts
        lines = [
            f"Verified {len(self.results)} datasets of {self.index} in {self.seconds:.1f} s "
            f"({self.bytes_read / 1e9:.2f} GB read): "
            + ", ".join(f"{k}: {v}" for k, v in c.items())
        ]
        copies = {"corrupt": self.corrupt, "missing": self.missing, "offline": self.offline}
        if any(copies.values()):
            lines[0] += "; copies " + ", ".join(f"{k}: {len(v)}" for k, v in copies.items())
        for ident, r in sorted(self.results.items(), key=lambda kv: kv[1]["name"]):
            if r.get("offline"):
                lines.append(f"  OFFLINE   {ident} {r['name']}: {r['offline']}")
                continue
            several = len(r.get("copies", ())) > 1
            for c in r.get("copies", ()):
                where = f"copy on drive {c['drive'] or '?'} at {display(c['path'])}"
                if c["outcome"] in ("modified", "missing"):
                    files = ", ".join(
                        display(f["path"]) for f in c["files"] if f["outcome"] != "unchanged"
                    )
                    label = "CORRUPT" if c["outcome"] == "modified" and several else None
                    label = label or c["outcome"].upper()
                    said = f"{where}: {files}" if several else files
                    lines.append(f"  {label:9} {ident} {r['name']}: {said}")
                elif c["outcome"] == "offline":
                    lines.append(
                        f"  OFFLINE   {ident} {r['name']}: {where} not verified "
                        f"(unverifiable): {c['offline']}"
                    )
        return "\n".join(lines)


def _check(
    path: str, expected: str | None, storage: str | None = None
) -> tuple[str, str | None, int]:
    if is_remote(path):
        return _check_object(path, expected, json.loads(storage or "{}"))
    p = Path(from_db(path))
    try:
        size = os.stat(p).st_size
    except FileNotFoundError:
        return "missing", None, 0
    except OSError as exc:
        return "missing", f"error: {exc.strerror}", 0
    try:
        found = same_kind(p, expected)
    except OSError as exc:
        return "missing", f"error: {exc.strerror}", 0
    if is_sampled(expected):
        size = min(size, SAMPLED_READ)  # what was read
    if expected is None:
        return "unverifiable", found, size
    return ("unchanged" if found == expected else "modified"), found, size


def _numbered_check(
    task: tuple[int, list[tuple[str, str | None, str | None]]],
) -> tuple[int, list[tuple[str, str | None, int]]]:
    """:func:`_check` of each ``(path, expected)`` of a numbered batch: one task on a
    Dask cluster, whose results come back in no set order."""
    number, files = task
    return number, [_check(*item) for item in files]


def _check_object(
    url: str, expected: str | None, options: dict[str, Any]
) -> tuple[str, str | None, int]:
    """:func:`_check` of an object in storage: its bytes streamed and hashed again."""
    from .errors import BucketNotFound, StorageError
    from .remote import Storage, object_checksum, split_url

    protocol, key = split_url(url)
    storage = Storage.of(protocol, options)
    try:
        size = int(storage.info(key).get("size") or 0)
        found = object_checksum(storage, key, size)
    except BucketNotFound:
        return "missing", None, 0
    except StorageError as exc:
        return "missing", f"error: {exc}", 0
    if expected is None:
        return "unverifiable", found, size
    return ("unchanged" if found == expected else "modified"), found, size


#: every place each selected dataset's content lives (catalog/replicas.py), the
#: primary one first; a dataset with no location row (an index written before
#: replicas, or registered) is read at its own path
_PLACES = """
WITH places AS (
    SELECT dataset_id, path, drive, status FROM locations
    UNION ALL
    SELECT id, path, drive, CASE WHEN status IN ('missing', 'offline') THEN status
        ELSE 'ok' END FROM datasets d
    WHERE NOT EXISTS (SELECT 1 FROM locations l WHERE l.dataset_id = d.id AND l.path = d.path)
)
SELECT p.dataset_id, d.name, d.path, p.path, p.drive, p.status, r.label, r.uuid,
    r.mount_point
FROM places p JOIN datasets d ON d.id = p.dataset_id LEFT JOIN drives r ON r.id = p.drive
{where}
ORDER BY p.dataset_id, p.path <> d.path, p.path
"""
_FILES = """
SELECT f.dataset_id, f.path, f.checksum, CASE WHEN f.etag IS NOT NULL THEN d.options END
FROM files f JOIN datasets d ON d.id = f.dataset_id
{where}
ORDER BY f.dataset_id, f.position
"""
#: the worst outcome first: what a copy (and a dataset) is, from its files
_WORST = ("missing", "modified", "unverifiable", "unchanged")


@dataclasses.dataclass
class _Copy:
    """One location of a dataset to verify: where it is and what its files should be."""

    ident: str
    name: str
    path: str  # db path of the location
    primary: bool
    drive: str | None
    drive_name: str | None
    offline: str | None  # the offline message: its drive is not plugged in
    files: list[tuple[str, str | None, str | None]]  # (db path, expected, storage)


def _dataset_outcome(outcomes: Iterable[str]) -> str:
    """A dataset's outcome from its copies': ``modified`` when one is corrupt (bytes
    differ), else ``unchanged`` when one is intact (a lost copy is reported as a copy,
    the dataset is safe), else the worst.

    >>> _dataset_outcome(["missing", "unchanged"]), _dataset_outcome(["unchanged", "modified"])
    ('unchanged', 'modified')
    """
    seen = set(outcomes)
    for outcome in ("modified", "unchanged"):
        if outcome in seen:
            return outcome
    return _worst(seen)


def _worst(outcomes: Iterable[str]) -> str:
    seen = set(outcomes)
    return next((o for o in _WORST if o in seen), "unverifiable")


def _copies(con: Any, ids: list[str] | None, base: Path) -> tuple[list[_Copy], dict[str, str]]:
    """The copies of the datasets ``ids`` (``None``: all) and ``id -> name`` of them."""
    from .drives import _name, offline_message

    where = "" if ids is None else "WHERE d.id IN (SELECT unnest($ids))"
    params: dict[str, Any] = {} if ids is None else {"ids": ids}
    places = con.execute(_PLACES.replace("{where}", where), params).fetchall()
    found = con.execute(_FILES.replace("{where}", where), params).fetchall()
    files: dict[str, list[tuple[str, str | None, str | None]]] = {}
    for ident, p, checksum, options in found:
        reach = None
        if options is not None:  # an object in storage: its root's options, no secrets
            reach = json.dumps((json.loads(options) or {}).get(STORAGE_OPTIONS) or {})
        files.setdefault(ident, []).append((p, checksum, reach))
    names: dict[str, str] = {}
    mounted: dict[str, bool] = {}
    out = []
    for ident, name, primary, loc, drive, status, label, uuid, mount in places:
        names[ident] = name
        mine = files.get(ident, [])
        if loc != primary:  # a replica: the same files, under its own path
            cut = primary.rstrip("/")
            mine = [
                (
                    loc.rstrip("/") + p[len(cut) :] if p == cut or p.startswith(cut + "/") else p,
                    c,
                    "{}" if is_remote(loc) else None,
                )
                for p, c, _r in mine
            ]
        mine = [(resolve_for_db(p, base), c, r) for p, c, r in mine]
        offline = None
        here = resolve_for_db(loc, base)
        if not is_remote(here) and not os.path.lexists(from_db(here)):
            if mount and mount not in mounted:
                mounted[mount] = os.path.ismount(from_db(mount))
            if status == "offline" or (mount and not mounted[mount]):
                offline = offline_message(_name(label, uuid, mount), mount)
        named = _name(label, uuid, mount) if drive else None
        out.append(_Copy(ident, name, loc, loc == primary, drive, named, offline, mine))
    return out, names


def _outcome_of(copy: _Copy, checked: list[tuple[str, str | None, int]]) -> dict[str, Any]:
    """A copy's result: its outcome (the worst of its files') and the files that are
    not unchanged."""
    files = [
        {
            "path": from_db(p),  # what open() takes; printed with display()
            "outcome": outcome,
            "expected": expected,
            "found": found,
        }
        for (p, expected, _r), (outcome, found, _size) in zip(copy.files, checked, strict=True)
    ]
    return {
        "path": from_db(copy.path),
        "drive": copy.drive_name,
        "drive_id": copy.drive,
        "primary": copy.primary,
        "outcome": "offline" if copy.offline else _worst(str(f["outcome"]) for f in files),
        "offline": copy.offline,
        "files": files,
    }


#: a copy's outcome -> the status its location gets (``None``: left as it is)
_STATUS = {"unchanged": "ok", "modified": "corrupt", "missing": "missing"}


def _new_status(copy: dict[str, Any]) -> str | None:
    """The status verify gives a copy's location. A primary location found missing
    keeps its status: marking the dataset missing is a scan's work (a scan reads a
    primary location ``missing`` under an ``ok`` dataset as "ok by a replica")."""
    if copy["outcome"] == "missing" and copy["primary"]:
        return None
    return _STATUS.get(copy["outcome"])


def _record(con: Any, results: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Write each verified copy's status (``ok``, ``corrupt``, ``missing``: see
    :func:`_new_status`) into ``locations`` (with ``con``, inside the caller's
    transaction), ``last_verified`` now for intact ones and none for missing ones (the
    last verify did not find them), and recount the copies of those datasets."""
    from . import replicas
    from .paths import to_db

    t = now()
    rows = [
        (ident, to_db(c["path"]), _new_status(c), c["outcome"])
        for ident, c in results
        if c["outcome"] in _STATUS
    ]
    if not rows:
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _verified AS SELECT unnest(?) AS dataset_id, "
        "unnest(?) AS path, unnest(?) AS status, unnest(?) AS outcome",
        [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]],
    )
    con.execute(
        "UPDATE locations l SET status = coalesce(v.status, l.status), "
        "last_verified = CASE v.outcome WHEN 'unchanged' THEN $t WHEN 'missing' THEN NULL "
        "ELSE l.last_verified END, "
        "last_seen = CASE WHEN v.outcome = 'missing' THEN l.last_seen ELSE $t END "
        "FROM _verified v WHERE l.dataset_id = v.dataset_id AND l.path = v.path",
        {"t": t},
    )
    con.execute("DROP TABLE _verified")
    replicas.settle(con, sorted({r[0] for r in rows}))


def _audit_entries(
    results: dict[str, dict[str, Any]],
) -> list[tuple[str, str | None, dict[str, Any]]]:
    entries: list[tuple[str, str | None, dict[str, Any]]] = []
    for ident, r in results.items():
        detail: dict[str, Any] = {
            "files": [f for f in r["files"] if f["outcome"] != "unchanged"][:50],
            "copies": [
                {"path": c["path"], "drive": c["drive"], "outcome": c["outcome"]}
                for c in r["copies"]
            ][:50],
        }
        entries.append(("verify." + r["outcome"], ident, detail))
    return entries


def verify_location(
    index: str | os.PathLike[str] | Any, dataset_id: str, path: str | os.PathLike[str]
) -> dict[str, Any]:
    """Verify one copy of a dataset: the files of its location ``path`` (a folder or
    file path, or a URL; one of ``cat.locations(dataset_id)``) against the checksums
    the index holds. The location gets status ``ok`` and ``last_verified`` now when
    intact, ``corrupt`` when bytes differ, ``missing`` when files are gone (nothing
    is written when its drive is offline); the outcome is audited (``verify.copy``).

    ``index`` is an index path, or a connection inside the caller's write
    transaction (then nothing is committed here). Returns the copy's result:
    ``path``, ``drive`` (its name), ``drive_id``, ``primary``, ``outcome``
    (``unchanged``, ``modified``, ``missing``, ``unverifiable`` or ``offline``),
    ``offline`` (the message naming the drive to plug in) and ``files``.

    >>> verify_location("lab.duckdb", "k2x9q4m1abcd", "/srv/lab-data/rocks/granite.tif")
    ... # doctest: +SKIP
    {'path': '/srv/lab-data/rocks/granite.tif', 'drive': 'srv', 'outcome': 'unchanged', ...}
    """
    import duckdb

    from .errors import DatasetNotFound
    from .paths import to_db

    target = str(path) if is_remote(str(path)) else to_db(os.path.abspath(path))
    own = isinstance(index, duckdb.DuckDBPyConnection)
    if isinstance(index, duckdb.DuckDBPyConnection):  # the folder of its index file
        row = index.execute(
            "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
        ).fetchone()
        base = Path(row[0]).resolve().parent if row and row[0] else Path.cwd()
    else:
        base = resolve_index(index).resolve().parent

    def find(con: Any) -> _Copy:
        copies, _names = _copies(con, [dataset_id], base)
        for c in copies:
            if c.path == target or resolve_for_db(c.path, base) == target:
                return c
        known = ", ".join(display(from_db(c.path)) for c in copies) or "none"
        raise DatasetNotFound(
            f"{display(from_db(target))} is not a location of dataset {dataset_id!r} "
            f"(its locations: {known})"
        )

    def record(con: Any, copy: _Copy, result: dict[str, Any]) -> None:
        _record(con, [(dataset_id, {**result, "path": from_db(copy.path)})])
        detail = {
            "path": result["path"],
            "drive": result["drive"],
            "outcome": result["outcome"],
            "files": [f for f in result["files"] if f["outcome"] != "unchanged"][:50],
        }
        append_audit(con, [("verify.copy", dataset_id, detail)], current_user())

    if own:
        copy = find(index)
        result = _outcome_of(copy, [] if copy.offline else [_check(*f) for f in copy.files])
        record(index, copy, result)
        return result
    with connect(resolve_index(index), read_only=True) as con:
        copy = find(con)
    result = _outcome_of(copy, [] if copy.offline else [_check(*f) for f in copy.files])
    with transaction(resolve_index(index)) as con:
        record(con, copy, result)
    return result


def verify(
    index: str | os.PathLike[str] | None = None,
    selection: Iterable[str] | Any = None,
    *,
    jobs: int | None = None,
    progress: ProgressArg = None,
    scheduler: str | None = None,
    cancel: CancelFlag | None = None,
) -> VerifyReport:
    """Re-hash the files of every copy of ``selection`` (a catalogue, ids, or ``None``
    for every dataset) and compare with the index; the result goes to the audit log
    and each copy's status to its location (see :func:`verify_location`).

    Every location of a dataset (its replicas too: :mod:`catalog.replicas`) is read,
    unless its drive is not plugged in: that copy is reported ``offline``, naming the
    drive. A copy whose bytes differ is marked ``corrupt``; the report names its drive
    and path. A dataset's outcome: ``modified`` when a copy is corrupt, else
    ``unchanged`` when a copy is intact (a copy whose files are gone is listed in
    :attr:`VerifyReport.missing` and printed, naming its drive), else ``missing`` or
    ``unverifiable``; with every copy offline it is ``unverifiable``.

    The files are read in ``jobs`` local threads, or on the Dask cluster whose
    scheduler is at ``scheduler`` (default ``$VOXCAT_DASK_SCHEDULER``, else Dask's
    ``scheduler-address`` configuration), whose workers must see the files at the
    same paths. ``progress``: a tqdm bar (``True``; ``None``: on a terminal) or a
    callable receiving :class:`~catalog.progress.Progress` (phase ``verifying``, files
    done of all; ``extra["dashboard"]`` on a cluster). ``cancel`` (a
    ``threading.Event``) stops it between files, cancelling the tasks on a cluster, and
    raises :class:`~catalog.errors.VerifyCancelled` with nothing recorded.

    >>> verify("lab.duckdb", scheduler="tcp://127.0.0.1:8786").counts  # doctest: +SKIP
    {'unchanged': 812, 'modified': 1, 'missing': 2, 'unverifiable': 0}
    """
    address = scheduler_address(scheduler)
    path = resolve_index(index)
    t0 = time.perf_counter()
    ids = None if selection is None else list(selection)
    base = path.resolve().parent  # an export's index stores paths relative to its folder
    with connect(path, read_only=True) as con:
        copies, names = _copies(con, ids, base)
        if ids is not None:  # a selected dataset with no location still has a result
            names.update(
                con.execute(
                    "SELECT id, name FROM datasets WHERE id IN (SELECT unnest(?))", [ids]
                ).fetchall()
            )
    # (copy number, file number, db path, expected, storage) of every file to read
    rows = [
        (k, j, p, c, r)
        for k, copy in enumerate(copies)
        if not copy.offline
        for j, (p, c, r) in enumerate(copy.files)
    ]
    checked: list[list[tuple[str, str | None, int]]] = [
        [("unverifiable", None, 0)] * len(c.files) for c in copies
    ]
    bar = None
    shows = bar_of(progress)
    if shows or (shows is None and os.isatty(2)):
        from tqdm import tqdm

        bar = tqdm(total=len(rows), unit="file", desc="verify")
    report_to = Reporter(callback_of(progress))
    extra: dict[str, Any] = {}
    read = 0
    done_files = 0

    def stop_if_cancelled() -> None:
        check(cancel, VerifyCancelled, "verify was cancelled; nothing was recorded")

    def tell(n: int, force: bool = False) -> None:
        nonlocal done_files
        done_files += n
        if bar is not None:
            bar.update(n)
        report_to(
            Progress("verifying", done_files, len(rows), done_files, len(rows), "file", extra),
            force=force,
        )

    def on_client(client: Any) -> None:  # a job links the cluster's dashboard
        extra["scheduler"] = client.scheduler.address
        link = dashboard_link(client)
        if link:
            extra["dashboard"] = link
        tell(0, force=True)

    stop_if_cancelled()
    if address is not None:
        batches = [rows[k : k + CLUSTER_BATCH] for k in range(0, len(rows), CLUSTER_BATCH)]
        done: dict[int, list[tuple[str, str | None, int]]] = {}

        def on_batch(result: tuple[int, list[tuple[str, str | None, int]]]) -> None:
            done[result[0]] = result[1]
            tell(len(result[1]))

        map_on_cluster(
            address,
            _numbered_check,
            [(n, [(p, c, r) for _k, _j, p, c, r in batch]) for n, batch in enumerate(batches)],
            on_batch,
            check=stop_if_cancelled,
            on_client=on_client,
        )
        for n, batch in enumerate(batches):
            for (k, j, _p, _c, _r), result in zip(batch, done[n], strict=True):
                read += result[2]
                checked[k][j] = result
    else:
        with cf.ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            futures = {pool.submit(_check, p, c, r): (k, j) for k, j, p, c, r in rows}
            try:
                for fut in cf.as_completed(futures):
                    stop_if_cancelled()
                    k, j = futures[fut]
                    checked[k][j] = fut.result()
                    read += checked[k][j][2]
                    tell(1)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    if bar is not None:
        bar.close()
    stop_if_cancelled()
    report_to.flush()  # the last count, which the throttle may have held back
    results: dict[str, dict[str, Any]] = {
        i: {"outcome": "unverifiable", "name": n, "files": [], "copies": []}
        for i, n in names.items()
    }
    for copy, found in zip(copies, checked, strict=True):
        outcome = _outcome_of(copy, found)
        r = results[copy.ident]
        r["copies"].append(outcome)
        r["files"].extend(outcome["files"])
    for r in results.values():
        read_copies = [c for c in r["copies"] if c["outcome"] != "offline"]
        r["outcome"] = _dataset_outcome(c["outcome"] for c in read_copies)
        away = [c["offline"] for c in r["copies"] if c["offline"]]
        if away and not read_copies:  # no copy plugged in: unverifiable, saying which
            r["offline"] = "; ".join(dict.fromkeys(away))
        r["files"].sort(key=lambda f: f["path"])
    report = VerifyReport(str(path), results, time.perf_counter() - t0, read)
    entries = _audit_entries(results)
    entries.append(("verify.run", None, {"counts": report.counts, "datasets": len(results)}))
    with transaction(path) as con:
        append_audit(con, entries, current_user())
        _record(con, [(i, c) for i, r in results.items() for c in r["copies"]])
    return report
