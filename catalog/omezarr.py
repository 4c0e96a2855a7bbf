"""OME-Zarr 0.4 multiscales, written one way by the three writers of pyramids: preview
pyramids (:mod:`catalog.preview`), Zarr exports (:mod:`catalog.export.convert`) and
``cat.save`` (:mod:`catalog.catalogue.save`).

- **Units**: axes name their unit as OME-NGFF spells it, from the one unit table of
  :mod:`catalog.units` (:func:`space_axis`, :func:`axis_type`).
- **Chunks**, one policy per purpose (see :data:`CHUNK_POLICIES`): previews are browsed
  (:func:`preview_chunks`: 64³ cubes for volumes, 256² tiles otherwise, uncompressed),
  exports are stored and shipped (:func:`export_chunks`: 4-8 MB chunks by bytes),
  saved results keep the chunks of the dask array they are written from.
- **Downsampling**, one implementation of each method (:func:`downsample`): ``mean``
  of 2-blocks (edges padded by repeating the last voxel, or trimmed), ``mode`` (label
  images), ``stride`` (every second voxel); :func:`downsample_dataarray` applies them
  to a lazy xarray level. ``cat.save`` downsamples with ome-zarr-py's ``write_image``
  (:func:`write_image`).
- **Metadata**: :func:`multiscales` builds the ``multiscales`` attribute, with axes and
  coordinate transformations validated by ome-zarr-py (``ome_zarr.axes.Axes``,
  ``ome_zarr.format.FormatV04``) and level factors computed by it
  (:func:`level_factors`).

>>> ms = multiscales("vol", [space_axis("y", "µm"), space_axis("x", "µm")],
...                  [level_dataset("0", [0.5, 0.5]), level_dataset("1", [1.0, 1.0])])
>>> ms[0]["axes"][0], ms[0]["datasets"][1]["coordinateTransformations"]
({'name': 'y', 'type': 'space', 'unit': 'micrometer'}, [{'type': 'scale', 'scale': [1.0, 1.0]}])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .units import ngff_unit

NGFF_VERSION = "0.4"
AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}

# -- chunk policies -------------------------------------------------------------------

PREVIEW_CUBE = 64  # edge of a preview chunk of a volume
PREVIEW_TILE = 256  # edge of a preview tile of an image or a short stack
EXPORT_MAX_BYTES = 16 << 20  # an exported array up to this size is one chunk
EXPORT_TARGET_BYTES = 8 << 20  # bigger ones: cut until a chunk is at most this (4-8 MB)
SAVE_CHUNKS = "the dask array's own chunks (dask's automatic chunks for numpy data)"
#: what each writer's chunks are, for readers of the code and the report of an export
CHUNK_POLICIES = {
    "preview": f"{PREVIEW_CUBE}³ cubes for volumes, {PREVIEW_TILE}² tiles otherwise, "
    "uncompressed (a plane reads just the byte ranges it covers)",
    "export": f"4-8 MB by bytes, arrays up to {EXPORT_MAX_BYTES >> 20} MB whole, Blosc lz4",
    "save": SAVE_CHUNKS,
}
_SPATIAL = ("z", "y", "x")


def preview_chunks(
    shape: Sequence[int],
    axes: str,
    volume: bool,
    *,
    cube: int = PREVIEW_CUBE,
    tile: int = PREVIEW_TILE,
) -> tuple[int, ...]:
    """Preview chunks: ``cube``³ for volumes, ``tile``² (one plane deep) otherwise.

    >>> preview_chunks((2, 100, 1000, 1000), "czyx", True)
    (1, 64, 64, 64)
    >>> preview_chunks((3, 900, 800), "zyx", False)
    (1, 256, 256)
    """
    out = []
    for a, n in zip(axes, shape):
        if a in "zyx" and volume:
            out.append(min(cube, n))
        elif a in "yx":
            out.append(min(tile, n))
        else:
            out.append(1)
    return tuple(out)


def _halve(n: int) -> int:
    """The largest power of two below ``n`` (at least half of ``n``)."""
    return 1 << ((n - 1).bit_length() - 1)


def export_chunks(
    dims: Sequence[str],
    shape: Sequence[int],
    itemsize: int,
    *,
    target: int = EXPORT_TARGET_BYTES,
    whole: int = EXPORT_MAX_BYTES,
) -> tuple[int, ...]:
    """Export chunks for an array of ``shape`` (dimension names ``dims``) and
    ``itemsize`` bytes per element: the whole array if it holds at most ``whole``
    bytes, else cut (non-spatial dimensions first, then the largest spatial one) to at
    most ``target``. Each cut at most halves a chunk, so chunks of big arrays hold
    ``target / 2`` to ``target`` bytes, in power-of-two sizes (levels halve whole chunks).

    >>> export_chunks(("z", "y", "x"), (1800, 2048, 2448), 2)
    (128, 128, 256)
    """
    chunk = [max(1, int(n)) for n in shape]
    itemsize = max(1, int(itemsize))
    if math.prod(chunk) * itemsize <= whole:
        return tuple(chunk)
    other = [i for i, d in enumerate(dims) if d not in _SPATIAL]
    space = [i for i, d in enumerate(dims) if d in _SPATIAL]
    while math.prod(chunk) * itemsize > target:
        group = [i for i in other if chunk[i] > 1] or [i for i in space if chunk[i] > 1]
        if not group:
            break
        i = max(group, key=lambda k: chunk[k])  # ties: the leading dimension
        chunk[i] = _halve(chunk[i])
    return tuple(chunk)


# -- downsampling ---------------------------------------------------------------------

METHODS = ("mean", "mode", "stride")


def _fit(block: np.ndarray, factors: Sequence[int], edge: str) -> np.ndarray:
    """``block`` with whole cells: edges padded by repeating the last voxel (means stay
    real values) or trailing partial cells trimmed."""
    if edge == "trim":
        if any(n % f for n, f in zip(block.shape, factors)):
            block = block[tuple(slice(0, n - n % f) for n, f in zip(block.shape, factors))]
        return block
    if edge != "pad":
        raise ValueError(f"edge must be 'pad' or 'trim', not {edge!r}")
    pad = [(0, (-n) % f) for n, f in zip(block.shape, factors)]
    if any(p for _, p in pad):
        block = np.pad(block, pad, mode="edge")
    return block


def downsample_mean(block: np.ndarray, factors: Sequence[int], *, edge: str = "pad") -> np.ndarray:
    """Means of 2-blocks (factor 1 or 2 per dimension), rounded half to even back to
    integer dtypes. Integers of up to 16 bits and floats of up to 32 are summed in
    float32 (exact for integers), wider ones in float64. Pairs are added one dimension
    at a time, leading dimension first, so every pass streams through contiguous memory.
    ``edge``: ``"pad"`` (repeat the last voxel) or ``"trim"`` (drop partial cells).

    >>> downsample_mean(np.array([[1, 3], [5, 7]], np.uint8), (2, 2)).tolist()
    [[4]]
    >>> downsample_mean(np.array([[1, 3, 9]], np.uint8), (1, 2), edge="trim").tolist()
    [[2]]
    """
    block = _fit(block, factors, edge)
    small = block.dtype.itemsize <= (4 if block.dtype.kind == "f" else 2)
    acc_type = np.float32 if small else np.float64
    acc: np.ndarray = block
    count = 1
    for d, f in enumerate(factors):
        if f == 1:
            continue
        lo = tuple(slice(0, None, 2) if i == d else slice(None) for i in range(block.ndim))
        hi = tuple(slice(1, None, 2) if i == d else slice(None) for i in range(block.ndim))
        acc = np.add(acc[lo], acc[hi], dtype=acc_type)
        count *= 2
    if count == 1:
        return block.copy()
    acc *= 1.0 / count
    if block.dtype.kind in "iu":
        np.rint(acc, out=acc)
    return acc.astype(block.dtype)


def downsample_mode(block: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """The most common value of each block (labels); ties go to the block's first voxel.

    >>> downsample_mode(np.array([[1, 2], [2, 3]], np.uint8), (2, 2)).tolist()
    [[2]]
    """
    block = _fit(block, factors, "pad")
    offsets = itertools.product(*[range(f) for f in factors])
    views = [block[tuple(slice(o, None, f) for o, f in zip(off, factors))] for off in offsets]
    counts = [np.ones(views[0].shape, np.uint8) for _ in views]
    for i, j in itertools.combinations(range(len(views)), 2):
        same = views[i] == views[j]
        counts[i] += same
        counts[j] += same
    best = views[0].copy()
    best_count = counts[0]
    for v, c in zip(views[1:], counts[1:]):
        better = c > best_count
        best[better] = v[better]
        best_count = np.maximum(best_count, c)
    return best


def downsample_stride(block: Any, factors: Sequence[int]) -> Any:
    """Every ``f``-th voxel from the first (segmentations kept exactly as labelled).

    >>> downsample_stride(np.arange(6).reshape(2, 3), (1, 2)).tolist()
    [[0, 2], [3, 5]]
    """
    return block[tuple(slice(None, None, f) for f in factors)]


def downsample(
    block: np.ndarray, factors: Sequence[int], method: str = "mean", *, edge: str = "pad"
) -> np.ndarray:
    """``block`` downsampled by ``factors`` with ``method`` (one of :data:`METHODS`).

    >>> downsample(np.array([[1, 3], [5, 7]], np.uint8), (2, 2), "stride").tolist()
    [[1]]
    """
    if method == "mean":
        return downsample_mean(block, factors, edge=edge)
    if method == "mode":
        return downsample_mode(block, factors)
    if method == "stride":
        return downsample_stride(block, factors)
    raise ValueError(f"unknown downsampling method {method!r}; use one of {', '.join(METHODS)}")


def _exact_in_float32(dtype: np.dtype, count: int) -> bool:
    """Integers of at most 16 bits: a float32 sum of ``count`` (a power of two, at most
    256) of them and its division by ``count`` are exact, so :func:`downsample_mean`
    gives the same values as a float64 mean rounded half to even."""
    return np.issubdtype(dtype, np.integer) and np.dtype(dtype).itemsize <= 2 and count <= 256


def _dask_means(data: Any, axes: dict[int, int], dtype: np.dtype) -> Any:
    """:func:`downsample_mean` (edges trimmed) over a dask array, in blocks of whole cells."""
    chunks = dict(enumerate(data.chunks))
    for ax, f in axes.items():
        if any(c % f for c in chunks[ax][:-1]) or (len(chunks[ax]) > 1 and chunks[ax][-1] < f):
            size = max(f, max(chunks[ax]) // f * f)  # whole cells in every block
            data = data.rechunk({ax: size})
    out = tuple(
        tuple(c // axes[ax] for c in cs) if ax in axes else cs for ax, cs in enumerate(data.chunks)
    )
    factors = tuple(axes.get(i, 1) for i in range(data.ndim))
    meta = np.empty((0,) * data.ndim, dtype)
    return data.map_blocks(_trimmed_mean, factors, chunks=out, dtype=dtype, meta=meta)


def _trimmed_mean(block: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    return downsample_mean(np.asarray(block), factors, edge="trim")


def downsample_dataarray(da: Any, factors: Mapping[str, int], method: str = "mean") -> Any:
    """A lazy xarray level: ``da`` downsampled by ``factors`` (per dimension name) with
    ``method`` ``"mean"`` (partial cells at the end trimmed; coordinates are the means
    of theirs) or ``"stride"``; the dtype is kept.

    >>> import xarray as xr
    >>> da = xr.DataArray(np.array([[1, 3, 9]], np.uint8), dims=("y", "x"))
    >>> downsample_dataarray(da, {"x": 2}).values.tolist()
    [[2]]
    """
    if method == "stride":
        return da.isel({d: slice(None, None, f) for d, f in factors.items()})
    if method != "mean":
        raise ValueError(f"a DataArray downsamples by 'mean' or 'stride', not {method!r}")
    small = da.coarsen(dict(factors), boundary="trim").mean()  # lazy; its coordinates are used
    axes = {da.dims.index(d): f for d, f in factors.items()}
    if _exact_in_float32(da.dtype, int(np.prod(list(factors.values())))) and hasattr(
        da.data, "map_blocks"
    ):
        return small.copy(data=_dask_means(da.data, axes, da.dtype))
    if np.issubdtype(da.dtype, np.integer):
        small = small.round()
    return small.astype(da.dtype)


# -- metadata -------------------------------------------------------------------------


def _format() -> Any:
    from ome_zarr.format import FormatV04

    return FormatV04()


def axis_type(name: str) -> str:
    """The NGFF type of an axis: ``time`` (t), ``channel`` (c), else ``space``.

    >>> axis_type("t"), axis_type("x")
    ('time', 'space')
    """
    return AXIS_TYPES.get(name, "space")


def space_axis(name: str, unit: str | None = None) -> dict[str, Any]:
    """An NGFF axis entry; a length ``unit`` in any spelling is named as NGFF does
    (an unknown one is left out).

    >>> space_axis("z", "um")
    {'name': 'z', 'type': 'space', 'unit': 'micrometer'}
    """
    item: dict[str, Any] = {"name": name, "type": axis_type(name)}
    ngff = ngff_unit(unit)
    if ngff is not None:
        item["unit"] = ngff
    return item


def level_factors(shapes: Sequence[Sequence[int]]) -> list[list[float]]:
    """How much coarser each level is than level 0, per dimension (ome-zarr-py's
    ``generate_coordinate_transformations``).

    >>> level_factors([(10, 100), (10, 50), (10, 25)])
    [[1.0, 1.0], [1.0, 2.0], [1.0, 4.0]]
    """
    transforms = _format().generate_coordinate_transformations([tuple(s) for s in shapes])
    return [list(t[0]["scale"]) for t in transforms]


def level_dataset(
    path: str, scale: Sequence[float], translation: Sequence[float] | None = None
) -> dict[str, Any]:
    """One entry of ``datasets``: the level's path, its scale and (if given) translation.

    >>> level_dataset("1", [2.0, 2.0], [0.5, 0.5])["coordinateTransformations"][1]
    {'type': 'translation', 'translation': [0.5, 0.5]}
    """
    transforms: list[dict[str, Any]] = [{"type": "scale", "scale": list(scale)}]
    if translation is not None:
        transforms.append({"type": "translation", "translation": list(translation)})
    return {"path": path, "coordinateTransformations": transforms}


def multiscales(
    name: str,
    axes: list[dict[str, Any]],
    datasets: list[dict[str, Any]],
    *,
    type: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The ``multiscales`` attribute (OME-NGFF 0.4) of an image whose levels are
    ``datasets`` (see :func:`level_dataset`), validated by ome-zarr-py: raises
    ``ValueError`` for axes or transformations NGFF does not allow. ``type`` names the
    downsampling method.

    >>> multiscales("x", [space_axis("x")], [level_dataset("0", [1.0])])[0]["version"]
    '0.4'
    """
    from ome_zarr.axes import Axes

    fmt = _format()
    Axes([dict(a) for a in axes], fmt=fmt)  # validates on construction
    fmt.validate_coordinate_transformations(
        len(axes), len(datasets), [d["coordinateTransformations"] for d in datasets]
    )
    entry: dict[str, Any] = {"version": NGFF_VERSION, "name": name, "axes": axes}
    entry["datasets"] = datasets
    if type is not None:
        entry["type"] = type
    if metadata is not None:
        entry["metadata"] = metadata
    return [entry]


