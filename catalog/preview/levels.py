"""Levels: one resolution of a dataset, read one window at a time into numpy.

A :class:`Level` reads ``key`` (one ``int`` or ``slice`` per dimension, in the
dataset's canonical ``tczyx`` order) and returns exactly that window, touching only
the chunks, tiles, files or rows that intersect it:

- :class:`RawZarrLevel`: uncompressed Zarr v2 arrays (the preview pyramids voxcat
  writes): from each chunk file only the byte range holding the window is read (an
  8 KiB layer for a z plane), several files at a time;
- :class:`PackedZarrLevel`: Zarr arrays of plainly compressed chunks (zstd, blosc,
  gzip...), chunk files decoded with numcodecs on several threads;
- :class:`ZarrLevel`: any other Zarr array, through zarr (intersecting chunks only);
- a plane across deep compressed chunks decodes them whole anyway, so those two keep
  the next layers of those chunks too (:class:`LayerCache`): a slider step through
  them is a copy, not another decode;
- :class:`DaskLevel`: anything else, through the reader's lazy dask array.

File-specific levels (a contiguous TIFF, a folder of slices) live in ``originals``.

>>> level = open_zarr_level(Path("p.ome.zarr/1"))          # doctest: +SKIP
>>> level.read((57, slice(0, None, 2), slice(None))).shape   # doctest: +SKIP
(648, 1296)
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import json
import math
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..confine import Confined, open_regular
from ..errors import ReaderError
from ..lru import LRUCache

Key = tuple[int | slice, ...]
DEFAULT_PERCENTILES = (1.0, 99.5)
SAMPLE_BYTES = 16 << 20  # a level this small is read whole for contrast
SAMPLE_WINDOW = 256
PARALLEL_CHUNKS = 16  # windows over this many chunks are read by several threads
POOL_WORKERS = 4
#: bytes of decoded layers kept for slider steps, all levels of the process together
LAYER_CACHE_BYTES = int(float(os.environ.get("VOXCAT_LAYER_CACHE_MB", "192")) * (1 << 20))
_POOL: cf.ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def pool() -> cf.ThreadPoolExecutor:
    """A small shared thread pool for file reads and decoding (they release the GIL)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = cf.ThreadPoolExecutor(POOL_WORKERS, thread_name_prefix="voxcat-read")
        return _POOL


