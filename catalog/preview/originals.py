"""Chunk-aware reading of a dataset's own files, for views without a preview.

- an uncompressed contiguous TIFF is read in place: a z plane is one contiguous read,
  an xz plane one row per z plane (:class:`TiffContiguousLevel`);
- a tiled 2-D TIFF (a stitched mosaic) reads the tiles a window intersects, one
  ``pread`` and one decode per tile, several at a time (:class:`TiffTiledLevel`);
- a folder of slices reads one file per z plane; uncompressed TIFF slices laid out like
  the first one read only the rows a window needs (:class:`SliceLevel`);
- Zarr arrays read only the chunks a window intersects (``levels.open_zarr_level``);
- everything else goes through the format reader's dask array.

>>> level = open_original(ref)              # doctest: +SKIP
>>> level.read((57, slice(None), slice(None))).shape  # doctest: +SKIP
(1296, 1296)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..confine import Confined, open_binary, open_regular
from ..errors import ReaderError
from ..lru import LRUCache
from ..readers.base import canonical_order, map_axes
from .dataset import DatasetRef
from .levels import (
    POOL_WORKERS,
    DaskLevel,
    Key,
    Level,
    gather_chunks,
    key_len,
    open_zarr_level,
    pool,
    pread,
    read_span,
)

PLANE_CACHE = 4  # decoded slices kept by a SliceLevel (windows of one plane reuse them)
SPAN_BYTES = 16 << 20  # a contiguous TIFF window spread wider than this is read by rows


class TiffContiguousLevel(Level):
    """An uncompressed TIFF series stored contiguously, read plane by plane with one
    ``pread`` per plane of the bytes a window needs: a z plane is one read, an xz plane
    one row per plane (several threads keep reads in flight)."""

    kind = "tiff-contiguous"

    def __init__(
        self, path: Path, offset: int, shape: Sequence[int], dtype: Any, perm: Sequence[int]
    ) -> None:
        super().__init__(shape, dtype, (1, *shape[1:]), perm)
        self.path, self.offset, self.file_dtype = Path(path), int(offset), np.dtype(dtype)

    @classmethod
    def open(cls, ref: DatasetRef) -> TiffContiguousLevel | None:
        """The level when the dataset's TIFF series is contiguous and uncompressed."""
        from ..readers.tiff import tiff_file

        path = ref.source.path
        index = int((ref.kwargs.get("options") or {}).get("series", 0))
        try:
            with tiff_file(path) as tif:
                series = tif.series[index]
                offset = series.dataoffset
                if offset is None or series.keyframe.compression != 1:
                    return None
                axes = map_axes(series.axes, series.shape)
                dtype = np.dtype(series.dtype).newbyteorder(tif.byteorder)
                shape = tuple(series.shape)
        except Exception:
            return None
        perm = canonical_order(axes)
        if tuple(shape[p] for p in perm) != ref.shape or len(shape) < 2:
            return None
        if os.path.getsize(path) < offset + int(np.prod(shape)) * dtype.itemsize:
            return None
        return cls(path, offset, shape, dtype, perm)

    def _read_stored(self, key: Key) -> np.ndarray:
        full = [k if isinstance(k, slice) else slice(k, k + 1, 1) for k in key]
        out = np.empty([key_len(k) for k in key], dtype=self.dtype)
        outer = list(enumerate(range(full[0].start, full[0].stop, full[0].step)))
        inner = int(np.prod(self.stored_shape[1:])) * self.file_dtype.itemsize
        fd = open_regular(self.path)
        try:

            def copy(part: list[tuple[int, int]]) -> None:
                for j, z in part:
                    at = self.offset + z * inner
                    out[j] = self._gather(fd, at, self.stored_shape[1:], full[1:])

            if len(outer) < 16:
                copy(outer)
            else:  # reads wait on the disk and release the GIL: keep several in flight
                list(pool().map(copy, [outer[i::POOL_WORKERS] for i in range(POOL_WORKERS)]))
        finally:
            os.close(fd)
        return out.reshape([key_len(k) for k in key if not isinstance(k, int)])

    def _gather(self, fd: int, at: int, shape: Sequence[int], inner: list[slice]) -> np.ndarray:
        """One read of the window's bytes, or one per row when they span more than
        :data:`SPAN_BYTES` (a strided overview of a big image reads rows, not all)."""
        first = inner[0]
        rows = range(first.start, first.stop, first.step)
        row = int(np.prod(shape[1:])) * self.file_dtype.itemsize
        if len(shape) == 1 or (rows[-1] - rows[0] + 1) * row <= SPAN_BYTES:
            return read_span(fd, at, shape, self.file_dtype, inner, self.path)
        return np.stack([self._gather(fd, at + r * row, shape[1:], inner[1:]) for r in rows])


