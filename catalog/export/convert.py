"""Conversion of a dataset to Zarr that plain ``xarray.open_zarr`` and OME-Zarr readers
both open.

An image becomes a Zarr v2 group whose root carries OME-Zarr 0.4 ``multiscales``
metadata and whose levels are subgroups ``0``, ``1``, ... each holding the array
``image`` (with ``_ARRAY_DIMENSIONS``) and its physical coordinates, so
``xr.open_zarr(store, group="1")`` gives level 1 with coordinates in physical units.
Chunks suit browsing: 64³ cubes for volumes, 256×256 tiles for images. Each level
halves the spatial dimensions (mean, or every second voxel for segmentations) until
the largest plane fits in 256×256. A container (several arrays) becomes one Zarr
group of its variables.

Each level is computed from the level before as written (read back in the blocks it was
written in); the BLAKE3 of every block of level 0 as it goes to Zarr and as it is read
back for level 1 are compared, which checks level 0 without reading the source again.

>>> levels = convert(da, Path("out/vol.zarr"))          # doctest: +SKIP
>>> [lv for lv in levels]                                # doctest: +SKIP
[(600, 1024, 1024), (300, 512, 512), (150, 256, 256)]
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blake3
import numpy as np

from .files import TMP

VOLUME_CHUNK = 64
TILE = 256
MAX_LEVELS = 8
WRITE_BYTES = 64 << 20  # bytes of one dask block written at a time
NGFF_UNITS = {
    "m": "meter",
    "cm": "centimeter",
    "mm": "millimeter",
    "µm": "micrometer",
    "um": "micrometer",
    "nm": "nanometer",
    "Å": "angstrom",
    "pm": "picometer",
}
AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def _compressor() -> Any:
    import numcodecs

    return numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE)


def chunks_for(dims: tuple[str, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    """Storage chunks for browsing: 64³ for volumes, 256² tiles for images and short
    stacks (fewer than 64 planes), 1 along t and c.

    >>> chunks_for(("z", "y", "x"), (600, 1024, 1024)), chunks_for(("z", "y", "x"), (3, 5, 3000))
    ((64, 64, 64), (1, 5, 256))
    """
    volume = "z" in dims and dict(zip(dims, shape))["z"] >= VOLUME_CHUNK
    out = []
    for d, n in zip(dims, shape):
        if d in ("y", "x", "z"):
            size = VOLUME_CHUNK if volume else (1 if d == "z" else TILE)
        else:
            size = 1
        out.append(max(1, min(n, size)))
    return tuple(out)


def _write_chunks(chunks: tuple[int, ...], itemsize: int, shape: tuple[int, ...]) -> tuple:
    """Dask blocks of whole storage chunks, grown along the last axes up to WRITE_BYTES."""
    block = list(chunks)
    for i in reversed(range(len(block))):
        while block[i] < shape[i] and np.prod(block) * itemsize * 2 <= WRITE_BYTES:
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
    factors = _factors(dict(da.sizes))
    if segmentation or da.dtype == bool:
        return da.isel({d: slice(None, None, f) for d, f in factors.items()})
    small = da.coarsen(factors, boundary="trim").mean()  # lazy; its coordinates are used
    axes = {da.dims.index(d): f for d, f in factors.items()}
    if _exact_in_float32(da.dtype, int(np.prod(list(factors.values())))) and hasattr(
        da.data, "map_blocks"
    ):
        return small.copy(data=_block_means(da.data, axes, da.dtype))
    if np.issubdtype(da.dtype, np.integer):
        small = small.round()
    return small.astype(da.dtype)


def _exact_in_float32(dtype: np.dtype, count: int) -> bool:
    """Integers of at most 16 bits: a float32 sum of ``count`` (a power of two, at most
    256) of them and its division by ``count`` are exact, so :func:`_mean_block` gives the
    same values as a float64 mean rounded half to even."""
    return np.issubdtype(dtype, np.integer) and np.dtype(dtype).itemsize <= 2 and count <= 256


def _mean_block(block: np.ndarray, axes: dict[int, int], dtype: np.dtype) -> np.ndarray:
    """Mean of each ``axes`` cell of ``block`` (trailing partial cells dropped), rounded
    half to even: strided float32 sums, about 7x faster than ``coarsen().mean()``."""
    shape = tuple(n // axes.get(i, 1) for i, n in enumerate(block.shape))
    acc = np.zeros(shape, np.float32)
    for offsets in itertools.product(*(range(axes.get(i, 1)) for i in range(block.ndim))):
        acc += block[
            tuple(
                slice(o, o + shape[i] * axes.get(i, 1), axes.get(i, 1))
                for i, o in enumerate(offsets)
            )
        ]
    acc *= np.float32(1 / np.prod(list(axes.values())))
    return np.rint(acc, out=acc).astype(dtype)


def _block_means(data: Any, axes: dict[int, int], dtype: np.dtype) -> Any:
    """:func:`_mean_block` over a dask array whose blocks hold whole cells."""
    chunks = dict(enumerate(data.chunks))
    for ax, f in axes.items():
        if any(c % f for c in chunks[ax][:-1]) or (len(chunks[ax]) > 1 and chunks[ax][-1] < f):
            size = max(f, max(chunks[ax]) // f * f)  # whole cells in every block
            data = data.rechunk({ax: size})
    out = tuple(
        tuple(c // axes[ax] for c in cs) if ax in axes else cs for ax, cs in enumerate(data.chunks)
    )
    meta = np.empty((0,) * data.ndim, dtype)
    return data.map_blocks(_mean_block, axes, np.dtype(dtype), chunks=out, dtype=dtype, meta=meta)


def _tapped(data: Any, fn: Callable[..., np.ndarray]) -> Any:
    """``data`` with every block passed through ``fn(block, block_info=...)``."""
    meta = np.empty((0,) * data.ndim, data.dtype)
    return data.map_blocks(fn, dtype=data.dtype, meta=meta)


def _more_levels(sizes: dict[str, int]) -> bool:
    return max(sizes.get("y", 0), sizes.get("x", 0)) > TILE and bool(_factors(sizes))


def _clean_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(attrs, default=str))


def _write_level(da: Any, store: Path, group: str, tap: _Tap | None = None) -> dict[str, int]:
    """Write one level as ``group/image``; returns the dask blocks it was written in."""
    import xarray as xr

    chunks = chunks_for(tuple(da.dims), tuple(da.shape))
    block = _write_chunks(chunks, da.dtype.itemsize, tuple(da.shape))
    data = da.chunk(dict(zip(da.dims, block)))
    if tap is not None:
        data = data.copy(data=_tapped(data.data, tap.written))
    ds = xr.Dataset({"image": data})
    ds.attrs = {}
    for var in ds.variables.values():
        var.encoding = {}  # encodings read from a previous level do not fit this one
    ds["image"].attrs = _clean_attrs(dict(da.attrs))
    for name in ds.coords:
        ds[name].attrs = _clean_attrs(dict(ds[name].attrs))
        if ds[name].dtype == object:
            ds[name] = ds[name].astype(str)
    encoding = {"image": {"chunks": chunks, "compressors": [_compressor()]}}
    ds.to_zarr(store, group=group, mode="w", zarr_format=2, consolidated=False, encoding=encoding)
    return dict(zip(da.dims, block))


class _Tap:
    """Level 0 checked without reading the source again: the BLAKE3 of every block as
    it is handed to Zarr, then of the same block as it is read back from the store to
    compute level 1 (values in native byte order, NaNs made alike)."""

    def __init__(self) -> None:
        self.sent: dict[tuple, bytes] = {}
        self.back: dict[tuple, bool] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(block_info: dict) -> tuple:
        return tuple(map(tuple, block_info[0]["array-location"]))

    @staticmethod
    def _digest(block: np.ndarray) -> bytes:
        block = np.asarray(block)
        block = block.astype(block.dtype.newbyteorder("="), copy=False)
        if block.dtype.kind in "fc" and np.isnan(block).any():
            block = np.where(np.isnan(block), np.nan, block).astype(block.dtype)
        raw = np.ascontiguousarray(block).view(np.uint8).reshape(-1)
        return block.dtype.str.encode() + blake3.blake3(raw).digest()

    def written(self, block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if block_info is not None:
            digest = self._digest(block)
            with self._lock:
                self.sent[self._key(block_info)] = digest
        return block

    def read_back(self, block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
        if block_info is not None:
            key = self._key(block_info)
            same = self.sent.get(key) == self._digest(block)
            with self._lock:
                self.back[key] = same and self.back.get(key, True)
        return block

    @property
    def all_equal(self) -> bool:
        """Every block written was read back with the same values."""
        return bool(self.sent) and self.back.keys() == self.sent.keys() and all(self.back.values())


def _axis_meta(da: Any) -> tuple[list[dict[str, Any]], list[float], list[float]]:
    axes, scale, translation = [], [], []
    for d in da.dims:
        item: dict[str, Any] = {"name": d, "type": AXIS_TYPES.get(d, "space")}
        coord = da.coords.get(d)
        step, start = 1.0, 0.0
        if coord is not None and coord.dtype.kind in "if" and coord.size:
            values = np.asarray(coord.values, dtype=float)
            start = float(values[0])
            step = float(values[1] - values[0]) if values.size > 1 else 1.0
            unit = NGFF_UNITS.get(str(coord.attrs.get("units", "")))
            if unit and item["type"] == "space":
                item["unit"] = unit
        axes.append(item)
        scale.append(step if d in ("z", "y", "x") and step > 0 else 1.0)
        translation.append(start if d in ("z", "y", "x") else 0.0)
    return axes, scale, translation


class Converted(list):
    """The shapes of the levels written (one for a ``Dataset``); ``verified`` is true when
    every block of level 0 was read back from the store, for level 1, with the values
    that were written (else compare level 0 with the source yourself)."""

    verified: bool = False


def convert(
    data: Any,
    dest: Path,
    *,
    name: str = "",
    segmentation: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Converted:
    """Write ``data`` (a voxcat-read ``DataArray`` or ``Dataset``) to the Zarr ``dest``
    atomically; returns the shapes of the levels written (see :class:`Converted`)."""
    import xarray as xr

    tmp = dest.with_name(dest.name + TMP)
    shutil.rmtree(tmp, ignore_errors=True)
    tap = _Tap()
    if isinstance(data, xr.Dataset):
        shapes = Converted([_write_dataset(data, tmp)])
        if progress is not None:
            progress(int(data.nbytes))
    else:
        shapes = Converted(_write_pyramid(data, tmp, name, segmentation, progress, tap))
        shapes.verified = tap.all_equal
    sync_file_system(tmp)  # one flush beats an fsync per chunk file
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return shapes


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


def _write_dataset(ds: Any, store: Path) -> tuple[int, ...]:
    import xarray as xr

    renamed = ds.rename({k: str(k).replace("/", "_") for k in ds.data_vars if "/" in str(k)})
    out = xr.Dataset(attrs=_clean_attrs(dict(ds.attrs)))
    encoding = {}
    for key, var in renamed.data_vars.items():
        chunks = chunks_for(tuple(var.dims), tuple(var.shape))
        block = _write_chunks(chunks, var.dtype.itemsize, tuple(var.shape))
        out[key] = var.chunk(dict(zip(var.dims, block)))
        out[key].attrs = _clean_attrs(dict(var.attrs))
        encoding[key] = {"chunks": chunks, "compressors": [_compressor()]}
    for key in out.coords:
        out[key].attrs = _clean_attrs(dict(out[key].attrs))
    out.to_zarr(store, mode="w", zarr_format=2, consolidated=False, encoding=encoding)
    primary = ds.attrs.get("primary")
    first = renamed[str(primary).replace("/", "_")] if primary else next(iter(renamed.values()))
    return tuple(int(n) for n in first.shape)


def _write_pyramid(
    da: Any,
    store: Path,
    name: str,
    segmentation: bool,
    progress: Callable[[int], None] | None,
    tap: _Tap | None = None,
) -> list[tuple[int, ...]]:
    import xarray as xr
    import zarr

    level = da
    shapes: list[tuple[int, ...]] = []
    datasets = []
    for k in range(MAX_LEVELS):
        blocks = _write_level(level, store, str(k), tap if k == 0 else None)
        if progress is not None and k == 0:
            progress(int(level.nbytes))
        shapes.append(tuple(int(n) for n in level.shape))
        axes, scale, translation = _axis_meta(level)
        datasets.append(
            {
                "path": f"{k}/image",
                "coordinateTransformations": [
                    {"type": "scale", "scale": scale},
                    {"type": "translation", "translation": translation},
                ],
            }
        )
        if not _more_levels(dict(level.sizes)):
            break
        # read back in the blocks it was written in (whole storage chunks): a few big
        # tasks instead of one per 64³ chunk
        written = xr.open_zarr(store, group=str(k), consolidated=False, chunks=blocks)["image"]
        if k == 0 and tap is not None:
            written = written.copy(data=_tapped(written.data, tap.read_back))
        level = _downsample(written, segmentation)
        level.attrs = {**written.attrs, "level": k + 1}
    root = zarr.open_group(str(store), mode="a", zarr_format=2)
    axes, _, _ = _axis_meta(da)
    root.attrs.update(
        {
            "multiscales": [
                {
                    "version": "0.4",
                    "name": name,
                    "axes": axes,
                    "datasets": datasets,
                    "type": "nearest" if segmentation else "mean",
                    "metadata": {"written_by": "voxcat export"},
                }
            ],
            "voxcat": {"levels": [list(s) for s in shapes], "variable": "image"},
        }
    )
    return shapes
