"""Writing preview pyramids: level plans, downsampling, and the OME-Zarr 0.4 store.

A preview is a complete multiscale: level 0 is a copy of the data rechunked for
browsing (64³ cubes for volumes, so a z, y or x plane reads at most 64 times its own
size, where a yz plane of a slice stack or a contiguous TIFF reads the whole volume;
256×256 tiles for images and short stacks), then each level
halves the spatial dimensions (mean for intensities, mode for label images) until the
largest plane is at most :data:`TARGET` pixels. Chunks are stored uncompressed in
Zarr v2, so a reader fetches just the byte range of each chunk a plane covers
(``levels.RawZarrLevel``: a z plane reads 8 KiB per chunk); any OME-Zarr reader
opens the store as well.

Work is done in blocks of whole chunks bounded by ``block_bytes``: level 0 from the
dataset's own files, the next levels from each block while it is in memory (as long
as blocks halve evenly), the rest from the last level written; the next block is read
while one is written.

>>> plan_levels((1296, 1296, 1296), "zyx", {})[-1]               # doctest: +SKIP
(324, 324, 324)
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..units import best_unit, from_metres, normalise_unit
from .levels import Level

TARGET = 512  # the largest plane of the coarsest level is at most this many pixels
VOLUME_CHUNK = 64
TILE = 256
SHORT_STACK = 64  # a z extent below this is a stack of planes: never downsampled in z
BLOCK_BYTES = 64 << 20  # source bytes per block; a build holds about three blocks
OME_UNITS = {
    "km": "kilometer",
    "m": "meter",
    "cm": "centimeter",
    "mm": "millimeter",
    "µm": "micrometer",
    "nm": "nanometer",
    "Å": "angstrom",
    "pm": "picometer",
    "in": "inch",
}


def plan_levels(
    shape: Sequence[int], axes: str, spacing: dict[str, float], target: int = TARGET
) -> list[tuple[int, ...]]:
    """Shapes of the pyramid levels, level 0 first.

    Each level halves the spatial dimensions whose voxel size is within 1.5 times the
    finest one (so anisotropic stacks first become isotropic), never a z extent below
    :data:`SHORT_STACK`, until the largest remaining spatial extent is <= ``target``.

    >>> plan_levels((20, 2000, 3000), "zyx", {})
    [(20, 2000, 3000), (20, 1000, 1500), (20, 500, 750), (20, 250, 375)]
    """
    shape = tuple(int(n) for n in shape)
    dims = [
        i
        for i, a in enumerate(axes)
        if a in "zyx" and shape[i] > 1 and not (a == "z" and shape[i] < SHORT_STACK)
    ]
    known = all(spacing.get(axes[i]) for i in dims)
    size = {i: (spacing[axes[i]] if known else 1.0) for i in dims}
    levels = [shape]
    cur = list(shape)
    while dims and max(cur[i] for i in dims) > target:
        finest = min(size[i] for i in dims if cur[i] > 1)
        halve = [i for i in dims if cur[i] > 1 and size[i] < 1.5 * finest]
        for i in halve:
            cur[i] = -(-cur[i] // 2)
            size[i] *= 2
        levels.append(tuple(cur))
    return levels


def is_volume(shape: Sequence[int], axes: str) -> bool:
    """Whether the data is a volume (browsed in three directions) or planes."""
    return "z" in axes and shape[axes.index("z")] >= SHORT_STACK


def chunks_for(shape: Sequence[int], axes: str, volume: bool) -> tuple[int, ...]:
    """64³ cubes for volumes, 256² tiles (one plane deep) otherwise.

    >>> chunks_for((2, 100, 1000, 1000), "czyx", True), chunks_for((3, 900, 800), "zyx", False)
    ((1, 64, 64, 64), (1, 256, 256))
    """
    out = []
    for a, n in zip(axes, shape):
        if a in "zyx" and volume:
            out.append(min(VOLUME_CHUNK, n))
        elif a in "yx":
            out.append(min(TILE, n))
        else:
            out.append(1)
    return tuple(out)


# -- downsampling ---------------------------------------------------------------------


def _views(block: np.ndarray, factors: Sequence[int]) -> list[np.ndarray]:
    pad = [(0, (-n) % f) for n, f in zip(block.shape, factors)]
    if any(p for _, p in pad):
        block = np.pad(block, pad, mode="edge")  # repeats the edge: means stay real values
    offsets = itertools.product(*[range(f) for f in factors])
    return [block[tuple(slice(o, None, f) for o, f in zip(off, factors))] for off in offsets]


def downsample_mean(block: np.ndarray, factors: Sequence[int]) -> np.ndarray:
    """Means of 2-blocks (factor 1 or 2 per dimension), rounded back for integer dtypes.

    Pairs are added one dimension at a time, leading dimension first, so every pass
    streams through contiguous memory.

    >>> downsample_mean(np.array([[1, 3], [5, 7]], np.uint8), (2, 2)).tolist()
    [[4]]
    """
    pad = [(0, (-n) % f) for n, f in zip(block.shape, factors)]
    if any(p for _, p in pad):
        block = np.pad(block, pad, mode="edge")  # repeats the edge: means stay real values
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
    """The most common value of each block (labels); ties go to the block's first voxel."""
    views = _views(block, factors)
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


def downsample(block: np.ndarray, factors: Sequence[int], labels: bool) -> np.ndarray:
    if block.dtype == bool or labels:
        return downsample_mode(block, factors)
    return downsample_mean(block, factors)


# -- blocks ---------------------------------------------------------------------------


