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

An index may keep its previews in object storage instead
(:func:`~catalog.preview.place.set_preview_location`, ``voxcat preview --to s3://...``):
they are then written straight there through zarr's ``FsspecStore``, each build under
its own prefix, and become a preview when the root ``.zattrs`` naming that build is
written last (:mod:`catalog.preview.place`); views read their chunks by byte ranges
(:mod:`catalog.preview.objectlevels`).

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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster import cluster_client, scheduler_address
from ..errors import CatalogError, PreviewCancelled, PreviewError, StorageError
from ..index.connection import cache_dir, connect, resolve_index, transaction
from ..remote import Storage, protocol_of, split_url, storage_error
from ..tempfiles import MAX_AGE, is_stale, remove_stale, temp_path
from ..testhooks import pause
from .dataset import DatasetRef, load_ref, view_coords
from .levels import DEFAULT_PERCENTILES, Level, open_zarr_level, sample_values, value_range
from .objectlevels import ObjectArray, open_object_level, writable_store
from .originals import open_level
from .place import (
    PreviewPlace,
    build_name,
    preview_place,
    read_attrs,
    referenced_builds,
    remove_stale_builds,
)
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
    path VARCHAR,               -- relative to the index's cache folder, or a URL
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


def preview_path(index: str | os.PathLike[str] | None, checksum: str) -> Path | str:
    """Where the preview of data with ``checksum`` lives (whether built or not): a
    folder of the index's cache, or a URL when the index keeps previews in object
    storage (:func:`~catalog.preview.place.set_preview_location`).

    >>> preview_path("lab.duckdb", "b3:5f2a9c1e")                # doctest: +SKIP
    PosixPath('lab.voxcat/previews/5f2a9c1e.ome.zarr')
    """
    return preview_place(index).location(checksum)


def read_preview(
    path: Path | str, checksum: str | None = None, storage: Storage | None = None
) -> dict[str, Any] | None:
    """The ``voxcat`` attributes of a complete preview at ``path`` (built for
    ``checksum``) plus ``shapes``, the shape of every level, and ``paths``, where each
    level is inside it; None if there is none. ``path`` may be a URL, read through
    ``storage`` (default: its protocol with credentials from the environment);
    storage that cannot be reached raises a named
    :class:`~catalog.errors.StorageError`."""
    if isinstance(path, str) and protocol_of(path):
        return _read_object_preview(path, checksum, storage)
    path = Path(path)
    try:
        attrs = json.loads((path / ".zattrs").read_text(encoding="utf-8"))
        info = dict(attrs["voxcat"])
        if checksum is not None and info["checksum"] != checksum:
            return None
        shapes, paths = [], []
        for ds in attrs["multiscales"][0]["datasets"]:
            meta = json.loads((path / ds["path"] / ".zarray").read_text(encoding="utf-8"))
            shapes.append(tuple(int(n) for n in meta["shape"]))
            paths.append(str(ds["path"]))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return {**info, "shapes": shapes, "paths": paths} if shapes else None


def _read_object_preview(
    url: str, checksum: str | None, storage: Storage | None
) -> dict[str, Any] | None:
    """:func:`read_preview` of a preview in object storage: its root ``.zattrs`` alone
    (written last, so its presence means every level is complete)."""
    protocol, key = split_url(url)
    storage = storage or Storage.of(protocol)
    attrs = read_attrs(storage.fs(), key, url)
    try:
        info = dict((attrs or {})["voxcat"])
        if checksum is not None and info["checksum"] != checksum:
            return None
        paths = [str(ds["path"]) for ds in attrs["multiscales"][0]["datasets"]]  # type: ignore[index]
        shapes = [tuple(int(n) for n in s) for s in info["levels"]]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    if not shapes or len(shapes) != len(paths):
        return None
    return {**info, "shapes": shapes, "paths": paths}


def preview_levels(
    path: Path | str, checksum: str | None = None, storage: Storage | None = None
) -> list[tuple[int, ...]] | None:
    """Level shapes of a complete preview at ``path`` (built for ``checksum``), else None."""
    info = read_preview(path, checksum, storage)
    return info["shapes"] if info else None


def open_preview_level(location: Path | str, path: str, storage: Storage | None = None) -> Level:
    """Level ``path`` (as :func:`read_preview` lists it) of the preview at ``location``."""
    if isinstance(location, str) and protocol_of(location):
        protocol, key = split_url(location)
        return open_object_level(storage or Storage.of(protocol), f"{key}/{path}")
    return open_zarr_level(Path(location) / path)


def wants_preview(ref: DatasetRef, min_bytes: int = PREVIEW_MIN_BYTES) -> bool:
    """Whether ``ref`` should get a preview: a big image without its own pyramid."""
    return (
        len(ref.levels) <= 1
        and "y" in ref.axes
        and "x" in ref.axes
        and ref.nbytes >= min_bytes
        and ref.dtype.kind in "biuf"
    )


def find_preview(index: str | os.PathLike[str] | None, dataset_id: str) -> Path | str | None:
    """The current preview of a dataset if one was built for its checksum (a folder,
    or a URL in object storage), else None.

    >>> find_preview("lab.duckdb", "k2x9q4m1abcd")              # doctest: +SKIP
    's3://lab-bucket/previews/5f2a....ome.zarr'
    """
    from ..catalogue import open_catalog

    ref = load_ref(open_catalog(index), dataset_id)
    if not ref.checksum:
        return None
    place = preview_place(ref.index)
    path = place.location(ref.checksum)
    return path if preview_levels(path, ref.checksum, place.storage) else None


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
    storage_options: Mapping[str, Any] | None = None,
) -> Path | str | None:
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
    data and the index's cache folder at the same paths (or reach the object storage
    the previews live in). This process writes the index.

    Where the preview goes is the index's setting
    (:func:`~catalog.preview.place.set_preview_location`): its cache folder, or object
    storage, then reached with the stored options plus ``storage_options`` (credentials,
    never stored); the result is then the preview's URL.

    >>> ensure_preview("lab.duckdb", "k2x9q4m1abcd", progress=True)   # doctest: +SKIP
    PosixPath('lab.voxcat/previews/5f2a....ome.zarr')
    >>> ensure_preview("lab.duckdb", "k2x9q4m1abcd", scheduler="tcp://head:8786")  # doctest: +SKIP
    >>> ensure_preview("lab.duckdb", "k2x9q4m1abcd", storage_options={"profile": "lab"})  # doctest: +SKIP
    's3://lab-bucket/previews/5f2a....ome.zarr'
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
        place=preview_place(ref.index, storage_options),
    )