def pread(fd: int, n: int, offset: int) -> bytes:
    """``os.pread`` where it exists (POSIX), else a seek and a read."""
    if hasattr(os, "pread"):
        return os.pread(fd, n, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - Windows
    return os.read(fd, n)  # pragma: no cover


def read_span(
    fd: int,
    offset: int,
    shape: Sequence[int],
    dtype: np.dtype,
    inner: Sequence[slice],
    where: Path,
) -> np.ndarray:
    """Elements ``inner`` (slices with steps) of a C-order array of ``shape`` stored at
    ``offset`` of file ``fd``, from one ``pread`` of the bytes between the first and
    the last of them: a z layer of a 64³ chunk is 8 KiB, a row of every layer spans
    the chunk (one sequential read fetches that faster from a cold disk than a page
    fault per layer would).
    """
    first, span = byte_span(shape, dtype, inner)
    buf = pread(fd, span, offset + first)
    if len(buf) < span:
        raise ReaderError(where, "file is shorter than its header says (truncated?)")
    return from_span(buf, shape, dtype, inner)


def byte_span(shape: Sequence[int], dtype: np.dtype, inner: Sequence[slice]) -> tuple[int, int]:
    """``(first byte, length)`` of the bytes between the first and the last element of
    ``inner`` (slices with steps) in a C-order array of ``shape``: what
    :func:`read_span` reads of a file, and a range request of an object.

    >>> byte_span((64, 64, 64), np.dtype("u2"), [slice(5, 6, 1), slice(0, 64, 1), slice(0, 64, 1)])
    (40960, 8192)
    """
    item = dtype.itemsize
    steps = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    counts = [len(range(s.start, s.stop, s.step)) for s in inner]
    strides = [st * s.step for st, s in zip(steps, inner)]
    first = sum(s.start * st for s, st in zip(inner, steps))
    span = (sum((n - 1) * st for n, st in zip(counts, strides)) + 1) * item
    return first * item, span


def from_span(
    buf: bytes, shape: Sequence[int], dtype: np.dtype, inner: Sequence[slice]
) -> np.ndarray:
    """The elements ``inner`` from the bytes :func:`byte_span` names (a read-only view)."""
    item = dtype.itemsize
    steps = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    counts = [len(range(s.start, s.stop, s.step)) for s in inner]
    strides = [st * s.step * item for st, s in zip(steps, inner)]
    flat = np.frombuffer(buf, dtype=dtype)
    return as_strided(flat, counts, strides, writeable=False)


def normalise_key(key: Sequence[int | slice], shape: Sequence[int]) -> Key:
    """Bounds-checked key: ints in range, slices with explicit start, stop, step > 0."""
    if len(key) != len(shape):
        raise IndexError(f"key has {len(key)} entries for {len(shape)} dimensions")
    out: list[int | slice] = []
    for k, n in zip(key, shape):
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            if step <= 0:
                raise IndexError("only positive steps are supported")
            out.append(slice(start, max(start, stop), step))
        else:
            i = int(k)
            if not 0 <= i < n:
                raise IndexError(f"index {i} outside 0..{n - 1}")
            out.append(i)
    return tuple(out)


def key_len(k: int | slice) -> int:
    return 1 if isinstance(k, int) else len(range(k.start, k.stop, k.step))


def chunk_spans(k: int | slice, chunk: int) -> list[tuple[int, slice, slice]]:
    """``(chunk index, slice of the output, slice inside the chunk)`` for one dimension."""
    if isinstance(k, int):
        return [(k // chunk, slice(0, 1), slice(k % chunk, k % chunk + 1, 1))]
    start, stop, step = k.start, k.stop, k.step
    spans: list[tuple[int, slice, slice]] = []
    if stop <= start:
        return spans
    for b in range(start // chunk, (stop - 1) // chunk + 1):
        lo = max(b * chunk, start)
        first = start + -(-(lo - start) // step) * step
        end = min(stop, (b + 1) * chunk)
        if first >= end:
            continue
        count = len(range(first, end, step))
        j = (first - start) // step
        inner = first - b * chunk
        spans.append((b, slice(j, j + count), slice(inner, inner + (count - 1) * step + 1, step)))
    return spans


ChunkPart = Callable[[tuple[int, ...], list[slice]], "np.ndarray | None"]


def gather_chunks(
    key: Key,
    chunks: Sequence[int],
    dtype: np.dtype,
    part: ChunkPart,
    fill: Any,
    parallel_from: int = PARALLEL_CHUNKS,
) -> np.ndarray:
    """The window ``key`` of a chunked array, ``part(chunk index, slices inside it)``
    giving each chunk's share (``None``: a missing chunk, read as ``fill``). Windows
    over ``parallel_from`` chunks or more are read by several threads, each a run of
    neighbouring chunks (the disk reads ahead for it); the int entries of ``key``
    are dropped from the result."""
    out = np.empty([key_len(k) for k in key], dtype=dtype)
    per_dim = [chunk_spans(k, c) for k, c in zip(key, chunks)]
    combos = list(itertools.product(*per_dim))

    def copy(run: list[tuple[tuple[int, slice, slice], ...]]) -> None:
        for combo in run:  # disjoint parts of ``out``: safe from several threads
            dst = tuple(s[1] for s in combo)
            got = part(tuple(s[0] for s in combo), [s[2] for s in combo])
            out[dst] = fill if got is None else got

    if len(combos) < parallel_from:
        copy(combos)
    else:  # reads wait on the disk and decoders release the GIL: keep several going
        step = -(-len(combos) // POOL_WORKERS)
        list(pool().map(copy, [combos[i : i + step] for i in range(0, len(combos), step)]))
    return out.reshape([key_len(k) for k in key if not isinstance(k, int)])


class Level:
    """One resolution level; subclasses implement :meth:`_read_stored`.

    ``perm`` maps canonical dimension ``i`` to stored dimension ``perm[i]`` (the
    storage may order axes differently, e.g. a TIFF's ``ZCYX``).
    """

    kind = "level"

    def __init__(
        self,
        shape: Sequence[int],
        dtype: Any,
        chunks: Sequence[int] | None = None,
        perm: Sequence[int] | None = None,
    ) -> None:
        self.perm = tuple(perm) if perm is not None else tuple(range(len(shape)))
        self.stored_shape = tuple(int(n) for n in shape)
        self.shape = tuple(self.stored_shape[p] for p in self.perm)
        self.dtype = np.dtype(dtype).newbyteorder("=")
        stored_chunks = tuple(chunks) if chunks is not None else self.stored_shape
        self.chunks = tuple(int(stored_chunks[p]) for p in self.perm)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize

    def read(self, key: Sequence[int | slice]) -> np.ndarray:
        """The window ``key`` (canonical order) as a numpy array; int entries are dropped."""
        canon = normalise_key(key, self.shape)
        stored: list[int | slice] = [0] * len(canon)
        for i, k in enumerate(canon):
            stored[self.perm[i]] = k
        data = np.asarray(self._read_stored(tuple(stored)))
        kept = [d for d, k in enumerate(stored) if not isinstance(k, int)]
        wanted = [self.perm[i] for i, k in enumerate(canon) if not isinstance(k, int)]
        if kept != wanted:
            data = data.transpose([kept.index(d) for d in wanted])
        return data

    def _read_stored(self, key: Key) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release files this level holds open (most hold none)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.shape} {self.dtype}>"


def open_chunk(path: Path, guard: Confined | None) -> int:
    """A file descriptor of a chunk file: a regular file only (a named pipe would block
    a server thread), inside the store when ``guard`` is given (a user's store)."""
    return guard.open(path) if guard is not None else open_regular(path)


def read_chunk(path: Path, guard: Confined | None) -> bytes:
    """The bytes of a chunk or metadata file (see :func:`open_chunk`)."""
    with os.fdopen(open_chunk(path, guard), "rb") as fh:
        return fh.read()


def zarr_fill(value: Any, dtype: np.dtype) -> Any:
    if value is None:
        return 0
    if isinstance(value, str):  # "NaN", "Infinity", "-Infinity" in Zarr v2 JSON
        return float(value.replace("Infinity", "inf"))
    return value


class RawZarrLevel(Level):
    """An uncompressed, unfiltered Zarr v2 array read straight from its chunk files.

    Each chunk contributes the bytes between the first and last element of the window
    it holds, in one ``pread``: a z plane of 64³ chunks reads one 8 KiB layer per
    chunk. Missing chunks read as the fill value.
    """

    kind = "zarr-raw"

    def __init__(
        self,
        path: Path,
        meta: dict[str, Any],
        perm: Sequence[int] | None = None,
        guard: Confined | None = None,
    ) -> None:
        self.path, self.guard = Path(path), guard
        self.file_dtype = np.dtype(meta["dtype"])
        super().__init__(meta["shape"], self.file_dtype, meta["chunks"], perm)
        self.stored_chunks = tuple(int(c) for c in meta["chunks"])
        self.sep = meta.get("dimension_separator") or "."
        self.fill = zarr_fill(meta.get("fill_value"), self.dtype)

    @staticmethod
    def usable(meta: dict[str, Any]) -> bool:
        """Whether ``meta`` (a ``.zarray``) describes raw C-order chunks this class reads."""
        return (
            meta.get("zarr_format") == 2
            and meta.get("compressor") is None
            and not meta.get("filters")
            and meta.get("order", "C") == "C"
            and np.dtype(meta["dtype"]).kind in "biuf"
        )

    def _chunk_path(self, index: tuple[int, ...]) -> Path:
        name = self.sep.join(str(i) for i in index) if index else "0"
        return self.path / name

    def _read_stored(self, key: Key) -> np.ndarray:
        def part(index: tuple[int, ...], inner: list[slice]) -> np.ndarray | None:
            try:
                return self._chunk_part(self._chunk_path(index), inner)
            except FileNotFoundError:
                return None

        return gather_chunks(key, self.stored_chunks, self.dtype, part, self.fill, PARALLEL_CHUNKS)

    def _chunk_part(self, path: Path, inner: list[slice]) -> np.ndarray:
        fd = open_chunk(path, self.guard)
        try:
            return read_span(fd, 0, self.stored_chunks, self.file_dtype, inner, path)
        finally:
            os.close(fd)


class LayerCache:
    """Blocks of consecutive layers decoded for plane reads, least recently used
    dropped first, ``limit`` bytes in all (one process-wide instance, :data:`LAYERS`).

    A block holds ``depth`` layers of one chunk row along the axis a plane cuts:
    ``depth`` is the largest divisor of the chunk depth whose block fits a third of
    the limit (the three views of a volume each keep theirs), so reading it decodes
    exactly the chunks the plane alone would have decoded.
    """

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self._blocks: LRUCache[tuple, np.ndarray] = LRUCache(
            max_size=self.limit, size=lambda block: block.nbytes
        )

    def depth(self, chunk: int, layer_bytes: int) -> int:
        """Layers per block for chunks ``chunk`` deep and layers of ``layer_bytes``."""
        room = self.limit // 3 // max(1, layer_bytes)
        return max((d for d in range(1, chunk + 1) if chunk % d == 0 and d <= room), default=1)

    def get(self, key: tuple) -> np.ndarray | None:
        return self._blocks.get(key)

    def put(self, key: tuple, block: np.ndarray) -> None:
        self._blocks.put(key, block)

    def forget(self, owner: int) -> None:
        """Drop the blocks of one level (its ``owner`` number)."""
        self._blocks.pop_where(lambda key: key[0] == owner)

    def clear(self) -> None:
        self._blocks.clear()

    @property
    def nbytes(self) -> int:
        return self._blocks.total


#: the process's cache of decoded layers (see :class:`LayerCache`)
LAYERS = LayerCache(LAYER_CACHE_BYTES)
_OWNERS = itertools.count()


def _hashable(k: int | slice) -> tuple[int, ...] | int:
    return (k.start, k.stop, k.step) if isinstance(k, slice) else k


class DecodedChunksLevel(Level):
    """Base of levels whose storage unit (``stored_chunks``) is decoded whole.

    A plane that cuts chunks deeper than one layer (a z plane of 64³ chunks) decodes
    every chunk it touches whole; the read keeps a block of the following layers of
    those chunks in :data:`LAYERS`, so the next slider steps only copy a layer.
    Subclasses implement :meth:`_fetch` (read a window, decoding chunks) and set
    ``stored_chunks`` and ``path``.
    """

    stored_chunks: tuple[int, ...]
    path: Path

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = next(_OWNERS)  # never reused, unlike id(): blocks cannot mix up
        weakref.finalize(self, LAYERS.forget, self.owner)

    def _read_stored(self, key: Key) -> np.ndarray:
        deep = [
            d
            for d, k in enumerate(key)
            if isinstance(k, int) and self.stored_chunks[d] > 1 and self.stored_shape[d] > 1
        ]
        if len(deep) == 1 and LAYERS.limit > 0:
            return self._layer(key, deep[0])
        return self._fetch(key)

    def _layer(self, key: Key, axis: int) -> np.ndarray:
        """Layer ``key[axis]`` of the plane ``key``, from a cached block of layers."""
        layer = key[axis]
        assert isinstance(layer, int)  # _read_stored: the one axis with an integer key
        i, chunk = int(layer), self.stored_chunks[axis]
        layer_bytes = math.prod(key_len(k) for k in key) * self.dtype.itemsize
        depth = LAYERS.depth(chunk, layer_bytes)
        if depth <= 1:
            return self._fetch(key)
        start = i // chunk * chunk + i % chunk // depth * depth
        stop = min(start + depth, self.stored_shape[axis])
        cache_key = (
            self.owner,
            axis,
            start,
            tuple(_hashable(k) for k in key[:axis] + key[axis + 1 :]),
        )
        block = LAYERS.get(cache_key)
        if block is None:
            block = self._fetch((*key[:axis], slice(start, stop, 1), *key[axis + 1 :]))
            LAYERS.put(cache_key, block)
        pos = sum(1 for k in key[:axis] if not isinstance(k, int))
        return np.take(block, i - start, axis=pos)  # a copy: the block stays intact

    def _fetch(self, key: Key) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        LAYERS.forget(self.owner)


class ZarrLevel(DecodedChunksLevel):
    """Any Zarr array (compressed, v2 or v3, sharded) read through zarr-python."""

    kind = "zarr"

    def __init__(self, array: Any, path: Path, perm: Sequence[int] | None = None) -> None:
        storage = getattr(array, "shards", None) or array.chunks
        super().__init__(array.shape, array.dtype, storage, perm)
        self.array, self.path = array, Path(path)
        self.stored_chunks = tuple(int(c) for c in array.chunks)  # the unit zarr decodes

    def _fetch(self, key: Key) -> np.ndarray:
        try:
            return np.asarray(self.array[key])
        except Exception as exc:
            raise ReaderError(self.path, f"cannot read Zarr chunk (corrupt?): {exc}") from exc


#: compressors a :class:`PackedZarrLevel` decodes (Zarr name -> numcodecs class)
PACKED_CODECS = {"zstd": "Zstd", "blosc": "Blosc", "gzip": "GZip", "zlib": "Zlib", "lz4": "LZ4"}


class PackedZarrLevel(DecodedChunksLevel):
    """A Zarr v2 or v3 array whose chunks are each one compressed blob (zstd, blosc,
    gzip, zlib or lz4; no filters, sharding, transposition or checksums), read by
    decoding its chunk files with numcodecs on several threads: the bytes zarr-python
    would decode, without its per-chunk overhead (a plane of 441 zstd chunks decodes
    about 2.5 times faster). :func:`packed_layout` says whether an array qualifies;
    any other array goes through :class:`ZarrLevel`. Missing chunks read as the fill
    value; a chunk of the wrong size is an error naming its file.
    """

    kind = "zarr-packed"

    def __init__(
        self,
        path: Path,
        layout: dict[str, Any],
        perm: Sequence[int] | None,
        guard: Confined | None = None,
    ) -> None:
        self.path, self.guard = Path(path), guard
        self.file_dtype = np.dtype(layout["dtype"])
        super().__init__(layout["shape"], self.file_dtype, layout["chunks"], perm)
        self.stored_chunks = tuple(int(c) for c in layout["chunks"])
        self.fill = layout["fill"]
        self._prefix, self._sep = layout["prefix"], layout["sep"]
        self._decoder = _numcodec(layout["codec"]) if layout["codec"] else None

    def _chunk_path(self, index: tuple[int, ...]) -> Path:
        name = self._sep.join(str(i) for i in index)
        if self._prefix:
            return self.path / (self._prefix + (self._sep + name if name else ""))
        return self.path / (name or "0")

    def _chunk(self, index: tuple[int, ...]) -> np.ndarray | None:
        path = self._chunk_path(index)
        try:
            raw = read_chunk(path, self.guard)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ReaderError(path, f"cannot read Zarr chunk: {exc.strerror}") from exc
        try:
            data = self._decoder.decode(raw) if self._decoder is not None else raw
            arr = np.frombuffer(data, dtype=self.file_dtype)
        except Exception as exc:
            raise ReaderError(path, f"cannot decode Zarr chunk (corrupt?): {exc}") from exc
        if arr.size != math.prod(self.stored_chunks):
            raise ReaderError(
                path, f"Zarr chunk holds {arr.size} values, not {math.prod(self.stored_chunks)}"
            )
        return arr.reshape(self.stored_chunks)

    def _fetch(self, key: Key) -> np.ndarray:
        def part(index: tuple[int, ...], inner: list[slice]) -> np.ndarray | None:
            chunk = self._chunk(index)
            return None if chunk is None else chunk[tuple(inner)]

        # decoders release the GIL: every window of two chunks or more uses every core
        return gather_chunks(key, self.stored_chunks, self.dtype, part, self.fill, 2)


def _numcodec(name: str) -> Any:
    import numcodecs

    return getattr(numcodecs, PACKED_CODECS[name])()


def packed_layout(path: Path, guard: Confined | None = None) -> dict[str, Any] | None:
    """How :class:`PackedZarrLevel` reads the Zarr array at ``path``, or ``None`` when
    it does not qualify (or its metadata cannot be read: zarr-python then says why)."""
    try:
        v2, v3 = path / ".zarray", path / "zarr.json"
        if v2.is_file():
            meta = json.loads(read_chunk(v2, guard).decode("utf-8"))
            comp = meta.get("compressor")
            codec = comp.get("id") if isinstance(comp, dict) else None
            if (
                meta.get("zarr_format") != 2
                or (comp is not None and codec not in PACKED_CODECS)
                or meta.get("filters")
                or meta.get("order", "C") != "C"
            ):
                return None
            dtype = np.dtype(meta["dtype"])
            prefix, sep = "", meta.get("dimension_separator") or "."
        elif v3.is_file():
            meta = json.loads(read_chunk(v3, guard).decode("utf-8"))
            grid, keys = meta.get("chunk_grid") or {}, meta.get("chunk_key_encoding") or {}
            codecs = meta.get("codecs") or []
            if (
                meta.get("zarr_format") != 3
                or meta.get("node_type") != "array"
                or meta.get("storage_transformers")
                or grid.get("name") != "regular"
                or not codecs
                or codecs[0].get("name") != "bytes"
                or len(codecs) > 2
                or (len(codecs) == 2 and codecs[1].get("name") not in PACKED_CODECS)
                or keys.get("name") not in ("default", "v2")
            ):
                return None
            codec = codecs[1]["name"] if len(codecs) == 2 else None
            endian = (codecs[0].get("configuration") or {}).get("endian", "little")
            dtype = np.dtype(meta["data_type"]).newbyteorder("<" if endian == "little" else ">")
            meta["chunks"] = grid["configuration"]["chunk_shape"]
            default = keys["name"] == "default"
            sep = (keys.get("configuration") or {}).get("separator", "/" if default else ".")
            prefix = "c" if default else ""
        else:
            return None
        if dtype.kind not in "biuf" or len(meta["chunks"]) != len(meta["shape"]):
            return None
        fill = zarr_fill(meta.get("fill_value"), dtype)
        np.asarray(fill, dtype=dtype)  # a fill value numpy cannot hold: zarr-python's job
    except (OSError, ValueError, TypeError, KeyError, AttributeError, OverflowError):
        return None
    return {
        "shape": tuple(int(n) for n in meta["shape"]),
        "chunks": tuple(int(c) for c in meta["chunks"]),
        "dtype": dtype,
        "fill": fill,
        "codec": codec,
        "prefix": prefix,
        "sep": sep,
    }


class DaskLevel(Level):
    """A lazy dask array (from a format reader) already in canonical order."""

    kind = "dask"

    def __init__(self, data: Any) -> None:
        chunks = tuple(max(c) if c else 1 for c in data.chunks)
        super().__init__(data.shape, data.dtype, chunks)
        self.data = data

    def _read_stored(self, key: Key) -> np.ndarray:
        return np.asarray(self.data[key].compute(scheduler="threads"))


def sample_values(level: Level, fixed: dict[int, int]) -> np.ndarray:
    """Values of ``level`` to take percentiles of, with dims ``fixed`` at an index: the
    whole level when small, else 3 windows per spatial dim (27 in a volume) spread over
    it, each one chunk (at most 256 pixels) wide so it costs one chunk read.
    """
    spatial = [i for i in range(len(level.shape)) if i not in fixed]
    nbytes = math.prod(level.shape[i] for i in spatial) * level.dtype.itemsize
    if nbytes <= SAMPLE_BYTES:
        return level.read(tuple(fixed.get(i, slice(None)) for i in range(len(level.shape))))
    ranges = []
    for i in spatial:
        n, c = level.shape[i], level.chunks[i]
        w = min(n, c if c <= SAMPLE_WINDOW else SAMPLE_WINDOW)
        starts = sorted({min(n - w, int(n * q) // c * c) for q in (1 / 6, 1 / 2, 5 / 6)})
        ranges.append([slice(s, s + w) for s in starts])
    parts = []
    for combo in itertools.product(*ranges):
        windows = dict(zip(spatial, combo))
        key = tuple(fixed[i] if i in fixed else windows[i] for i in range(len(level.shape)))
        parts.append(level.read(key).ravel())
    return np.concatenate(parts)


def value_range(values: np.ndarray, percentiles: Sequence[float]) -> tuple[float, float]:
    """``(lo, hi)`` percentiles of the finite ``values``; ``hi > lo`` always."""
    values = np.asarray(values).ravel()
    if values.dtype.kind == "f":
        values = values[np.isfinite(values)]
    lo, hi = (
        (float(v) for v in np.percentile(values, list(percentiles))) if values.size else (0, 0)
    )
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def open_zarr_level(
    path: Path, perm: Sequence[int] | None = None, guard: Confined | None = None
) -> Level:
    """The fastest reader for the Zarr array at ``path`` (raw chunk reads when possible).

    Only regular files are read; with ``guard`` (a user's store, not a preview) only
    those it allows (:class:`~catalog.confine.Confined`)."""
    meta_file = Path(path) / ".zarray"
    if meta_file.is_file():
        try:
            meta = json.loads(read_chunk(meta_file, guard).decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise ReaderError(meta_file, f"unreadable Zarr metadata: {exc}") from exc
        if RawZarrLevel.usable(meta):
            return RawZarrLevel(Path(path), meta, perm, guard)
    layout = packed_layout(Path(path), guard)
    if layout is not None:
        return PackedZarrLevel(Path(path), layout, perm, guard)
    import zarr

    from ..readers.zarr_ import confined_store

    try:
        if guard is None:
            array = zarr.open_array(store=str(path), mode="r")
        else:
            store = confined_store(Path(path), guard.files)
            array = zarr.open_array(store=store, mode="r")
    except Exception as exc:
        raise ReaderError(path, f"cannot open Zarr array: {exc}") from exc
    return ZarrLevel(array, Path(path), perm)
