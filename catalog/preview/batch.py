"""Preview pyramids for many datasets at once (``voxcat preview``).

Picks, among the selected datasets, the big images without a pyramid of their own
(:func:`~catalog.preview.store.wants_preview`), builds the previews that are missing
or out of date one after the other, and goes on when one fails: the failure is
reported with the dataset and the cause, and recorded in the audit log.

>>> report = build_previews("lab.duckdb")                  # doctest: +SKIP
>>> print(report)                                          # doctest: +SKIP
previews: 2 built, 5 current, 31 not needed, 0 failed; 11.2 GB in lab.voxcat/previews

The previews go where the index keeps them (:mod:`catalog.preview.place`): its cache
folder, or object storage (``voxcat preview --to s3://bucket/previews``).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import (
    BucketNotFound,
    CatalogError,
    ClusterError,
    PreviewCancelled,
    StorageAccessDenied,
    StorageUnreachable,
)
from ..index import connect, resolve_index, transaction
from ..index.writer import AuditEntry
from ..paths import display
from ..tempfiles import remove_stale
from .dataset import load_ref
from .place import PreviewPlace, preview_place, read_attrs, referenced_builds
from .store import (
    PREVIEW_MIN_BYTES,
    SUFFIX,
    TEMP_SUFFIXES,
    build_preview,
    preview_levels,
    previews_dir,
    wants_preview,
)

#: storage failures that stop a run: every next build would fail the same way
STOPPING = (StorageUnreachable, StorageAccessDenied, BucketNotFound)

STATES = ("built", "current", "would build", "not needed", "failed")


@dataclasses.dataclass
class PreviewReport:
    """What :func:`build_previews` did: ``counts`` per state, ``built`` as
    ``(id, path or URL, seconds)``, ``failed`` as ``(dataset label, cause)``,
    ``removed``: the temporary folders of interrupted builds (their process gone) it
    deleted; ``place``: where the previews are (:mod:`catalog.preview.place`)."""

    index: Path
    counts: dict[str, int]
    built: list[tuple[str, Path | str, float]]
    failed: list[tuple[str, str]]
    seconds: float
    removed: list[Path] = dataclasses.field(default_factory=list)
    place: PreviewPlace | None = None

    @property
    def where(self) -> str:
        """Where the previews are: a folder, or a URL in object storage."""
        return self.place.where if self.place is not None else display(previews_dir(self.index))

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def bytes_on_disk(self) -> int:
        """Size of every complete preview of the index (built now or before); the
        hidden temporary folders of builds in progress or cut short do not count (in
        object storage: the builds the previews' ``.zattrs`` name)."""
        if self.place is not None and self.place.remote:
            return _bytes_in_objects(self.place)
        base = previews_dir(self.index)
        if not base.is_dir():
            return 0
        total = 0
        for top in base.iterdir():
            if top.name.startswith(".") or not top.name.endswith(SUFFIX):
                continue
            total += sum(f.stat().st_size for f in top.rglob("*") if f.is_file())
        return total

    def __str__(self) -> str:
        parts = [f"{self.counts[s]} {s}" for s in STATES if self.counts[s] or s != "would build"]
        lines = [
            f"previews: {', '.join(parts)} in {self.seconds:.1f} s; "
            f"{self.bytes_on_disk / 1e9:.2f} GB in {self.where}"
        ]
        lines += [
            f"  failed: {cause}" if label in cause else f"  failed: {label}: {cause}"
            for label, cause in self.failed
        ]
        if self.removed:
            lines.append(f"  removed {len(self.removed)} leftover(s) of interrupted builds")
        return "\n".join(lines)


def _bytes_in_objects(place: PreviewPlace) -> int:
    """Bytes of the complete previews in object storage (the builds their root
    ``.zattrs`` names, and those documents)."""
    fs = place.fs()
    try:
        fs.invalidate_cache(place.prefix)
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(place.prefix, detail=False)]
    except FileNotFoundError:
        return 0
    total = 0
    for name in names:
        if not name.endswith(SUFFIX):
            continue
        key = f"{place.prefix}/{name}"
        for build in referenced_builds(read_attrs(fs, key, f"{place.url}/{name}")):
            total += int(fs.du(f"{key}/{build}", total=True))
    return total