def _lock_for(path: Path | str) -> threading.Lock:
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
    place: PreviewPlace | None = None,
) -> Path | str:
    """Build (or reuse) the preview of ``ref`` whatever its size; returns its path or
    URL (on the Dask cluster at ``scheduler`` or ``$VOXCAT_DASK_SCHEDULER`` if any), in
    ``place`` (default: where the index keeps its previews)."""
    if not ref.checksum:
        raise PreviewError(f"{ref.label} has no checksum yet; rescan it, then build its preview")
    place = place or preview_place(ref.index)
    final = place.location(ref.checksum)
    with _lock_for(final):  # one build per preview in this process; others wait for it
        if preview_levels(final, ref.checksum, place.storage):
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
                return _build(ref, place, callback, cancel, block_bytes, target)
            with cluster_client(address) as client:
                return _build(ref, place, callback, cancel, block_bytes, target, client)
        finally:
            if bar is not None:
                bar.close()


class _FolderBuild:
    """A build into a hidden temporary folder, renamed to ``final`` when complete."""

    def __init__(self, final: Path) -> None:
        import zarr

        final.parent.mkdir(parents=True, exist_ok=True)
        self.final = final
        self.leftovers = remove_stale(final.parent, suffixes=TEMP_SUFFIXES)  # killed builds
        self.tmp = temp_path(final)
        self.group = zarr.open_group(store=str(self.tmp), mode="w", zarr_format=2)

    def level(self, k: int) -> Level:
        return open_zarr_level(self.tmp / str(k))

    def source(self, k: int) -> Path:
        return (self.tmp / str(k)).absolute()  # workers need not share our directory

    def commit(self, attrs: dict[str, Any], checksum: str) -> bool:
        self.group.attrs.update(attrs)
        return _commit(self.tmp, self.final, checksum)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def removed(self, index: Path) -> list[str]:
        base = cache_dir(index)
        return [p.relative_to(base).as_posix() for p in self.leftovers]

    def failure(self, ref: DatasetRef, exc: Exception) -> CatalogError:
        return PreviewError(
            f"could not build the preview of {ref.label} at {ref.where}: "
            f"{type(exc).__name__}: {exc}. Check the files are readable and the disk "
            f"holding {self.final.parent} has space (about {ref.nbytes * 8 // 7 >> 20} MB)"
        )


