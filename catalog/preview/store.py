"""Preview pyramids on disk and in the index: build once, reuse, prune.

A preview lives in ``<index>.voxcat/previews/<checksum hex[:32]>.ome.zarr``, never next
to the data. It is keyed by the dataset's content checksum, so it is reused until the
source changes and is rescanned (a new checksum names a new preview; the old one is
removed by :func:`prune_previews`). It is written into a hidden temporary folder and
renamed into place when complete, so an interrupted build is never used and two
concurrent builds of one preview cannot mix: the first rename wins, the other build
is discarded. The temporary name records the building process (see
:mod:`catalog.tempfiles`): a build killed half way leaves it behind, never counted as a
preview, and the next build (or :func:`prune_previews`) removes it once that process is
gone. Every build is recorded in the index table ``previews`` and in the audit log
(``preview.built``, with the leftovers it removed).

>>> path = ensure_preview("lab.duckdb", "k2x9q4m1abcd")       # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster import cluster_client, scheduler_address
from ..errors import PreviewCancelled, PreviewError
from ..index.connection import cache_dir, connect, resolve_index, transaction
from ..tempfiles import MAX_AGE, is_stale, remove_stale, temp_path
from ..testhooks import pause
from .dataset import DatasetRef, load_ref, view_coords
from .levels import DEFAULT_PERCENTILES, Level, open_zarr_level, sample_values, value_range
from .originals import open_level
from .pyramid import (
    BLOCK_BYTES,
    TARGET,
    chunks_for,
    is_volume,
    ome_multiscales,
    plan_levels,
    write_level,
)

#: Datasets smaller than this (uncompressed) are browsed directly, without a preview.
PREVIEW_MIN_BYTES = 256 << 20
SUFFIX = ".ome.zarr"
PREVIEWS_DDL = """
CREATE TABLE IF NOT EXISTS previews (
    dataset_id VARCHAR,
    checksum VARCHAR,
    path VARCHAR,               -- relative to the index's cache folder
    levels JSON,                -- shape of every level, level 0 first
    created TIMESTAMP,
    PRIMARY KEY (dataset_id, checksum)
)
"""
TEMP_SUFFIXES = (".tmp", ".trash")  # hidden names of builds in progress or cut short
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()

Progress = Callable[[float], None]

if TYPE_CHECKING:
    from distributed import Client


def previews_dir(index: str | os.PathLike[str] | None) -> Path:
    """The folder holding the previews of ``index``."""
    return cache_dir(resolve_index(index)) / "previews"


def preview_path(index: str | os.PathLike[str] | None, checksum: str) -> Path:
    """Where the preview of data with ``checksum`` lives (whether built or not)."""
    return previews_dir(index) / f"{checksum.split(':')[-1][:32]}{SUFFIX}"


def read_preview(path: Path, checksum: str | None = None) -> dict[str, Any] | None:
    """The ``voxcat`` attributes of a complete preview at ``path`` (built for
    ``checksum``) plus ``shapes``, the shape of every level; None if there is none."""
    try:
        attrs = json.loads((path / ".zattrs").read_text(encoding="utf-8"))
        info = dict(attrs["voxcat"])
        if checksum is not None and info["checksum"] != checksum:
            return None
        shapes = []
        for ds in attrs["multiscales"][0]["datasets"]:
            meta = json.loads((path / ds["path"] / ".zarray").read_text(encoding="utf-8"))
            shapes.append(tuple(int(n) for n in meta["shape"]))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return {**info, "shapes": shapes} if shapes else None


def preview_levels(path: Path, checksum: str | None = None) -> list[tuple[int, ...]] | None:
    """Level shapes of a complete preview at ``path`` (built for ``checksum``), else None."""
    info = read_preview(path, checksum)
    return info["shapes"] if info else None


def wants_preview(ref: DatasetRef, min_bytes: int = PREVIEW_MIN_BYTES) -> bool:
    """Whether ``ref`` should get a preview: a big image without its own pyramid."""
    return (
        len(ref.levels) <= 1
        and "y" in ref.axes
        and "x" in ref.axes
        and ref.nbytes >= min_bytes
        and ref.dtype.kind in "biuf"
    )


def find_preview(index: str | os.PathLike[str] | None, dataset_id: str) -> Path | None:
    """The current preview of a dataset if one was built for its checksum, else None."""
    from ..catalogue import open_catalog

    ref = load_ref(open_catalog(index), dataset_id)
    if not ref.checksum:
        return None
    path = preview_path(ref.index, ref.checksum)
    return path if preview_levels(path, ref.checksum) else None


def ensure_preview(
    index: str | os.PathLike[str] | None,
    dataset_id: str,
    *,
    progress: Progress | bool | None = None,
    min_bytes: int = PREVIEW_MIN_BYTES,
    cancel: threading.Event | None = None,
    block_bytes: int = BLOCK_BYTES,
    target: int = TARGET,
    scheduler: str | None = None,
) -> Path | None:
    """The preview pyramid of a dataset, built now if missing; None when not needed.

    No preview is needed when the dataset has its own pyramid or is smaller than
    ``min_bytes``: views read it directly. ``progress`` is a callable taking the
    fraction done (0..1), or ``True`` for a tqdm bar. Setting ``cancel`` stops the build
    (raising :class:`~catalog.errors.PreviewCancelled`). Levels are added until the
    largest plane is at most ``target`` pixels; ``block_bytes`` bounds the memory of
    the build (about three times that). Blocks for the whole build: use
    :func:`~catalog.preview.preview_job` to build in the background.

    With ``scheduler`` (a Dask scheduler address; default ``$VOXCAT_DASK_SCHEDULER``)
    the blocks are read, downsampled and written by the cluster's workers, each within
    a share of its memory limit (:mod:`catalog.preview.oncluster`); they must see the
    data and the index's cache folder at the same paths. This process writes the index.

    >>> ensure_preview("lab.duckdb", "k2x9q4m1abcd", progress=True)   # doctest: +SKIP
    PosixPath('lab.voxcat/previews/5f2a....ome.zarr')
    >>> ensure_preview("lab.duckdb", "k2x9q4m1abcd", scheduler="tcp://head:8786")  # doctest: +SKIP
    """
    from ..catalogue import open_catalog

    ref = load_ref(open_catalog(index), dataset_id)
    if not wants_preview(ref, min_bytes):
        return None
    return build_preview(
        ref,
        progress=progress,
        cancel=cancel,
        block_bytes=block_bytes,
        target=target,
        scheduler=scheduler,
    )


def _lock_for(path: Path) -> threading.Lock:
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(str(path), threading.Lock())


def build_preview(
    ref: DatasetRef,
    *,
    progress: Progress | bool | None = None,
    cancel: threading.Event | None = None,
    block_bytes: int = BLOCK_BYTES,
    target: int = TARGET,
    scheduler: str | None = None,
) -> Path:
    """Build (or reuse) the preview of ``ref`` whatever its size; returns its path
    (on the Dask cluster at ``scheduler`` or ``$VOXCAT_DASK_SCHEDULER`` if any)."""
    if not ref.checksum:
        raise PreviewError(f"{ref.label} has no checksum yet; rescan it, then build its preview")
    final = preview_path(ref.index, ref.checksum)
    with _lock_for(final):  # one build per preview in this process; others wait for it
        if preview_levels(final, ref.checksum):
            return final
        bar = None
        if progress is True:
            from tqdm import tqdm

            bar = tqdm(total=100, desc=f"preview {ref.name}", unit="%", leave=False)

            def report(f: float) -> None:
                bar.n = round(100 * f, 1)
                bar.refresh()

            callback: Progress | None = report
        else:
            callback = progress or None
        try:
            address = scheduler_address(scheduler)
            if address is None:
                return _build(ref, final, callback, cancel, block_bytes, target)
            with cluster_client(address) as client:
                return _build(ref, final, callback, cancel, block_bytes, target, client)
        finally:
            if bar is not None:
                bar.close()


def _build(
    ref: DatasetRef,
    final: Path,
    progress: Progress | None,
    cancel: threading.Event | None,
    block_bytes: int,
    target: int = TARGET,
    client: Client | None = None,
) -> Path:
    """Build the preview into a temporary folder and rename it to ``final``; on the
    cluster of ``client`` when given (:func:`~.oncluster.write_level_on_cluster`)."""
    import zarr

    t0 = time.perf_counter()
    final.parent.mkdir(parents=True, exist_ok=True)
    leftovers = remove_stale(final.parent, suffixes=TEMP_SUFFIXES)  # of killed builds
    tmp = temp_path(final)
    axes, labels = ref.axes, ref.is_labels
    shapes = plan_levels(ref.shape, axes, ref.spacing, target)
    volume = is_volume(ref.shape, axes)
    total = math.prod(ref.shape) + sum(math.prod(s) for s in shapes[:-1])
    done = 0

    def step(n: int) -> None:
        nonlocal done
        if cancel is not None and cancel.is_set():
            raise PreviewCancelled(f"the preview build of {ref.label} was cancelled")
        done += n
        if progress is not None:
            progress(min(1.0, done / total))

    try:
        src = open_level(ref, 0)
        coords = view_coords(ref.read(0))
        origin = {d: c["origin"] for d, c in coords.items() if c.get("origin")}
        group = zarr.open_group(store=str(tmp), mode="w", zarr_format=2)
        arrays = [
            group.create_array(
                name=str(k),
                shape=shape,
                chunks=chunks_for(shape, axes, volume),
                dtype=ref.dtype,
                compressors=None,
                filters=None,
                fill_value=0,
                order="C",
                chunk_key_encoding={"name": "v2", "separator": "/"},
                attributes={"_ARRAY_DIMENSIONS": list(axes)},
            )
            for k, shape in enumerate(shapes)
        ]
        steps = [
            [1 if a == b else 2 for a, b in zip(shapes[k - 1], shapes[k])]
            for k in range(1, len(shapes))
        ]
        ones = (1,) * len(axes)
        if client is None:
            levels_from: Any = write_level
            source: Any = src
            budget = block_bytes
        else:  # the same blocks, as tasks on the workers: they open the files themselves
            from .oncluster import block_budget, write_level_on_cluster

            src.close()
            levels_from = functools.partial(write_level_on_cluster, client)
            source, budget = ref, block_budget(client, block_bytes)
        # level 0 from the files, and the levels that follow from its blocks in memory
        k = levels_from(
            source,
            arrays[0],
            ones,
            labels,
            derived=list(zip(arrays[1:], steps)),
            budget=budget,
            step=step,
        )
        pause("preview.level")
        while k < len(shapes) - 1:  # blocks too thin to halve further: read level k back
            prev = open_zarr_level(tmp / str(k)) if client is None else (tmp / str(k)).absolute()
            derived = list(zip(arrays[k + 2 :], steps[k + 1 :]))
            k += 1 + levels_from(
                prev,
                arrays[k + 1],
                steps[k],
                labels,
                derived=derived,
                budget=budget,
                step=step,
            )
        group.attrs.update(
            {
                "multiscales": ome_multiscales(
                    ref.name, axes, shapes, ref.spacing, ref.units, origin, labels
                ),
                "voxcat": {
                    "dataset_id": ref.id,
                    "checksum": ref.checksum,
                    "source": ref.where,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "levels": [list(s) for s in shapes],
                    "downsampling": "mode" if labels else "mean",
                    "coords": coords,
                    "contrast": _contrasts(open_zarr_level(tmp / str(len(shapes) - 1)), axes),
                },
            }
        )
        won = _commit(tmp, final, ref.checksum or "")
    except PreviewCancelled:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, Exception) and not isinstance(exc, PreviewError):
            raise PreviewError(
                f"could not build the preview of {ref.label} at {ref.where}: "
                f"{type(exc).__name__}: {exc}. Check the files are readable and the disk "
                f"holding {final.parent} has space (about {ref.nbytes * 8 // 7 >> 20} MB)"
            ) from exc
        raise
    if won:
        _record(ref, final, shapes, time.perf_counter() - t0, leftovers)
    return final


def _contrasts(level: Level, axes: str) -> list[dict[str, Any]]:
    """Default display ranges from the coarsest level, for t=0 and each of the first
    16 channels (what ``Slicer.contrast()`` would compute, kept so it need not)."""
    lead = {i: a for i, a in enumerate(axes) if a not in "zyx"}
    positions = (
        [{}]
        if "c" not in axes
        else [{"c": c} for c in range(min(16, level.shape[axes.index("c")]))]
    )
    out = []
    for at in positions:
        fixed = {i: at.get(a, 0) for i, a in lead.items()}
        lo, hi = value_range(sample_values(level, fixed), DEFAULT_PERCENTILES)
        full = {a: at.get(a, 0) for a in lead.values()}
        out.append({"at": full, "percentiles": list(DEFAULT_PERCENTILES), "range": [lo, hi]})
    return out


def _commit(tmp: Path, final: Path, checksum: str) -> bool:
    """Rename ``tmp`` into place; False when a concurrent build got there first."""
    try:
        os.rename(tmp, final)
        return True
    except OSError:
        if preview_levels(final, checksum):  # another build finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
            return False
    trash = temp_path(final, ".trash")
    with contextlib.suppress(OSError):
        os.rename(final, trash)  # an unusable leftover (damaged by hand): replace it
    os.rename(tmp, final)
    shutil.rmtree(trash, ignore_errors=True)
    return True


def _record(
    ref: DatasetRef,
    path: Path,
    shapes: list[tuple[int, ...]],
    seconds: float,
    leftovers: list[Path] | None = None,
) -> None:
    from ..index.store import append_audit, current_user, now

    rel = path.relative_to(cache_dir(ref.index)).as_posix()
    levels = json.dumps([list(s) for s in shapes])
    with transaction(ref.index) as con:
        con.execute(PREVIEWS_DDL)
        con.execute(
            "INSERT OR REPLACE INTO previews VALUES (?, ?, ?, ?, ?)",
            [ref.id, ref.checksum, rel, levels, now()],
        )
        detail: dict[str, Any] = {
            "path": rel,
            "checksum": ref.checksum,
            "levels": [list(s) for s in shapes],
            "seconds": round(seconds, 2),
        }
        if leftovers:
            base = cache_dir(ref.index)
            detail["removed"] = [p.relative_to(base).as_posix() for p in leftovers]
        append_audit(con, [("preview.built", ref.id, detail)], current_user())


def prune_previews(
    index: str | os.PathLike[str] | None = None, *, tmp_age: float = MAX_AGE
) -> list[Path]:
    """Delete previews whose data is no longer in the index (changed, rescanned or
    removed) and temporary folders of builds whose process is gone (or, when that
    cannot be told, abandoned more than ``tmp_age`` seconds ago). Returns what was
    removed.

    >>> prune_previews("lab.duckdb")                             # doctest: +SKIP
    [PosixPath('lab.voxcat/previews/5f2a....ome.zarr')]
    """
    from ..index.store import append_audit, current_user

    base = previews_dir(index)
    if not base.is_dir():
        return []
    with connect(index, read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT checksum FROM datasets WHERE checksum IS NOT NULL"
        ).fetchall()
    current = {c.split(":")[-1][:32] for (c,) in rows}
    removed: list[Path] = []
    for path in sorted(base.iterdir()):
        name = path.name
        if name.endswith(SUFFIX) and not name.startswith("."):
            stale = name[: -len(SUFFIX)] not in current
        else:
            stale = name.startswith(".") and is_stale(path, tmp_age)
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        rels = [p.relative_to(cache_dir(resolve_index(index))).as_posix() for p in removed]
        with transaction(index) as con:
            con.execute(PREVIEWS_DDL)
            con.execute("DELETE FROM previews WHERE path IN (SELECT unnest(?))", [rels])
            append_audit(con, [("preview.pruned", None, {"removed": rels})], current_user())
    return removed
