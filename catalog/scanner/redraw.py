"""Thumbnails drawn again without scanning again: those a scan could not write (a
full disk, an unwritable cache), those deleted from the cache, and outdated ones
(drawn by an older :data:`~.thumbnail.VERSION`, or drawn before the dataset was known
to be a segmentation: :func:`~.thumbnail.is_current` compares names, reads nothing).

A rescan redraws them for the datasets it finds unchanged (one ``stat`` per current
thumbnail file the index names; datasets whose thumbnail could not be drawn from the
data are not tried again). :func:`draw_thumbnails` (``voxcat thumbnails --missing``) redraws
every missing one, those included, or every thumbnail of a selection.

>>> report = draw_thumbnails("lab.duckdb", missing=True)       # doctest: +SKIP
>>> print(report)                                             # doctest: +SKIP
drew 12 missing thumbnails (of 1,834 datasets with an image); 0 failed
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import DiskFullError
from ..index import Connection, cache_dir, connect, resolve_index, transaction
from ..index.connection import disk_full, disk_full_cause
from ..paths import display, from_db
from ..remote import is_remote
from ..summary import plural
from .thumbnail import (
    UNDRAWABLE,
    UNWRITTEN,
    draw_thumbnail,
    is_current,
    labels_hint,
    store_thumbnail,
    thumbnail_png,
    thumbnail_rel,
)

#: write drawn thumbnails to the index about this often
BATCH_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class Job:
    """What a worker needs to draw one dataset's thumbnail (picklable)."""

    id: str
    path: str  # index form
    reader: str
    options: str | None  # JSON
    name: str | None
    checksum: str
    files: tuple[str, ...]  # index form, in dataset order
    labels: bool = False  # known to be labels (:func:`.thumbnail.labels_hint`)


@dataclasses.dataclass(frozen=True)
class Drawn:
    """The outcome for one dataset: its thumbnail, or the warning why there is none."""

    id: str
    thumbnail: str | None
    warning: str | None
    png: bytes | None = None  # drawn on a cluster's worker, not yet stored


def draw_one(job: Job, cache: Path | None, force: bool = False) -> Drawn:
    """Describe the dataset (headers only) and draw its thumbnail; never raises an
    ``Exception``. With ``cache=None`` (a task on a Dask cluster) the PNG is returned
    in ``Drawn.png``, written nowhere."""
    from ..readers import get_reader
    from ..readers.base import Source
    from .worker import _cause

    path = Path(from_db(job.path))
    try:
        # a path, or a URL of object storage with its root's stored options
        source = Source.at(
            from_db(job.path),
            [from_db(f) for f in job.files],
            json.loads(job.options) if job.options else {},
            job.name,
        )
        reader = get_reader(job.reader)
        info = reader.describe(source)
    except Exception as exc:
        return Drawn(job.id, None, UNDRAWABLE + _cause(exc, path))
    if cache is None:
        png, warning = thumbnail_png(
            reader, source, info, cause=lambda e: _cause(e, path), labels=job.labels
        )
        return Drawn(job.id, None, warning, png)
    rel, warning = draw_thumbnail(
        reader,
        source,
        info,
        cache,
        job.checksum,
        cause=lambda e: _cause(e, path),
        force=force,
        labels=job.labels,
    )
    return Drawn(job.id, rel, warning)


def _store(drawn: Drawn, job: Job, cache: Path, force: bool) -> Drawn:
    """Write the PNG a cluster's worker drew for ``job`` into ``cache``."""
    from .worker import _cause

    if drawn.png is None:
        return drawn
    path = Path(from_db(job.path))
    if force:  # drawn again on purpose: replace the file
        with contextlib.suppress(OSError):
            (cache / thumbnail_rel(job.checksum, job.labels)).unlink()
    rel, warning = store_thumbnail(
        drawn.png, cache, job.checksum, cause=lambda e: _cause(e, path), labels=job.labels
    )
    return Drawn(drawn.id, rel, warning)


def _cluster_failure(job: Job, exc: BaseException) -> Drawn:
    from .worker import _cause

    path = Path(from_db(job.path))
    if type(exc).__name__ == "KilledWorker":
        why = f"{display(path)}: the Dask workers drawing it died"
    else:
        why = _cause(exc, path) + " (on the Dask cluster)"
    return Drawn(job.id, None, UNDRAWABLE + why)