class _ObjectBuild:
    """A build straight into object storage: levels under a prefix of their own, then
    the root ``.zattrs`` naming them (:mod:`catalog.preview.place`)."""

    def __init__(self, place: PreviewPlace, checksum: str) -> None:
        import zarr

        assert place.storage is not None
        self.storage = place.storage
        self.url = str(place.location(checksum))
        self.key = place.key(checksum)
        self.leftovers = remove_stale_builds(place, self.key)  # of builds killed before
        self.build = build_name()
        self.prefix = f"{self.key}/{self.build}"
        try:
            store = writable_store(self.storage, self.prefix)
            self.group = zarr.open_group(store=store, mode="w", zarr_format=2)
        except Exception as exc:
            raise storage_error(self.url, exc) from exc

    def level(self, k: int) -> Level:
        return open_object_level(self.storage, f"{self.prefix}/{k}")

    def source(self, k: int) -> ObjectArray:
        return ObjectArray(self.storage, f"{self.prefix}/{k}")

    def commit(self, attrs: dict[str, Any], checksum: str) -> bool:
        for ds in attrs["multiscales"][0]["datasets"]:
            ds["path"] = f"{self.build}/{ds['path']}"
        fs = self.storage.fs()
        try:  # the root .zattrs is written last: from now on this is the preview
            fs.pipe_file(f"{self.key}/.zgroup", json.dumps({"zarr_format": 2}).encode())
            fs.pipe_file(f"{self.key}/.zattrs", json.dumps(attrs, indent=2).encode())
        except Exception as exc:
            raise storage_error(self.url, exc) from exc
        if self.build not in referenced_builds(read_attrs(fs, self.key, self.url)):
            self.abort()  # a concurrent build committed after this one: keep theirs
        return True

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self.storage.fs().rm(self.prefix, recursive=True)

    def removed(self, index: Path) -> list[str]:
        return list(self.leftovers)

    def failure(self, ref: DatasetRef, exc: Exception) -> CatalogError:
        if isinstance(exc, StorageError) and type(exc) is not StorageError:
            return exc  # unreachable, denied, no bucket: named already, with the URL
        if not isinstance(exc, CatalogError):
            err = storage_error(self.url, exc)
            if type(err) is not StorageError:
                return err
        return PreviewError(
            f"could not build the preview of {ref.label} at {ref.where} into {self.url}: "
            f"{type(exc).__name__}: {exc}. Check the files are readable and the object "
            f"storage accepts writes there"
        )