# -- writing with ome-zarr-py ---------------------------------------------------------


def save_scale_factors(
    sizes: Mapping[str, int], *, tile: int = 256, most: int = 5
) -> list[dict[str, int]]:
    """``cat.save``'s levels: halve y, x (and z while it keeps 16 planes) until the
    largest plane fits ``tile``, at most ``most`` levels beyond level 0.

    >>> save_scale_factors({"z": 40, "y": 600, "x": 600})
    [{'z': 2, 'y': 2, 'x': 2}]
    """
    spatial = [d for d in _SPATIAL if d in sizes]
    big = max(sizes[d] for d in ("y", "x"))
    factors: list[dict[str, int]] = []
    f = 2
    while big // f >= tile and len(factors) < most:
        factors.append({d: f for d in spatial if d != "z" or sizes["z"] // f >= 16})
        f *= 2
    return factors


def write_image(
    data: Any,
    group: Any,
    axes: str,
    *,
    name: str,
    scale: dict[str, float] | None = None,
    units: dict[str, str] | None = None,
    scale_factors: list | None = None,
) -> None:
    """Write an image and its pyramid with ome-zarr-py's ``write_image`` (its resize
    downsampling; chunks: :data:`SAVE_CHUNKS`) into the zarr v2 ``group``. ``units``
    name each axis' length unit in any spelling.

    >>> write_image(np.zeros((512, 512), np.uint8), group, "yx", name="mask")  # doctest: +SKIP
    """
    import dask.array as dsa
    from ome_zarr.writer import write_image as ome_write_image

    ngff = {d: ngff_unit(u) for d, u in (units or {}).items()}
    ngff_units = {d: u for d, u in ngff.items() if u is not None}
    ome_write_image(
        dsa.asarray(data),
        group=group,
        axes=axes,
        fmt=_format(),
        scale_factors=scale_factors or [],
        scale=scale or None,
        axes_units=ngff_units or None,
        name=name,
    )