def _crashed(job: Job) -> Drawn:
    cause = "the reader crashed its worker process (a decoder fault on damaged data)"
    return Drawn(job.id, None, f"{UNDRAWABLE}{display(from_db(job.path))}: {cause}")


def missing(
    con: Connection,
    cache: Path,
    ids: Sequence[str] | None = None,
    *,
    retry_undrawable: bool = True,
    everything: bool = False,
) -> tuple[list[Job], int]:
    """The datasets (of ``ids``, else all) whose thumbnail file is missing or
    outdated (:func:`~.thumbnail.is_current`), as jobs, and how many datasets with an
    image were looked at.

    Datasets whose thumbnail could not be drawn from their data are left out unless
    ``retry_undrawable``; ``everything`` takes every dataset with an image.
    """
    where = "status = 'ok' AND kind <> 'file' AND reader IS NOT NULL AND checksum IS NOT NULL"
    params: list[Any] = []
    if ids is not None:
        where += " AND id IN (SELECT unnest(?))"
        params.append(list(ids))
    rows = con.execute(
        f"SELECT id, path, thumbnail, warnings, checksum, data_level, dtype "
        f"FROM datasets WHERE {where}",
        params,
    ).fetchall()
    exists: dict[str, bool] = {}
    wanted: list[str] = []
    for ident, path, thumb, warnings, checksum, level, dtype in rows:
        if is_remote(path) and not _scanned(con, ident):
            continue  # an imported table's remote store: never drawn
        if not everything:
            if thumb is not None:
                if not is_current(thumb, checksum, labels_hint(level, dtype)):
                    wanted.append(ident)  # outdated: drawn again, no stat needed
                    continue
                if thumb not in exists:  # datasets of the same content share one file
                    exists[thumb] = os.path.exists(cache / from_db(thumb))
                if exists[thumb]:
                    continue
            elif not retry_undrawable and any(w.startswith(UNDRAWABLE) for w in warnings or ()):
                continue
        wanted.append(ident)
    return _jobs(con, wanted), len(rows)


def _scanned(con: Connection, ident: str) -> bool:
    """Whether a dataset at a URL was scanned from object storage (its options hold
    its root's storage options), not imported from a table."""
    from ..remote import STORAGE_OPTIONS

    row = con.execute("SELECT options FROM datasets WHERE id = ?", [ident]).fetchone()
    return bool(row and row[0] and STORAGE_OPTIONS in json.loads(row[0]))


def _jobs(con: Connection, ids: list[str]) -> list[Job]:
    if not ids:
        return []
    rows = con.execute(
        "SELECT d.id, d.path, d.reader, d.options, d.name, d.checksum, "
        "list(f.path ORDER BY f.position) FILTER (f.path IS NOT NULL), d.data_level, d.dtype "
        "FROM datasets d LEFT JOIN files f ON f.dataset_id = d.id "
        "WHERE d.id IN (SELECT unnest(?)) "
        "GROUP BY d.id, d.path, d.reader, d.options, d.name, d.checksum, d.data_level, d.dtype "
        "ORDER BY d.path",
        [ids],
    ).fetchall()
    return [
        Job(r[0], r[1], r[2], r[3], r[4], r[5], tuple(r[6] or ()), labels_hint(r[7], r[8]))
        for r in rows
    ]


def record(con: Connection, drawn: Iterable[Drawn]) -> None:
    """Write outcomes to the index: the thumbnail, and the dataset's warnings with
    any earlier thumbnail warning replaced by the new one."""
    rows = [(d.id, d.thumbnail, d.warning) for d in drawn]
    if not rows:
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _drawn (id VARCHAR, thumbnail VARCHAR, warning VARCHAR)"
    )
    con.executemany("INSERT INTO _drawn VALUES (?, ?, ?)", rows)
    con.execute(
        "UPDATE datasets d SET thumbnail = n.thumbnail, warnings = nullif("
        "list_filter(coalesce(d.warnings, []), lambda w: NOT (starts_with(w, ?) OR starts_with(w, ?)))"
        " || CASE WHEN n.warning IS NULL THEN [] ELSE [n.warning] END, []) "
        "FROM _drawn n WHERE d.id = n.id",
        [UNDRAWABLE, UNWRITTEN],
    )
    con.execute("DROP TABLE _drawn")


