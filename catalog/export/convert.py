"""Conversion of a dataset to Zarr that plain ``xarray.open_zarr`` and OME-Zarr readers
both open.

An image becomes a Zarr v2 group whose root carries OME-Zarr 0.4 ``multiscales``
metadata and whose levels are subgroups ``0``, ``1``, ... each holding the array
``image`` (with ``_ARRAY_DIMENSIONS``) and its physical coordinates, so
``xr.open_zarr(store, group="1")`` gives level 1 with coordinates in physical units.
Chunks are chosen by bytes (4-8 MB, see :mod:`.chunking`). Each level halves the
spatial dimensions (mean, or every second voxel for segmentations) until the largest
plane fits in 256×256; a source that has its own pyramid keeps every one of its levels
instead. Scales are written as the source states them (3.4 µm stays 3.4, never
3.4000000000000004), time axes keep their unit, time coordinates their encoding.

A container (several arrays) becomes a Zarr group of its variables, either as xarray
reads the file itself (its groups, variable and dimension names: the names the stock
reader of a copied file gives) or, when xarray cannot read it so, as voxcat reads it.

Each level is computed from the level before as written (read back in the blocks it was
written in); the BLAKE3 of every storage chunk of level 0 as it goes to Zarr and as it
is read back for level 1 are compared, which checks level 0 without reading the source
again. Levels read from the source are written chunk by chunk and, for a resumable
conversion (``resume=``), logged chunk by chunk: a conversion killed half way keeps
its temporary store and the next run writes only the chunks not logged (:mod:`.resume`).

With a Dask ``client`` the blocks of every level are computed and written by the
cluster's workers (the source read through its reader's lazy array, levels read back
from the store, which must be on a file system the workers share): each block task
writes its whole storage chunks and returns their BLAKE3, so this process logs them
(resume), compares level 0 with what a second pass of tasks reads back, and stops the
tasks on a cancel. A container's arrays are written here.

>>> levels = convert(da, Path("out/vol.zarr"))          # doctest: +SKIP
>>> [lv for lv in levels]                                # doctest: +SKIP
[(600, 1024, 1024), (300, 512, 512), (150, 256, 256)]
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import blake3
import numpy as np

from .. import omezarr
from ..testhooks import pause
from ..units import ngff_time_unit, ngff_unit
from .chunking import chunks_for
from .files import TMP
from .resume import ResumeLog

if TYPE_CHECKING:
    from distributed import Client

VOLUME_CHUNK = 64  # a stack this deep or deeper is a volume: its pyramid halves z too
TILE = 256
MAX_LEVELS = 8
WRITE_BYTES = 64 << 20  # bytes of one dask block written at a time
TIME_ENCODING = ("units", "calendar", "dtype")  # kept for datetime and timedelta variables
DIGITS = 15  # significant digits of a float that are not arithmetic noise


def _compressor() -> Any:
    import numcodecs

    return numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)


def _write_chunks(
    chunks: tuple[int, ...], itemsize: int, shape: tuple[int, ...], limit: int = WRITE_BYTES
) -> tuple:
    """Dask blocks of whole storage chunks, grown along the last axes up to ``limit``."""
    block = list(chunks)
    for i in reversed(range(len(block))):
        while block[i] < shape[i] and np.prod(block) * itemsize * 2 <= limit:
            block[i] = min(shape[i], block[i] * 2)
    return tuple(block)


def _factors(sizes: dict[str, int]) -> dict[str, int]:
    """Which spatial dimensions the next level halves (z only for deep stacks)."""
    out = {}
    for d in ("y", "x"):
        if sizes.get(d, 0) > 1:
            out[d] = 2
    if sizes.get("z", 0) >= 2 * VOLUME_CHUNK:
        out["z"] = 2
    return out


def _downsample(da: Any, segmentation: bool) -> Any:
    """The next level: means (partial cells trimmed), or every second voxel of
    segmentations and masks (:func:`catalog.omezarr.downsample_dataarray`)."""
    method = "stride" if segmentation or da.dtype == bool else "mean"
    return omezarr.downsample_dataarray(da, _factors(dict(da.sizes)), method)


def _tapped(data: Any, fn: Callable[..., np.ndarray]) -> Any:
    """``data`` with every block passed through ``fn(block, block_info=...)``."""
    meta = np.empty((0,) * data.ndim, data.dtype)
    return data.map_blocks(fn, dtype=data.dtype, meta=meta)


def _more_levels(sizes: dict[str, int]) -> bool:
    return max(sizes.get("y", 0), sizes.get("x", 0)) > TILE and bool(_factors(sizes))


def _clean_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(attrs, default=str))


def exact(value: float) -> float:
    """``value`` without the noise of float arithmetic (15 significant digits):
    ``3.4 * 4`` is 13.600000000000001, ``exact(3.4 * 4)`` is 13.6.

    >>> exact(13.600000000000001), exact(1e-06 * 3), exact(0.0)
    (13.6, 3e-06, 0.0)
    """
    return float(f"{float(value):.{DIGITS}g}")


def _itemsize(dtype: np.dtype) -> int:
    return 64 if np.dtype(dtype).kind == "O" else max(1, np.dtype(dtype).itemsize)


def _encoding(var: Any) -> dict[str, Any]:
    """The encoding worth keeping from a source variable: how times are stored."""
    if var.dtype.kind not in "mM":
        return {}
    return {k: v for k, v in var.encoding.items() if k in TIME_ENCODING}


def _plain(var: Any) -> Any:
    """A variable Zarr v2 stores as is: object arrays of text become fixed-width text."""
    if var.dtype.kind != "O":
        return var
    values = np.asarray(var.values)
    if all(isinstance(v, bytes) for v in values.flat):
        return var.copy(data=values.astype(bytes))
    return var.copy(data=values.astype(str))


def _write_level(
    da: Any,
    store: Path,
    group: str,
    tap: _Tap | None = None,
    log: ResumeLog | None = None,
    check: Callable[[], None] | None = None,
    client: Client | None = None,
) -> dict[str, int]:
    """Write one level as ``group/image``; returns the dask blocks it was written in.
    With ``log``, the chunks an interrupted run wrote (and logged) are kept, and each
    chunk written now is logged."""
    chunks = chunks_for(tuple(map(str, da.dims)), tuple(da.shape), da.dtype.itemsize)
    block = _write_chunks(chunks, da.dtype.itemsize, tuple(da.shape), _write_bytes(client))
    data = da.chunk(dict(zip(da.dims, block)))
    header = {
        "shape": [int(n) for n in da.shape],
        "chunks": list(chunks),
        "block": list(block),
        "dtype": np.dtype(da.dtype).str,
    }
    done = log.level(group, header) if log is not None else None
    if done is None:
        _create_level(da, data, store, group, chunks)
        if log is not None:
            log.start(group, header)
        done = {}
    elif log is not None:
        log.kept += len(done)
    if tap is not None:
        tap.chunks = tuple(chunks)
        tap.sent.update({k: bytes.fromhex(v) for k, v in done.items() if v})
    if client is None:
        _write_blocks(data.data, store, group, tuple(chunks), set(done), tap, log, check)
    else:
        _write_blocks_on_cluster(
            client, data.data, store, group, tuple(chunks), set(done), tap, log, check
        )
    return dict(zip(da.dims, block))


def _write_bytes(client: Client | None) -> int:
    """Bytes of a block: :data:`WRITE_BYTES`, or on a cluster at most a sixteenth of a
    worker thread's memory limit (a task holds a few blocks: read, rechunked, hashed)."""
    if client is None:
        return WRITE_BYTES
    from ..cluster import worker_memory

    share = worker_memory(client)
    return WRITE_BYTES if share is None else max(1 << 20, min(WRITE_BYTES, share // 16))


def _create_level(da: Any, data: Any, store: Path, group: str, chunks: tuple[int, ...]) -> None:
    """The level's group: ``image`` (empty), its attributes and its coordinates."""
    import xarray as xr

    ds = xr.Dataset({"image": data})
    ds.attrs = {}
    for key, var in ds.variables.items():
        # storage encodings read from a source or a previous level do not fit this one;
        # how times are stored (units, calendar) is kept
        var.encoding = _encoding(da.coords[key].variable) if key in da.coords else {}
    ds["image"].attrs = _clean_attrs(dict(da.attrs))
    for name in ds.coords:
        ds[name].attrs = _clean_attrs(dict(ds[name].attrs))
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    lazy = {n: ds.coords[n].compute() for n in ds.coords if ds.coords[n].chunks is not None}
    if lazy:  # written now with the metadata; only the image is written block by block
        ds = ds.assign_coords(lazy)
    encoding = {"image": {"chunks": chunks, "compressors": [_compressor()]}}
    ds.to_zarr(
        store, group=group, mode="w", zarr_format=2, consolidated=False, encoding=encoding,
        compute=False,
    )  # fmt: skip


def _chunk_keys(start: tuple[int, ...], shape: tuple[int, ...], chunks: tuple[int, ...]) -> list:
    """Indices of the storage chunks of a block at ``start`` of ``shape``."""
    return list(
        itertools.product(
            *(range(a // c, (a + n + c - 1) // c) for a, n, c in zip(start, shape, chunks))
        )
    )


def _pieces(
    shape: tuple[int, ...], start: tuple[int, ...], chunks: tuple[int, ...]
) -> list[tuple[tuple[int, ...], tuple[slice, ...], tuple[slice, ...]]]:
    """``(chunk index, slices in the block, slices in the array)`` of each storage
    chunk of a block at ``start`` of ``shape`` (blocks hold whole chunks)."""
    out = []
    for key in _chunk_keys(start, shape, chunks):
        lo = [k * c - a for k, c, a in zip(key, chunks, start)]
        local = tuple(slice(o, min(o + c, n)) for o, c, n in zip(lo, chunks, shape))
        full = tuple(slice(a + s.start, a + s.stop) for a, s in zip(start, local))
        out.append((key, local, full))
    return out


def _todo(arr: Any, chunks: tuple[int, ...], done: set[tuple[int, ...]]) -> list[tuple]:
    """Indices of the blocks of ``arr`` holding a storage chunk not in ``done``."""
    starts = [np.cumsum((0, *c[:-1])) for c in arr.chunks]
    todo = []
    for idx in np.ndindex(*arr.numblocks):
        start = tuple(int(starts[d][i]) for d, i in enumerate(idx))
        shape = tuple(int(arr.chunks[d][i]) for d, i in enumerate(idx))
        if not all(k in done for k in _chunk_keys(start, shape, chunks)):
            todo.append(idx)
    return todo


def _write_blocks(
    arr: Any,
    store: Path,
    group: str,
    chunks: tuple[int, ...],
    done: set[tuple[int, ...]],
    tap: _Tap | None,
    log: ResumeLog | None,
    check: Callable[[], None] | None = None,
) -> None:
    """Write the dask array ``arr`` into ``group/image`` chunk by chunk, each chunk
    logged once written, except the chunks in ``done``; blocks all of whose chunks are
    done are not even read. ``check()`` runs before each chunk (it raises to stop)."""
    import dask
    import zarr
    from dask.delayed import Delayed

    target = zarr.open_array(store=_zarr(store), path=f"{group}/image", mode="r+", zarr_format=2)
    todo = _todo(arr, chunks, done)
    if not todo:
        return

    def put(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        assert block_info is not None
        block = np.asarray(block)
        start = tuple(a for a, _ in block_info[0]["array-location"])
        for key, local, full in _pieces(block.shape, start, chunks):
            if key in done:
                continue
            if check is not None:
                check()
            piece = block[local]
            digest = tap.digest(piece) if tap is not None else b""
            target[full] = piece
            if tap is not None:
                tap.sent_now({key: digest})
            if log is not None:  # only now: a chunk cut short is written again
                log.written(group, {key: digest.hex()})
            pause("export.chunk")
        return np.zeros((1,) * block.ndim, np.int8)

    marks = arr.map_blocks(
        put,
        dtype=np.int8,
        chunks=tuple((1,) * n for n in arr.numblocks),
        meta=np.empty((0,) * arr.ndim, np.int8),
    )
    if len(todo) == int(np.prod(arr.numblocks)):
        marks.compute()
    else:  # only the blocks still to write: the others are not even read
        graph = marks.__dask_graph__()
        dask.compute(*[Delayed((marks.name, *idx), graph) for idx in todo])


def _put_block(
    block: np.ndarray,
    store: str,
    group: str,
    chunks: tuple[int, ...],
    done: frozenset,
    digests: bool,
    block_info: dict | None = None,
) -> dict[tuple[int, ...], bytes]:
    """A task on a worker: write the storage chunks of one block not in ``done`` into
    ``group/image`` of the Zarr at ``store``; returns their BLAKE3 (empty without
    ``digests``) by chunk index, for the process that logs them."""
    import zarr

    assert block_info is not None
    target = zarr.open_array(store=store, path=f"{group}/image", mode="r+", zarr_format=2)
    block = np.asarray(block)
    start = tuple(a for a, _ in block_info[0]["array-location"])
    out = {}
    for key, local, full in _pieces(block.shape, start, chunks):
        if key in done:
            continue
        piece = block[local]
        out[key] = _Tap.digest(piece) if digests else b""
        target[full] = piece
    return out


def _block_tasks(arr: Any, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(block, *args, block_info=...)`` of every block of ``arr`` as delayed objects
    (an array of them, laid out as the blocks), whatever ``fn`` returns."""
    meta = np.empty((0,) * arr.ndim, object)
    marks = arr.map_blocks(
        fn, *args, dtype=object, chunks=tuple((1,) * n for n in arr.numblocks), meta=meta
    )
    return marks.to_delayed()


def _write_blocks_on_cluster(
    client: Client,
    arr: Any,
    store: Path,
    group: str,
    chunks: tuple[int, ...],
    done: set[tuple[int, ...]],
    tap: _Tap | None,
    log: ResumeLog | None,
    check: Callable[[], None] | None = None,
) -> None:
    """:func:`_write_blocks` with each block a task on the cluster of ``client``
    (:func:`_put_block`): the digests of the chunks a task wrote are handed to ``tap``
    and logged as it finishes; ``check()`` runs while waiting (it raises to cancel the
    tasks not finished; those running are waited for)."""
    from ..cluster import compute_on_cluster

    todo = _todo(arr, chunks, done)
    if not todo:
        return
    tasks = _block_tasks(
        arr,
        _put_block,
        str(store),
        group,
        chunks,
        frozenset(done),
        tap is not None or log is not None,
    )

    def written(found: dict[tuple[int, ...], bytes]) -> None:
        if tap is not None:
            tap.sent_now(found)
        if log is not None:
            log.written(group, {key: digest.hex() for key, digest in found.items()})

    compute_on_cluster(client, [tasks[idx] for idx in todo], written, check=check, settle=True)


def _chunk_digests(
    block: np.ndarray, chunks: tuple[int, ...], block_info: dict | None = None
) -> dict[tuple[int, ...], bytes]:
    """A task on a worker: the BLAKE3 of each storage chunk of a block read back."""
    assert block_info is not None
    return _Tap.found(np.asarray(block), block_info, chunks)


def _read_back_on_cluster(
    client: Client, arr: Any, tap: _Tap, check: Callable[[], None] | None
) -> None:
    """Level 0 as written (``arr``, read from the store in the blocks it was written
    in) checked against the digests of what was handed to Zarr, by tasks on the
    cluster: the cluster's counterpart of :meth:`_Tap.read_back`."""
    from ..cluster import compute_on_cluster

    tasks = _block_tasks(arr, _chunk_digests, tap.chunks)
    compute_on_cluster(client, list(tasks.ravel()), tap.compare, check=check, settle=True)


class _Tap:
    """Level 0 checked without reading the source again: the BLAKE3 of every storage
    chunk as it is handed to Zarr (or, resuming, as an earlier run logged it), then of
    the same chunk as it is read back from the store to compute level 1 (values in
    native byte order, NaNs made alike)."""

    def __init__(self) -> None:
        self.chunks: tuple[int, ...] | None = None  # storage chunks of level 0
        self.sent: dict[tuple, bytes] = {}
        self.back: dict[tuple, bool] = {}
        self._lock = threading.Lock()

    @staticmethod
    def digest(block: np.ndarray) -> bytes:
        block = np.asarray(block)
        block = block.astype(block.dtype.newbyteorder("="), copy=False)
        if block.dtype.kind in "fc" and np.isnan(block).any():
            block = np.where(np.isnan(block), np.nan, block).astype(block.dtype)
        raw = np.ascontiguousarray(block).view(np.uint8).reshape(-1)
        return block.dtype.str.encode() + blake3.blake3(raw.data).digest()

    def sent_now(self, digests: dict[tuple, bytes]) -> None:
        with self._lock:
            self.sent.update(digests)

    @classmethod
    def found(
        cls, values: np.ndarray, block_info: dict, chunks: tuple[int, ...] | None
    ) -> dict[tuple[int, ...], bytes]:
        """The digest of each storage chunk of a block read back."""
        start = tuple(a for a, _ in block_info[0]["array-location"])
        chunks = chunks or tuple(values.shape)
        return {
            key: cls.digest(values[local])
            for key, local, _ in _pieces(tuple(values.shape), start, chunks)
        }

    def compare(self, found: dict[tuple[int, ...], bytes]) -> None:
        """Note whether each chunk read back has the digest it was written with."""
        with self._lock:
            for key, digest in found.items():
                same = self.sent.get(key) == digest
                self.back[key] = same and self.back.get(key, True)

    def read_back(self, block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if block_info is not None:
            self.compare(self.found(np.asarray(block), block_info, self.chunks))
        return block

    @property
    def all_equal(self) -> bool:
        """Every chunk written was read back with the same values."""
        return bool(self.sent) and self.back.keys() == self.sent.keys() and all(self.back.values())


def _step(coord: Any) -> float | None:
    """The spacing of an evenly spaced numeric (or datetime, in seconds) coordinate."""
    values = np.asarray(coord.values)
    if values.size < 2:
        return None
    if values.dtype.kind == "M":
        values = (values - values[0]) / np.timedelta64(1, "s")
    elif values.dtype.kind == "m":
        values = values / np.timedelta64(1, "s")
    elif values.dtype.kind not in "iuf":
        return None
    values = values.astype(float)
    step = (values[-1] - values[0]) / (values.size - 1)  # less noise than one difference
    return exact(step) if np.isfinite(step) and step > 0 else None


def _axis_meta(da: Any) -> tuple[list[dict[str, Any]], list[float], list[float]]:
    """NGFF axes, scale and translation of one level. Spatial scales come from the
    voxel size the source states (``attrs["voxel_size_m"]``, in the coordinate's unit)
    for level 0, else from the coordinate; both without float noise."""
    from ..units import from_metres

    stated = da.attrs.get("voxel_size_m") if int(da.attrs.get("level") or 0) == 0 else None
    axes, scale, translation = [], [], []
    for d in map(str, da.dims):
        item: dict[str, Any] = omezarr.space_axis(d)
        coord = da.coords.get(d)
        step, start = None, 0.0
        if coord is not None and coord.size:
            units = str(coord.attrs.get("units", ""))
            step = _step(coord)
            if item["type"] == "space" and ngff_unit(units):
                item["unit"] = ngff_unit(units)
                if isinstance(stated, dict) and stated.get(d):
                    with contextlib.suppress(ValueError, TypeError):
                        step = exact(from_metres(float(stated[d]), units))
                start = exact(float(coord.values[0]))
            elif item["type"] == "time":
                unit = "second" if coord.dtype.kind in "mM" else ngff_time_unit(units)
                if unit:
                    item["unit"] = unit
                else:
                    step = None  # index coordinates: a step of 1 says nothing
            elif item["type"] == "space":
                start = exact(float(coord.values[0])) if coord.dtype.kind in "iuf" else 0.0
        axes.append(item)
        scale.append(step if step and item["type"] in ("space", "time") else 1.0)
        translation.append(start if item["type"] == "space" else 0.0)
    return axes, scale, translation


class Converted(list):
    """The shapes of the levels written (one for a ``Dataset``); ``verified`` is true when
    every block of level 0 was read back from the store, for level 1, with the values
    that were written (else compare level 0 with the source yourself)."""

    verified: bool = False
    kept: int = 0  # chunks an interrupted run had written, kept instead of written again


def convert(
    data: Any,
    dest: Path,
    *,
    name: str = "",
    segmentation: bool = False,
    progress: Callable[[int], None] | None = None,
    levels: list[Any] | None = None,
    resume: str | None = None,
    check: Callable[[], None] | None = None,
    client: Client | None = None,
) -> Converted:
    """Write ``data`` to the Zarr ``dest`` atomically; returns the shapes of the levels
    written (see :class:`Converted`). ``data`` is a voxcat-read ``DataArray`` (with
    ``levels``, the source's own pyramid levels 1, 2, ... written as they are instead of
    computed), a ``Dataset``, or ``{group path: Dataset}`` written group by group.

    ``resume`` (a key naming the source, such as its checksum and shape) makes an image
    conversion resumable: cut short, it keeps its temporary store, and the next call
    with the same key keeps the chunks the first one logged as written (see
    :mod:`.resume`) and writes the rest. Without it, or for a container, a conversion
    cut short leaves nothing behind. ``check()`` is called before each chunk of an
    image is written; it raises to cut the conversion short (a cancelled export).
    With ``client`` (a ``distributed.Client``) an image's blocks are computed and
    written by that cluster's workers; the result is the same store."""
    import xarray as xr

    tmp = dest.with_name(dest.name + TMP)
    tap = _Tap()
    image = not isinstance(data, dict | xr.Dataset)
    log = ResumeLog.open(tmp, resume) if resume is not None and image else None
    if log is None:
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        if not image:
            groups = data if isinstance(data, dict) else {"": data}
            shapes = Converted([_write_groups(groups, tmp)])
            if progress is not None:
                progress(sum(int(ds.nbytes) for ds in groups.values()))
        else:
            shapes = Converted(
                _write_pyramid(
                    data,
                    tmp,
                    name,
                    segmentation,
                    progress,
                    tap,
                    levels or [],
                    log,
                    check,
                    client,
                )
            )
            shapes.verified = tap.all_equal and not levels
            shapes.kept = log.kept if log is not None else 0
        if log is not None:
            log.close()
        sync_file_system(tmp)  # one flush beats an fsync per chunk file
    except BaseException:
        if log is None:
            shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays behind
        raise
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return shapes


def convert_store(
    data: Any,
    store: Any,
    *,
    name: str = "",
    segmentation: bool = False,
    progress: Callable[[int], None] | None = None,
    levels: list[Any] | None = None,
    check: Callable[[], None] | None = None,
) -> Converted:
    """:func:`convert` into a zarr store object (an ``FsspecStore`` in object storage,
    written in place: no temporary store to rename, and no resume log); returns the
    shapes of the levels written (see :class:`Converted`).

    >>> from zarr.storage import MemoryStore
    >>> import numpy as np, xarray as xr
    >>> convert_store(xr.DataArray(np.zeros((4, 6)), dims=("y", "x")), MemoryStore())
    [(4, 6)]
    """
    import xarray as xr

    tap = _Tap()
    if isinstance(data, dict | xr.Dataset):
        groups = data if isinstance(data, dict) else {"": data}
        shapes = Converted([_write_groups(groups, store)])
        if progress is not None:
            progress(sum(int(ds.nbytes) for ds in groups.values()))
        return shapes
    shapes = Converted(
        _write_pyramid(data, store, name, segmentation, progress, tap, levels or [], None, check)
    )
    shapes.verified = tap.all_equal and not levels
    return shapes


def _zarr(store: Any) -> Any:
    """What zarr opens: a folder's path as text, a store object as it is."""
    return str(store) if isinstance(store, str | os.PathLike) else store


def sync_file_system(path: Path) -> None:
    """Flush the file system holding ``path`` (``syncfs``; ``sync`` where it is missing),
    not every file system of the machine; raises if write-back failed."""
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (AttributeError, OSError, TypeError):
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"syncfs: {os.strerror(err)}", str(path))
    finally:
        os.close(fd)


def _write_groups(groups: dict[str, Any], store: Path) -> tuple[int, ...]:
    """Each Dataset of ``groups`` into its group of ``store`` (``""``: the root);
    returns the shape of the primary array (named by a Dataset's ``encoding["primary"]``
    or ``attrs["primary"]``, else the largest)."""
    import zarr

    zarr.open_group(_zarr(store), mode="w", zarr_format=2)
    for group, ds in sorted(groups.items()):
        _write_dataset(ds, store, group or None)
    for ds in groups.values():
        name = ds.encoding.get("primary") or ds.attrs.get("primary")
        if name is not None and name in ds.variables:
            return tuple(int(n) for n in ds[name].shape)
    largest = max(
        (v for ds in groups.values() for v in ds.data_vars.values()), key=lambda v: v.size
    )
    return tuple(int(n) for n in largest.shape)


def _write_dataset(ds: Any, store: Path, group: str | None = None) -> None:
    """One Dataset as a Zarr group that ``xr.open_zarr`` reads back with the same
    variable and dimension names (``/`` in a name, which Zarr cannot hold, becomes
    ``_``), attributes and time encodings; text variables as fixed-width text."""
    import xarray as xr

    renamed = ds.rename({k: str(k).replace("/", "_") for k in ds.variables if "/" in str(k)})
    out = xr.Dataset(attrs=_clean_attrs(dict(ds.attrs)))
    encoding: dict[str, dict[str, Any]] = {}
    for key, var in renamed.variables.items():
        var = _plain(var)
        itemsize = _itemsize(var.dtype)
        chunks = chunks_for(tuple(map(str, var.dims)), tuple(var.shape), itemsize)
        block = _write_chunks(chunks, itemsize, tuple(var.shape))
        data = var.chunk(dict(zip(var.dims, block))) if var.ndim else var
        data.attrs = _clean_attrs(dict(var.attrs))
        data.encoding = {}
        if key in renamed.coords:
            out.coords[key] = data
        else:
            out[key] = data
        encoding[str(key)] = {**_encoding(var), "compressors": [_compressor()]}
        if var.ndim:
            encoding[str(key)]["chunks"] = chunks
    out.to_zarr(
        store, group=group, mode="w" if group else "a", zarr_format=2, consolidated=False,
        encoding=encoding,
    )  # fmt: skip


def _write_pyramid(
    da: Any,
    store: Path,
    name: str,
    segmentation: bool,
    progress: Callable[[int], None] | None,
    tap: _Tap | None = None,
    given: list[Any] | None = None,
    log: ResumeLog | None = None,
    check: Callable[[], None] | None = None,
    client: Client | None = None,
) -> list[tuple[int, ...]]:
    """Level 0, then the ``given`` levels as they are, or (none given) levels computed
    from the one before until the largest plane fits in a 256×256 tile. The levels read
    from the source (level 0 and given ones) resume with ``log``; computed levels are
    computed again from level 0 as written (which checks it, see :class:`_Tap`)."""
    import xarray as xr
    import zarr

    given = list(given or [])
    level = da
    shapes: list[tuple[int, ...]] = []
    datasets = []
    for k in range(max(MAX_LEVELS, len(given) + 1)):
        blocks = _write_level(
            level, store, str(k), tap if k == 0 and not given else None,
            log if k == 0 or given else None, check, client,
        )  # fmt: skip
        if progress is not None and k == 0:
            progress(int(level.nbytes))
        shapes.append(tuple(int(n) for n in level.shape))
        _, scale, translation = _axis_meta(level)
        datasets.append(omezarr.level_dataset(f"{k}/image", scale, translation))
        if given:
            if k >= len(given):
                break
            level = given[k]
            level.attrs = {**level.attrs, "level": k + 1}
            continue
        if not _more_levels(dict(level.sizes)):
            break
        # read back in the blocks it was written in (whole storage chunks): a few big
        # tasks instead of one per storage chunk
        written = xr.open_zarr(store, group=str(k), consolidated=False, chunks=blocks)["image"]
        if k == 0 and tap is not None and client is not None:
            _read_back_on_cluster(client, written.data, tap, check)
        elif k == 0 and tap is not None:
            written = written.copy(data=_tapped(written.data, tap.read_back))
        level = _downsample(written, segmentation)
        level.attrs = {**written.attrs, "level": k + 1}
    root = zarr.open_group(_zarr(store), mode="a", zarr_format=2)
    axes, _, _ = _axis_meta(da)
    root.attrs.update(
        {
            "multiscales": omezarr.multiscales(
                name,
                axes,
                datasets,
                type=None if given else "nearest" if segmentation else "mean",
                metadata={
                    "written_by": "voxcat export",
                    "levels": "the source's own" if given else "computed by voxcat",
                },
            ),
            "voxcat": {"levels": [list(s) for s in shapes], "variable": "image"},
        }
    )
    return shapes
