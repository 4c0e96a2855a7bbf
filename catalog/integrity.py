"""Integrity check: re-hash datasets and compare with the checksums the index holds.

``verify`` never changes data or the dataset rows: it reads every file of the selected
datasets, reports each dataset as ``unchanged``, ``modified``, ``missing`` or
``unverifiable`` (no checksum recorded, e.g. registered from a table and never
scanned; or on a drive that is not plugged in, ``offline``, whose files are not read),
and records the outcome in the audit log. A file whose checksum is sampled
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
        for ident, r in sorted(self.results.items(), key=lambda kv: kv[1]["name"]):
            if r["outcome"] in ("modified", "missing"):
                files = ", ".join(
                    display(f["path"]) for f in r["files"] if f["outcome"] != "unchanged"
                )
                lines.append(f"  {r['outcome'].upper():9} {ident} {r['name']}: {files}")
            elif r.get("offline"):
                lines.append(f"  OFFLINE   {ident} {r['name']}: {r['offline']}")
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


def verify(
    index: str | os.PathLike[str] | None = None,
    selection: Iterable[str] | Any = None,
    *,
    jobs: int | None = None,
    progress: ProgressArg = None,
    scheduler: str | None = None,
    cancel: CancelFlag | None = None,
) -> VerifyReport:
    """Re-hash the files of ``selection`` (a catalogue, ids, or ``None`` for every
    dataset) and compare with the index; the result goes to the audit log.

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
    with connect(path, read_only=True) as con:
        sql = (
            "SELECT f.dataset_id, d.name, f.path, f.checksum, "
            "CASE WHEN f.etag IS NOT NULL THEN d.options END FROM files f "
            "JOIN datasets d ON d.id = f.dataset_id "
            "WHERE d.status <> 'offline'"  # on an unplugged drive: not read (see below)
        )
        params: list[Any] = []
        if ids is not None:
            sql += " AND f.dataset_id IN (SELECT unnest(?))"
            params.append(ids)
        found_rows = con.execute(sql + " ORDER BY f.dataset_id, f.position", params).fetchall()
        # objects in storage: how to reach them (their root's options, no credentials)
        reach = {
            p: json.dumps((json.loads(o) if o else {}).get(STORAGE_OPTIONS) or {})
            for _i, _n, p, _c, o in found_rows
            if o is not None
        }
        rows = [r[:4] for r in found_rows]
        listed = con.execute(
            "SELECT id, name, CASE WHEN status = 'offline' THEN error END FROM datasets"
            + (" WHERE id IN (SELECT unnest(?))" if ids is not None else ""),
            [ids] if ids is not None else [],
        ).fetchall()
        names = {i: n for i, n, _ in listed}
        offline = {i: e for i, _, e in listed if e is not None}
    base = path.resolve().parent  # an export's index stores paths relative to its folder
    rows = [(i, n, resolve_for_db(p, base), c) for i, n, p, c in rows]
    results: dict[str, dict[str, Any]] = {
        i: {"outcome": "unverifiable", "name": n, "files": []} for i, n in names.items()
    }
    for i, why in offline.items():  # its drive is unplugged: unverifiable, saying which
        results[i]["offline"] = why
    bar = None
    shows = bar_of(progress)
    if shows or (shows is None and os.isatty(2)):
        from tqdm import tqdm

        bar = tqdm(total=len(rows), unit="file", desc="verify")
    report_to = Reporter(callback_of(progress))
    extra: dict[str, Any] = {}
    read = 0
    checked = 0

    def stop_if_cancelled() -> None:
        check(cancel, VerifyCancelled, "verify was cancelled; nothing was recorded")

    def tell(n: int, force: bool = False) -> None:
        nonlocal checked
        checked += n
        if bar is not None:
            bar.update(n)
        report_to(
            Progress("verifying", checked, len(rows), checked, len(rows), "file", extra),
            force=force,
        )

    def on_client(client: Any) -> None:  # a job links the cluster's dashboard
        extra["scheduler"] = client.scheduler.address
        link = dashboard_link(client)
        if link:
            extra["dashboard"] = link
        tell(0, force=True)

    stop_if_cancelled()

    def take(row: tuple[str, str, str | None], outcome: str, found: str | None) -> None:
        ident, p, expected = row
        results[ident]["files"].append(
            {
                "path": from_db(p),  # what open() takes; printed with display()
                "outcome": outcome,
                "expected": expected,
                "found": found,
            }
        )

    if address is not None:
        batches = [rows[k : k + CLUSTER_BATCH] for k in range(0, len(rows), CLUSTER_BATCH)]
        done: dict[int, list[tuple[str, str | None, int]]] = {}

        def on_batch(result: tuple[int, list[tuple[str, str | None, int]]]) -> None:
            done[result[0]] = result[1]
            tell(len(result[1]))

        map_on_cluster(
            address,
            _numbered_check,
            [
                (k, [(p, c, reach.get(p)) for _i, _n, p, c in batch])
                for k, batch in enumerate(batches)
            ],
            on_batch,
            check=stop_if_cancelled,
            on_client=on_client,
        )
        for k, batch in enumerate(batches):
            for (i, _n, p, c), (outcome, found, size) in zip(batch, done[k], strict=True):
                read += size
                take((i, p, c), outcome, found)
    else:
        with cf.ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            futures = {pool.submit(_check, p, c, reach.get(p)): (i, p, c) for i, _n, p, c in rows}
            try:
                for fut in cf.as_completed(futures):
                    stop_if_cancelled()
                    outcome, found, size = fut.result()
                    read += size
                    take(futures[fut], outcome, found)
                    tell(1)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    if bar is not None:
        bar.close()
    stop_if_cancelled()
    report_to.flush()  # the last count, which the throttle may have held back
    for r in results.values():
        seen = {f["outcome"] for f in r["files"]}
        for outcome in ("missing", "modified", "unverifiable", "unchanged"):
            if outcome in seen:
                r["outcome"] = outcome
                break
        r["files"].sort(key=lambda f: f["path"])
    report = VerifyReport(str(path), results, time.perf_counter() - t0, read)
    entries: list[tuple[str, str | None, dict[str, Any]]] = [
        (
            "verify." + r["outcome"],
            ident,
            {"files": [f for f in r["files"] if f["outcome"] != "unchanged"][:50]},
        )
        for ident, r in results.items()
    ]
    entries.append(("verify.run", None, {"counts": report.counts, "datasets": len(results)}))
    with transaction(path) as con:
        append_audit(con, entries, current_user())
        # the primary locations read and found unchanged (catalog/replicas.py)
        verified = [i for i, r in results.items() if r["outcome"] == "unchanged"]
        if verified:
            con.execute(
                "UPDATE locations l SET last_verified = ? FROM datasets d "
                "WHERE d.id = l.dataset_id AND d.path = l.path AND d.id IN (SELECT unnest(?))",
                [now(), verified],
            )
    return report