class TiffTiledLevel(Level):
    """A tiled 2-D TIFF page (a stitched mosaic without a pyramid) read tile by tile:
    a window reads and decodes only the tiles it intersects, each with one ``pread``
    and tifffile's decoder for its compression, on several threads (the decoders
    release the GIL); a strided overview keeps every tile's sampled pixels only."""

    kind = "tiff-tiled"

    def __init__(self, path: Path, tif: Any, page: Any, perm: Sequence[int]) -> None:
        tile = (int(page.tilelength), int(page.tilewidth))
        super().__init__(page.shape, page.dtype, tile, perm)
        self.path, self._tif, self._page, self.tile = Path(path), tif, page, tile
        self._offsets = [int(o) for o in page.dataoffsets]
        self._counts = [int(c) for c in page.databytecounts]
        self._across = -(-self.stored_shape[1] // tile[1])  # tiles per row

    @classmethod
    def open(cls, ref: DatasetRef) -> TiffTiledLevel | None:
        """The level when the dataset is one tiled, single-sample 2-D TIFF page."""
        import tifffile

        from ..readers.tiff import tiff_file

        path = ref.source.path
        index = int((ref.kwargs.get("options") or {}).get("series", 0))
        tif = None
        try:
            tif = tiff_file(path)
            series = tif.series[index]
            page = series.pages[0]
            if not isinstance(page, tifffile.TiffPage):  # a frame (or none): no tile facts
                tif.close()
                return None
            usable = (
                len(series.pages) == 1
                and page.is_tiled
                and page.tiledepth == 1
                and page.samplesperpixel == 1
                and len(page.shape) == 2
                and tuple(series.shape) == tuple(page.shape)
                and len(page.dataoffsets)
                == -(-page.shape[0] // page.tilelength) * -(-page.shape[1] // page.tilewidth)
            )
            perm = canonical_order(map_axes(series.axes, series.shape)) if usable else None
            if perm is None or tuple(page.shape[p] for p in perm) != ref.shape:
                tif.close()
                return None
            return cls(path, tif, page, perm)
        except Exception:
            if tif is not None:
                tif.close()
            return None

    def _tile(self, fd: int, ty: int, tx: int) -> np.ndarray:
        i = ty * self._across + tx
        th, tw = self.tile
        if self._counts[i] == 0:  # a tile never written reads as zeros
            return np.zeros((th, tw), self.dtype)
        raw = pread(fd, self._counts[i], self._offsets[i])
        if len(raw) < self._counts[i]:
            raise ReaderError(self.path, "file is shorter than its tiles say (truncated?)")
        try:
            data = self._page.decode(raw, i)[0]
        except Exception as exc:
            raise ReaderError(self.path, f"cannot decode tile {i} (corrupt?): {exc}") from exc
        if data is None:
            return np.zeros((th, tw), self.dtype)
        return np.asarray(data).reshape(-1)[: th * tw].reshape(th, tw)

    def _read_stored(self, key: Key) -> np.ndarray:
        fd = open_regular(self.path)
        try:
            return gather_chunks(
                key,
                self.tile,
                self.dtype,
                lambda index, inner: self._tile(fd, *index)[tuple(inner)],
                0,
            )
        finally:
            os.close(fd)

    def close(self) -> None:
        self._tif.close()


class SliceLevel(Level):
    """A ``zyx`` folder of 2-D slices: one file per z plane.

    When the slices are uncompressed TIFFs whose header and size match the first
    slice's, only the rows a window needs are read (an xz plane costs one row per
    file); otherwise each file is decoded whole, in a thread pool, and the last few
    planes are kept for windows of the same plane.
    """

    kind = "slices"

    def __init__(self, files: Sequence[Path], decoder: str, shape: Sequence[int], dtype: Any):
        super().__init__(shape, dtype, (1, *shape[1:]))
        self.files = tuple(Path(f) for f in files)
        self.decoder = decoder
        self.layout: tuple[int, int, bytes, np.dtype] | None = None  # offset, size, head, dtype
        self._planes: LRUCache[int, np.ndarray] = LRUCache(PLANE_CACHE)
        if decoder == "tiff":
            self.layout = _tiff_layout(self.files[0], tuple(shape[1:]))

    @classmethod
    def open(cls, ref: DatasetRef) -> SliceLevel | None:
        from ..readers.slices import find_slices, slice_header

        if ref.axes != "zyx":
            return None
        source = ref.source
        files = source.files
        if len(files) != ref.shape[0]:
            pattern = str(source.options.get("pattern") or "")
            directory = source.path if source.path.is_dir() else source.path.parent
            files = tuple(find_slices(directory, pattern)) if pattern else ()
        if len(files) != ref.shape[0]:
            return None
        try:
            _, decoder = slice_header(files[0])
        except ReaderError:
            return None
        return cls(files, decoder, ref.shape, ref.dtype)

    # -- reading ---------------------------------------------------------------------
    def _decoded(self, z: int) -> np.ndarray:
        from ..readers.slices import SliceBlocks

        plane = self._planes.get(z)
        if plane is not None:
            return plane
        blocks = SliceBlocks(self.files, self.decoder, self.shape, self.dtype)
        plane = blocks.read(z)
        self._planes.put(z, plane)
        return plane

    def _rows(self, z: int, ys: slice | int, xs: slice | int) -> np.ndarray:
        """Rows of plane ``z`` read in place, or the decoded plane when the layout differs."""
        if self.layout is not None:
            offset, size, head, file_dtype = self.layout
            nx = self.shape[2]
            row = nx * file_dtype.itemsize
            first = ys if isinstance(ys, int) else ys.start
            last = ys if isinstance(ys, int) else max(ys.start, ys.stop - 1)
            fd = open_regular(self.files[z])
            try:
                if os.fstat(fd).st_size == size and pread(fd, len(head), 0) == head:
                    n = last - first + 1
                    buf = pread(fd, n * row, offset + first * row)
                    if len(buf) == n * row:
                        rows = np.frombuffer(buf, dtype=file_dtype).reshape(n, nx)
                        sel = 0 if isinstance(ys, int) else slice(0, n, ys.step)
                        return rows[sel, xs].astype(self.dtype, copy=False)
            finally:
                os.close(fd)
        return self._decoded(z)[ys, xs]

    def _read_stored(self, key: Key) -> np.ndarray:
        kz, ys, xs = key
        zs = [kz] if isinstance(kz, int) else list(range(kz.start, kz.stop, kz.step))
        shape = [key_len(ys), key_len(xs)]
        out = np.empty((len(zs), *shape), dtype=self.dtype)

        def copy(part: list[tuple[int, int]]) -> None:  # disjoint planes of ``out``
            for i, z in part:
                out[i] = np.reshape(self._rows(z, ys, xs), shape)

        todo = list(enumerate(zs))
        if len(zs) <= 2 or (self.layout is not None and len(zs) < 16):
            copy(todo)
        else:  # reads and decoding release the GIL: keep several files in flight
            list(pool().map(copy, [todo[i::POOL_WORKERS] for i in range(POOL_WORKERS)]))
        keep = [n for n, k in zip(out.shape, key) if not isinstance(k, int)]
        return out.reshape(keep)


def _tiff_layout(path: Path, shape: tuple[int, ...]) -> tuple[int, int, bytes, np.dtype] | None:
    """``(data offset, file size, header bytes, dtype)`` of an uncompressed 2-D TIFF."""
    from ..readers.tiff import tiff_file

    try:
        with tiff_file(path) as tif:
            series = tif.series[0]
            page = series.keyframe
            if (
                len(tif.pages) != 1
                or series.dataoffset is None
                or page.compression != 1
                or tuple(series.shape) != shape
            ):
                return None
            head_len = 16 if tif.is_bigtiff else 8
            dtype = np.dtype(series.dtype).newbyteorder(tif.byteorder)
            offset = int(series.dataoffset)
        with open_binary(path) as fh:
            head = fh.read(head_len)
        return offset, os.path.getsize(path), head, dtype
    except Exception:
        return None


def _zarr_level(ref: DatasetRef, level: int) -> Level | None:
    """A direct Zarr level (no dask) for OME-Zarr and single-array stores."""
    from ..readers.zarr_ import ZarrReader

    try:
        plan = ZarrReader()._plan(ref.source.path, ref.source.files)
    except Exception:
        return None
    if plan.mode not in ("array", "ome") or level >= len(plan.keys):
        return None
    perm = canonical_order(plan.axes)
    key = plan.keys[level]
    path = ref.source.path / key if key else ref.source.path
    guard = Confined([ref.source.path], ref.source.files)
    try:
        out = open_zarr_level(path, perm, guard)
    except ReaderError:
        return None
    if out.shape != ref.levels[level]:
        return None
    if len(out.stored_shape) != len(perm):
        return None
    return out


def open_level(ref: DatasetRef, level: int = 0) -> Level:
    """The best reader for pyramid ``level`` of the dataset's own files."""
    found: Level | None = None
    if ref.source.storage is not None:
        pass  # object storage: the reader's lazy array fetches only the chunks a view needs
    elif ref.reader == "zarr":
        found = _zarr_level(ref, level)
    elif ref.reader == "tiff" and level == 0:
        found = TiffContiguousLevel.open(ref) or TiffTiledLevel.open(ref)
    elif ref.reader == "slices" and level == 0:
        found = SliceLevel.open(ref)
    if found is not None:
        return found
    data = ref.read(level).data
    return DaskLevel(data)