def block_shape(
    out_shape: Sequence[int],
    chunks: Sequence[int],
    factors: Sequence[int],
    itemsize: int,
    budget: int = BLOCK_BYTES,
) -> tuple[int, ...]:
    """Output block (whole chunks) whose input is at most ``budget`` bytes, growing
    from the last dimension so reads stay contiguous."""
    block = list(chunks)
    ratio = math.prod(factors) * itemsize

    def cost(b: list[int]) -> int:
        return math.prod(b) * ratio

    for d in reversed(range(len(block))):
        full = list(block)
        full[d] = out_shape[d]
        if cost(full) <= budget:
            block = full
            continue
        per = cost(block) // block[d]
        fit = max(1, budget // max(per, 1)) // chunks[d] * chunks[d]
        block[d] = max(chunks[d], min(out_shape[d], fit))
        break
    return tuple(block)


def iter_blocks(shape: Sequence[int], block: Sequence[int]) -> Iterator[tuple[slice, ...]]:
    ranges = [range(0, n, b) for n, b in zip(shape, block)]
    for starts in itertools.product(*ranges):
        yield tuple(slice(s, min(s + b, n)) for s, b, n in zip(starts, block, shape))


def write_level(
    src: Level,
    dest: Any,
    factors: Sequence[int],
    labels: bool,
    *,
    budget: int = BLOCK_BYTES,
    step: Callable[[int], None] | None = None,
    derived: Sequence[tuple[Any, Sequence[int]]] = (),
) -> int:
    """Fill zarr array ``dest`` from ``src`` downsampled by ``factors``, block by block.

    ``derived`` lists further ``(array, factors)`` levels, each half of the one before:
    while blocks stay divisible by their cumulative factor they are filled from the
    block in memory, so the level just written is never read back. Returns how many
    were filled; the caller builds the rest from the last one. ``step(n)`` is called
    with the number of source elements done (it may raise to stop, e.g. on cancel);
    the next block is read while one is written.
    """
    shape, chunks = tuple(dest.shape), tuple(dest.chunks)
    block = block_shape(shape, chunks, factors, src.dtype.itemsize, budget)
    blocks = list(iter_blocks(shape, block))
    inline, total = [], [1] * len(shape)
    for arr, f in derived:
        total = [t * fi for t, fi in zip(total, f)]
        if any(b < n and b % t for b, n, t in zip(block, shape, total)):
            break
        inline.append((arr, f))

    def read(out: tuple[slice, ...]) -> np.ndarray:
        key = tuple(
            slice(s.start * f, min(s.stop * f, n)) for s, f, n in zip(out, factors, src.shape)
        )
        data = src.read(key)
        return data if all(f == 1 for f in factors) else downsample(data, factors, labels)

    def size(region: tuple[slice, ...], f: Sequence[int]) -> int:
        return math.prod(s.stop - s.start for s in region) * math.prod(f)

    with cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="voxcat-preview") as ex:
        pending = ex.submit(read, blocks[0]) if blocks else None
        for i, out in enumerate(blocks):
            assert pending is not None
            data = pending.result()
            pending = ex.submit(read, blocks[i + 1]) if i + 1 < len(blocks) else None
            try:
                dest[out] = data
                done = size(out, factors)
                region = out
                for arr, f in inline:  # partial chunks: zarr merges them into the files
                    done += data.size
                    data = downsample(data, f, labels)
                    region = tuple(slice(r.start // g, -(-r.stop // g)) for r, g in zip(region, f))
                    arr[region] = data
                del data  # at most two blocks alive: this one written, the next read
                if step is not None:
                    step(done)
            except BaseException:
                if pending is not None:
                    pending.cancel()
                    cf.wait([pending])
                raise
    return len(inline)


# -- OME-Zarr metadata ----------------------------------------------------------------


def ome_multiscales(
    name: str,
    axes: str,
    shapes: list[tuple[int, ...]],
    spacing: dict[str, float],
    units: dict[str, str],
    origin: dict[str, float],
    labels: bool,
) -> list[dict[str, Any]]:
    """The ``multiscales`` attribute (OME-NGFF 0.4) of a preview with ``shapes``."""
    ome_axes = []
    scale0, unit_of = [], {}
    for a in axes:
        if a in "zyx":
            entry: dict[str, Any] = {"name": a, "type": "space"}
            if a in spacing:
                unit = normalise_unit(units.get(a)) or best_unit(spacing[a])
                unit_of[a] = unit
                entry["unit"] = OME_UNITS.get(unit, "meter")
                scale0.append(from_metres(spacing[a], unit) if unit in OME_UNITS else spacing[a])
            else:
                scale0.append(1.0)
        else:
            entry = {"name": a, "type": "time" if a == "t" else "channel"}
            scale0.append(1.0)
        ome_axes.append(entry)
    datasets = []
    for k, shape in enumerate(shapes):
        factors = [n0 / n for n0, n in zip(shapes[0], shape)]
        scale = [s * f for s, f in zip(scale0, factors)]
        shift = [
            origin.get(a, 0.0) + (f - 1) / 2 * s if a in "zyx" else 0.0
            for a, f, s in zip(axes, factors, scale0)
        ]
        transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
        if any(shift):
            transforms.append({"type": "translation", "translation": shift})
        datasets.append({"path": str(k), "coordinateTransformations": transforms})
    return [
        {
            "version": "0.4",
            "name": name,
            "axes": ome_axes,
            "datasets": datasets,
            "type": "mode" if labels else "mean",
            "metadata": {"method": "catalog.preview (voxcat)", "chunks": "uncompressed"},
        }
    ]