def _candidates(index: Path, ids: list[str] | None, min_bytes: int) -> tuple[list[str], int]:
    """Ids of datasets that may want a preview (by their index row), and how many of
    the selection do not."""
    sql = (
        "SELECT id, shape, dtype, coalesce(json_array_length(level_shapes), 1) FROM datasets "
        "WHERE kind <> 'file' AND status = 'ok'"
    )
    params: list[Any] = []
    if ids is not None:
        sql += " AND id IN (SELECT unnest(?))"
        params.append(ids)
    with connect(index, read_only=True) as con:
        rows = con.execute(sql + " ORDER BY name, id", params).fetchall()
    chosen = []
    for ident, shape, dtype, levels in rows:
        try:
            nbytes = math.prod(shape or [0]) * np.dtype(dtype or "uint8").itemsize
        except TypeError:
            continue
        if nbytes >= min_bytes and levels <= 1 and shape:
            chosen.append(ident)
    selected = len(ids) if ids is not None else len(rows)
    return chosen, selected - len(chosen)


def build_previews(
    index: str | os.PathLike[str] | None = None,
    ids: Iterable[str] | None = None,
    *,
    min_bytes: int = PREVIEW_MIN_BYTES,
    progress: bool | None = None,
    dry_run: bool = False,
    scheduler: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> PreviewReport:
    """Build the missing previews of the datasets ``ids`` (default: every dataset).

    Datasets smaller than ``min_bytes`` (uncompressed) or with their own pyramid need
    none; a preview built for the dataset's current checksum is kept. ``progress``
    shows a bar per build (default: when stderr is a terminal); ``dry_run`` only
    says what would be built. A failure (unreadable or changed files, no space left)
    is reported and recorded (audit action ``preview.failed``) and the next dataset
    is built; ``KeyboardInterrupt`` stops after cleaning up the current build.
    ``scheduler`` (a Dask scheduler address, default ``$VOXCAT_DASK_SCHEDULER``) builds
    each preview on that cluster (:func:`~catalog.preview.ensure_preview`); a scheduler
    that cannot be reached stops the run with :class:`~catalog.errors.ClusterUnreachable`.

    Previews go where the index keeps them (:mod:`catalog.preview.place`); in object
    storage it is reached with the stored options plus ``storage_options``
    (credentials). Storage that is unreachable, denies access or has no such bucket
    stops the run with that named error (checked before anything is built).

    >>> build_previews("lab.duckdb", cat.search(modality="CT"), dry_run=True)  # doctest: +SKIP
    >>> build_previews("lab.duckdb", scheduler="tcp://head:8786")  # doctest: +SKIP
    >>> set_preview_location("lab.duckdb", "s3://lab-bucket/previews")  # doctest: +SKIP
    >>> build_previews("lab.duckdb", storage_options={"profile": "lab"})  # doctest: +SKIP
    """
    from ..catalogue import open_catalog
    from ..index.store import append_audit, current_user

    t0 = time.perf_counter()
    path = resolve_index(index).resolve()
    wanted = None if ids is None else list(dict.fromkeys(ids))
    place = preview_place(path, storage_options)
    chosen, small = _candidates(path, wanted, min_bytes)
    if chosen:
        place.check()  # a named error, and nothing changed, when storage cannot be used
    base = previews_dir(path)
    removed = [] if dry_run else remove_stale(base, suffixes=TEMP_SUFFIXES)
    counts = dict.fromkeys(STATES, 0)
    counts["not needed"] = small
    built: list[tuple[str, Path | str, float]] = []
    failed: list[tuple[str, str]] = []
    records: list[AuditEntry] = []
    cat = open_catalog(path)
    if progress is None:
        progress = bool(getattr(sys.stderr, "isatty", bool)())
    for ident in chosen:
        label = f"dataset {ident}"
        try:
            ref = load_ref(cat, ident)
            label = ref.label
            if not wants_preview(ref, min_bytes):
                counts["not needed"] += 1
                continue
            if ref.checksum and preview_levels(
                place.location(ref.checksum), ref.checksum, place.storage
            ):
                counts["current"] += 1
                continue
            if dry_run:
                counts["would build"] += 1
                built.append((ident, place.location(ref.checksum or "-"), 0.0))
                continue
            t = time.perf_counter()
            where = build_preview(ref, progress=progress, scheduler=scheduler, place=place)
            built.append((ident, where, time.perf_counter() - t))
            counts["built"] += 1
        except (PreviewCancelled, ClusterError, *STOPPING):
            raise
        except (CatalogError, OSError, ValueError, RuntimeError, MemoryError) as exc:
            failed.append((label, str(exc)))
            records.append(("preview.failed", ident, {"error": str(exc)}))
            counts["failed"] += 1
    if removed:
        rels = [p.relative_to(base.parent).as_posix() for p in removed]
        records.append(("preview.pruned", None, {"removed": rels}))
    if records:
        with transaction(path) as con:
            append_audit(con, records, current_user())
    return PreviewReport(path, counts, built, failed, time.perf_counter() - t0, removed, place)