def run(
    jobs: list[Job],
    cache: Path,
    workers: int,
    on_drawn: Callable[[Drawn], None],
    *,
    force: bool = False,
    check: Callable[[], None] | None = None,
    client: Any = None,
) -> None:
    """Draw ``jobs`` (in ``workers`` processes that die with this one, or here, or
    as tasks on the Dask cluster of ``client``, a ``distributed.Client``, whose PNGs
    this process writes); ``check()`` is called between thumbnails (it raises to
    stop)."""
    from .pool import run_pool

    if client is not None:
        from ..cluster import map_on_cluster

        by_id = {j.id: j for j in jobs}
        map_on_cluster(
            client,
            functools.partial(draw_one, cache=None),
            jobs,
            lambda d: on_drawn(_store(d, by_id[d.id], cache, force)),
            check=check,
            failed=_cluster_failure,
        )
        return
    work = functools.partial(draw_one, cache=cache, force=force)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            if check is not None:
                check()
            on_drawn(work(job))
    else:
        run_pool(jobs, workers, work, on_drawn, _crashed, check=check)


@dataclasses.dataclass
class ThumbnailReport:
    """What :func:`draw_thumbnails` did. ``str(report)`` is what the CLI prints."""

    index: str
    considered: int  # datasets with an image that were looked at
    drawn: list[str] = dataclasses.field(default_factory=list)  # ids
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (id, why)
    missing_only: bool = True
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        what = "missing thumbnail" if self.missing_only else "thumbnail"
        lines = [
            f"drew {plural(len(self.drawn), what)} (of "
            f"{plural(self.considered, 'dataset')} with an image) in {self.seconds:.1f} s; "
            f"{len(self.failed)} failed"
        ]
        lines += [f"  FAILED  {ident}: {why}" for ident, why in self.failed[:20]]
        if len(self.failed) > 20:
            lines.append(f"  ... and {len(self.failed) - 20} more")
        return "\n".join(lines)


def draw_thumbnails(
    index: str | os.PathLike[str] | None = None,
    ids: Sequence[str] | None = None,
    *,
    missing_only: bool = True,
    jobs: int | None = None,
) -> ThumbnailReport:
    """Draw the thumbnails of the datasets ``ids`` (default: all) that have none
    (``missing_only``), or all of them again, in ``jobs`` worker processes.

    Thumbnails that could not be written (a full disk) or were deleted are drawn;
    so are those that could not be drawn before, which are tried again. Finished
    thumbnails are recorded about every second, so an interruption keeps them.

    >>> draw_thumbnails("lab.duckdb").drawn                    # doctest: +SKIP
    ['k2x9q4m1abcd']
    """
    t0 = time.perf_counter()
    path = resolve_index(index)
    cache = cache_dir(path)
    with connect(path, read_only=True, cached=False) as con:
        todo, considered = missing(con, cache, ids, everything=not missing_only)
    report = ThumbnailReport(index=display(path), considered=considered, missing_only=missing_only)
    pending: list[Drawn] = []
    last = time.monotonic()

    def flush() -> None:
        nonlocal last
        last = time.monotonic()
        if pending:
            with transaction(path) as con:
                record(con, pending)
            pending.clear()

    def on_drawn(d: Drawn) -> None:
        pending.append(d)
        if d.thumbnail is None:
            report.failed.append((d.id, (d.warning or "").partition(": ")[2]))
        else:
            report.drawn.append(d.id)
        if time.monotonic() - last >= BATCH_SECONDS:
            flush()

    try:
        run(todo, cache, max(1, jobs or os.cpu_count() or 1), on_drawn, force=not missing_only)
        flush()
    except BaseException as exc:
        if not disk_full(exc):
            flush()  # keep what was drawn, even on Ctrl-C
            raise
        saved = len(report.drawn) + len(report.failed) - len(pending)
        raise DiskFullError(
            disk_full_cause(exc, path),
            f"{plural(saved, 'thumbnail')} {'was' if saved == 1 else 'were'} recorded, free "
            "some space and run it again to continue",
        ) from exc
    report.seconds = time.perf_counter() - t0
    return report
