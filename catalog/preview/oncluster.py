"""Preview pyramid levels built on a Dask cluster, block by block, with bounded memory.

The same work as :func:`catalog.preview.pyramid.write_level`, cut into the same kind of
blocks (whole chunks of the level written), each block a task on a worker: read the
block's source window (the dataset's own files through
:func:`~catalog.preview.originals.open_level`, or the level written before), downsample
it in strips, write it into the preview store on the shared file system, and fill the
following levels from it while their share of the block is made of whole chunks (two
tasks never write into one chunk file). A task returns how many source elements it
did; the process that called builds nothing else, and writes the index.

Blocks are sized from the workers' memory: a task holds about three blocks, so a block
reads at most a sixteenth of the smallest ``memory_limit`` per worker thread (and never
more than the local build's ``block_bytes``). A volume of any size then builds with
every worker under its limit.

A preview kept in object storage (:mod:`catalog.preview.place`) is written the same
way: each task writes its blocks straight to the store through zarr's
``FsspecStore`` (:class:`~catalog.preview.objectlevels.ObjectArray`); the workers must
reach that storage (its options travel with the task; credentials from their own
environment unless given as ``storage_options``).

>>> with cluster_client("tcp://127.0.0.1:8786") as client:        # doctest: +SKIP
...     block_budget(client, 64 << 20)
26214400
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster import map_on_cluster, worker_memory
from .dataset import DatasetRef
from .levels import open_zarr_level
from .objectlevels import ObjectArray, object_array_of
from .originals import open_level
from .pyramid import block_shape, downsample, iter_blocks

if TYPE_CHECKING:
    from distributed import Client

#: a block reads at most this fraction of a worker thread's memory limit
MEMORY_SHARE = 16
#: the smallest block budget (a worker this small has no room for its own imports)
MIN_BLOCK_BYTES = 1 << 20

#: the dataset's own files (level 0) or a level written before (a folder, or objects)
Source = DatasetRef | Path | ObjectArray
#: where a task writes: a zarr array's folder, or an array in object storage
Dest = Path | ObjectArray


def block_budget(client: Client, block_bytes: int) -> int:
    """Source bytes per block on the cluster of ``client``: ``block_bytes``, or less
    when a worker thread's share of memory is smaller than :data:`MEMORY_SHARE` blocks."""
    share = worker_memory(client)
    if share is None:
        return block_bytes
    return max(MIN_BLOCK_BYTES, min(block_bytes, share // MEMORY_SHARE))


def aligned(
    block: Sequence[int], shape: Sequence[int], factors: Sequence[int], chunks: Sequence[int]
) -> bool:
    """Whether blocks of ``block`` over ``shape``, downsampled by ``factors`` (in all),
    cover whole chunks of ``chunks`` each (or the whole dimension), so that the tasks
    filling a derived level never share a chunk file.

    >>> aligned((64, 256), (640, 1000), (2, 2), (64, 64)), aligned((64, 256), (640, 1000), (2, 2), (64, 256))
    (False, False)
    >>> aligned((128, 1000), (640, 1000), (2, 2), (64, 64))
    True
    """
    for b, n, t, c in zip(block, shape, factors, chunks):
        if b >= n:
            continue
        if b % t or (b // t) % c:
            return False
    return True


def aligned_block(
    shape: Sequence[int],
    chunks: Sequence[int],
    factors: Sequence[int],
    itemsize: int,
    budget: int,
    derived: Sequence[tuple[Sequence[int], Sequence[int]]] = (),
) -> tuple[int, ...]:
    """The block of :func:`~catalog.preview.pyramid.block_shape`, made of whole chunks
    of as many of the ``derived`` levels (``(chunks, factors)``, each halving the one
    before) as fit ``budget``: those levels are then filled from the block in memory
    instead of reading the level before back.

    >>> aligned_block((520, 1100, 1000), (64, 64, 64), (1, 1, 1), 2, 25 << 20,
    ...               [((64, 64, 64), (2, 2, 2)), ((64, 64, 64), (2, 2, 2))])
    (128, 128, 768)
    """
    best = block_shape(shape, chunks, factors, itemsize, budget)
    total = [1] * len(shape)
    ratio = math.prod(factors) * itemsize
    for level_chunks, f in derived:
        total = [t * g for t, g in zip(total, f)]
        unit = [math.lcm(c, t * d) for c, t, d in zip(chunks, total, level_chunks)]
        block = block_shape(shape, unit, factors, itemsize, budget)
        if math.prod(block) * ratio > budget:
            break
        best = block
    return best


def _open(source: Source) -> Any:
    if isinstance(source, DatasetRef):
        return open_level(source, 0)
    if isinstance(source, ObjectArray):
        return source.level()
    return open_zarr_level(source)


def _writable(dest: Dest) -> Any:
    import zarr

    if isinstance(dest, ObjectArray):
        return dest.zarr()
    return zarr.open_array(store=str(dest), mode="r+", zarr_format=2)


def build_block(
    source: Source,
    dest: Dest,
    factors: tuple[int, ...],
    labels: bool,
    inline: tuple[tuple[Dest, tuple[int, ...]], ...],
    out: tuple[slice, ...],
) -> int:
    """One task: block ``out`` of the level at ``dest`` from ``source`` downsampled by
    ``factors``, then the ``inline`` levels (``(path, factors)``, each from the one
    before) from it in memory. Returns the source elements done (for progress)."""
    level = _open(source)
    try:
        key = tuple(
            slice(s.start * f, min(s.stop * f, n)) for s, f, n in zip(out, factors, level.shape)
        )
        data = level.read(key)
    finally:
        level.close()
    if any(f != 1 for f in factors):
        data = downsample(data, factors, labels)
    _writable(dest)[out] = data
    done = math.prod(s.stop - s.start for s in out) * math.prod(factors)
    region = out
    for path, f in inline:
        done += data.size
        data = downsample(data, f, labels)
        region = tuple(slice(r.start // g, -(-r.stop // g)) for r, g in zip(region, f))
        _writable(path)[region] = data
    return done


def write_level_on_cluster(
    client: Client,
    source: Source,
    dest: Any,
    factors: Sequence[int],
    labels: bool,
    *,
    budget: int,
    step: Callable[[int], None],
    derived: Sequence[tuple[Any, Sequence[int]]] = (),
) -> int:
    """:func:`~catalog.preview.pyramid.write_level` on the cluster of ``client``: fill
    the zarr array ``dest`` (on a file system the workers share) from ``source``, one
    task per block of at most ``budget`` source bytes, and the ``derived`` levels whose
    blocks stay whole chunks. ``step(n)`` gets each task's elements as it finishes and
    is called while waiting; when it raises (a cancelled build) or a task fails, the
    tasks not finished are cancelled and those running are waited for before it
    propagates, so the caller can remove the store. Returns how many ``derived``
    levels were filled."""
    shape, chunks = tuple(dest.shape), tuple(dest.chunks)
    itemsize = dest.dtype.itemsize
    block = aligned_block(
        shape, chunks, factors, itemsize, budget, [(tuple(a.chunks), f) for a, f in derived]
    )
    inline: list[tuple[Dest, tuple[int, ...]]] = []
    total = [1] * len(shape)
    for arr, f in derived:
        total = [t * fi for t, fi in zip(total, f)]
        if not aligned(block, shape, total, arr.chunks):
            break
        inline.append((_path_of(arr), tuple(int(g) for g in f)))
    work = functools.partial(
        build_block,
        source,
        _path_of(dest),
        tuple(int(f) for f in factors),
        labels,
        tuple(inline),
    )
    map_on_cluster(
        client,
        work,
        list(iter_blocks(shape, block)),
        step,
        check=lambda: step(0),
        settle=True,
    )
    return len(inline)


def _path_of(array: Any) -> Dest:
    """The folder of a zarr array in a local store, as an absolute path (workers need
    not share this process's working directory), or the array in object storage."""
    remote = object_array_of(array)
    if remote is not None:
        return remote
    root = Path(str(array.store.root)).absolute()
    return root / array.path if array.path else root