def _build(
    ref: DatasetRef,
    place: PreviewPlace,
    progress: Progress | None,
    cancel: threading.Event | None,
    block_bytes: int,
    target: int = TARGET,
    client: Client | None = None,
) -> Path | str:
    """Build the preview into a temporary folder renamed into place, or into object
    storage (``.zattrs`` written last); on the cluster of ``client`` when given
    (:func:`~.oncluster.write_level_on_cluster`)."""
    t0 = time.perf_counter()
    checksum = ref.checksum or ""
    final = place.location(checksum)
    out: _FolderBuild | _ObjectBuild = (
        _ObjectBuild(place, checksum) if place.remote else _FolderBuild(Path(final))
    )
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
        arrays = [
            out.group.create_array(
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
            prev = out.level(k) if client is None else out.source(k)
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
        attrs = {
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
                "contrast": _contrasts(out.level(len(shapes) - 1), axes),
            },
        }
        won = out.commit(attrs, checksum)
    except PreviewCancelled:
        out.abort()
        raise
    except BaseException as exc:
        out.abort()
        if isinstance(exc, Exception) and not isinstance(exc, PreviewError):
            failure = out.failure(ref, exc)
            if failure is exc:
                raise
            raise failure from exc
        raise
    if won:
        _record(ref, final, shapes, time.perf_counter() - t0, out.removed(ref.index))
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


def _stored_path(index: Path, path: Path | str) -> str:
    """A preview's path as the index keeps it: relative to the cache folder, or a URL."""
    if isinstance(path, str):
        return path
    return path.relative_to(cache_dir(index)).as_posix()


def _record(
    ref: DatasetRef,
    path: Path | str,
    shapes: list[tuple[int, ...]],
    seconds: float,
    leftovers: list[str] | None = None,
) -> None:
    from ..index.store import append_audit, current_user, now

    rel = _stored_path(ref.index, path)
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
            detail["removed"] = list(leftovers)
        append_audit(con, [("preview.built", ref.id, detail)], current_user())


def prune_previews(
    index: str | os.PathLike[str] | None = None,
    *,
    tmp_age: float = MAX_AGE,
    storage_options: Mapping[str, Any] | None = None,
) -> list[Path | str]:
    """Delete previews whose data is no longer in the index (changed, rescanned or
    removed) and temporary folders of builds whose process is gone (or, when that
    cannot be told, abandoned more than ``tmp_age`` seconds ago). Returns what was
    removed. When the index keeps its previews in object storage, the objects of
    those previews and of builds cut short are deleted there too (URLs returned),
    reached with the stored options plus ``storage_options``.

    >>> prune_previews("lab.duckdb")                             # doctest: +SKIP
    [PosixPath('lab.voxcat/previews/5f2a....ome.zarr')]
    """
    from ..index.store import append_audit, current_user

    place = preview_place(index, storage_options)
    base = previews_dir(index)
    if not base.is_dir() and not place.remote:
        return []
    with connect(index, read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT checksum FROM datasets WHERE checksum IS NOT NULL"
        ).fetchall()
    current = {c.split(":")[-1][:32] for (c,) in rows}
    removed: list[Path | str] = []
    for path in sorted(base.iterdir()) if base.is_dir() else []:
        name = path.name
        if name.endswith(SUFFIX) and not name.startswith("."):
            stale = name[: -len(SUFFIX)] not in current
        else:
            stale = name.startswith(".") and is_stale(path, tmp_age)
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if place.remote:
        removed += _prune_objects(place, current, tmp_age)
    if removed:
        home = resolve_index(index)
        rels = [_stored_path(home, p) for p in removed]
        with transaction(index) as con:
            con.execute(PREVIEWS_DDL)
            con.execute("DELETE FROM previews WHERE path IN (SELECT unnest(?))", [rels])
            append_audit(con, [("preview.pruned", None, {"removed": rels})], current_user())
    return removed


def _prune_objects(place: PreviewPlace, current: set[str], tmp_age: float) -> list[Path | str]:
    """:func:`prune_previews` in object storage: previews of data no longer indexed,
    and builds that no ``.zattrs`` names whose writer is gone."""
    fs = place.fs()
    assert place.url is not None
    try:
        fs.invalidate_cache(place.prefix)
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(place.prefix, detail=False)]
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise storage_error(place.url, exc) from exc
    removed: list[Path | str] = []
    for name in sorted(names):
        if not name.endswith(SUFFIX):
            continue
        key, url = f"{place.prefix}/{name}", f"{place.url.rstrip('/')}/{name}"
        if name[: -len(SUFFIX)] in current:
            removed += remove_stale_builds(place, key, max_age=tmp_age)
            continue
        try:
            fs.rm(key, recursive=True)
        except FileNotFoundError:
            continue
        except Exception as exc:
            raise storage_error(url, exc) from exc
        removed.append(url)
    return removed
