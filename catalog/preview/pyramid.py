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

from .. import omezarr
from ..omezarr import downsample_mean as downsample_mean  # re-exported for callers
from ..omezarr import downsample_mode as downsample_mode
from ..units import best_unit, from_metres, normalise_unit
from .levels import Level

TARGET = 512  # the largest plane of the coarsest level is at most this many pixels
VOLUME_CHUNK = omezarr.PREVIEW_CUBE
TILE = omezarr.PREVIEW_TILE
SHORT_STACK = 64  # a z extent below this is a stack of planes: never downsampled in z
BLOCK_BYTES = 64 << 20  # source bytes per block; a build holds about three blocks
STRIP_BYTES = 4 << 20  # downsampling works through a block in strips of this many bytes


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
    """64³ cubes for volumes, 256² tiles (one plane deep) otherwise: the preview chunk
    policy of :func:`catalog.omezarr.preview_chunks` with this module's sizes.

    >>> chunks_for((2, 100, 1000, 1000), "czyx", True), chunks_for((3, 900, 800), "zyx", False)
    ((1, 64, 64, 64), (1, 256, 256))
    """
    return omezarr.preview_chunks(shape, axes, volume, cube=VOLUME_CHUNK, tile=TILE)


def downsample(
    block: np.ndarray, factors: Sequence[int], labels: bool, *, strip_bytes: int = STRIP_BYTES
) -> np.ndarray:
    """Mode for labels and booleans, else mean (edges padded): :func:`catalog.omezarr.downsample`,
    done in strips of whole cells of at most ``strip_bytes`` input bytes, so the
    working arrays (float sums, mode counts: several times their input) stay small and
    a block costs little more than its output on top of itself.

    >>> downsample(np.arange(12, dtype=np.uint8).reshape(4, 3), (2, 2), False, strip_bytes=3)
    array([[ 2,  4],
           [ 8, 10]], dtype=uint8)
    """
    method = "mode" if block.dtype == bool or labels else "mean"
    cut = _strips(block.shape, factors, block.dtype.itemsize, strip_bytes)
    if cut is None:
        return omezarr.downsample(block, factors, method)
    d, step = cut
    f = factors[d]
    out = np.empty([-(-n // g) for n, g in zip(block.shape, factors)], block.dtype)
    lead = (slice(None),) * d
    for start in range(0, block.shape[d], step):
        part = block[(*lead, slice(start, start + step))]
        out[(*lead, slice(start // f, -(-(start + part.shape[d]) // f)))] = omezarr.downsample(
            part, factors, method
        )
    return out


def _strips(
    shape: Sequence[int], factors: Sequence[int], itemsize: int, limit: int
) -> tuple[int, int] | None:
    """``(dimension, length)`` of the strips :func:`downsample` cuts ``shape`` into
    (a multiple of the dimension's factor, so no cell is split), or None when the
    block is within ``limit`` already (or cannot be cut)."""
    if math.prod(shape) * itemsize <= limit:
        return None
    for d, (n, f) in enumerate(zip(shape, factors)):
        if n <= f:  # one cell thick along d: cut along a later dimension
            continue
        slab = math.prod(shape[:d]) * f * math.prod(shape[d + 1 :]) * itemsize
        step = max(1, limit // max(slab, 1)) * f
        return (d, step) if step < n else None
    return None


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
    """The ``multiscales`` attribute (OME-NGFF 0.4) of a preview with ``shapes``: each
    level centred on the level-0 voxels it covers (:mod:`catalog.omezarr`)."""
    ome_axes = []
    scale0 = []
    for a in axes:
        if a in "zyx" and a in spacing:
            unit = normalise_unit(units.get(a)) or best_unit(spacing[a])
            ome_axes.append(omezarr.space_axis(a, unit))
            scale0.append(from_metres(spacing[a], unit))
        else:
            ome_axes.append(omezarr.space_axis(a))
            scale0.append(1.0)
    datasets = []
    for k, factors in enumerate(omezarr.level_factors(shapes)):
        scale = [s * f for s, f in zip(scale0, factors)]
        shift = [
            origin.get(a, 0.0) + (f - 1) / 2 * s if a in "zyx" else 0.0
            for a, f, s in zip(axes, factors, scale0)
        ]
        datasets.append(omezarr.level_dataset(str(k), scale, shift if any(shift) else None))
    return omezarr.multiscales(
        name,
        ome_axes,
        datasets,
        type="mode" if labels else "mean",
        metadata={"method": "catalog.preview (voxcat)", "chunks": "uncompressed"},
    )
