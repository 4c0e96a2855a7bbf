"""Preview levels in object storage: read by byte ranges, written through zarr's
``FsspecStore``.

A preview's chunks are uncompressed (:mod:`catalog.preview.pyramid`), so a view needs
from each chunk object only the bytes between the first and the last element it
shows: :class:`ObjectZarrLevel` asks for exactly those ranges, all of a view's chunks
in one batch of concurrent requests (a z plane of 64³ ``uint16`` chunks costs 8 KiB
per chunk, never a whole object). A plane that needs a row of every layer (an xz or
yz plane) spans most of each chunk anyway: those chunks are fetched whole and kept
(:data:`CHUNKS`, least recently used dropped first), so the next slider steps through
them fetch nothing. :class:`ObjectArray` names one array of a build in progress
(picklable: Dask workers reopen it to write their blocks).

>>> level = open_object_level(Storage.of("s3"), "lab/previews/5f2a.ome.zarr/b.x.build/1")  # doctest: +SKIP
>>> level.read((57, slice(0, None), slice(0, None))).shape   # doctest: +SKIP
(648, 648)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from typing import Any

import numpy as np

from ..errors import ReaderError
from ..lru import LRUCache
from ..remote import Storage, storage_error
from .levels import (
    Key,
    Level,
    RawZarrLevel,
    ZarrLevel,
    byte_span,
    chunk_spans,
    from_span,
    key_len,
    zarr_fill,
)

#: bytes of whole chunk objects kept for slider steps (all levels of the process)
CHUNK_CACHE_BYTES = int(float(os.environ.get("VOXCAT_OBJECT_CHUNKS_MB", "96")) * (1 << 20))
#: the process's cache of whole chunk objects, by URL
CHUNKS: LRUCache[str, bytes] = LRUCache(max_size=CHUNK_CACHE_BYTES, size=len)


class ObjectZarrLevel(Level):
    """An uncompressed Zarr v2 array in object storage, read by byte ranges of its
    chunk objects (missing chunks read as the fill value)."""

    kind = "zarr-object"

    def __init__(self, storage: Storage, key: str, meta: dict[str, Any]) -> None:
        self.storage, self.key = storage, key.rstrip("/")
        self.file_dtype = np.dtype(meta["dtype"])
        super().__init__(meta["shape"], self.file_dtype, meta["chunks"])
        self.stored_chunks = tuple(int(c) for c in meta["chunks"])
        self.sep = meta.get("dimension_separator") or "."
        self.fill = zarr_fill(meta.get("fill_value"), self.dtype)

    @property
    def url(self) -> str:
        return self.storage.url(self.key)

    def _chunk_key(self, index: tuple[int, ...]) -> str:
        name = self.sep.join(str(i) for i in index) if index else "0"
        return f"{self.key}/{name}"

    def _read_stored(self, key: Key) -> np.ndarray:
        out = np.empty([key_len(k) for k in key], dtype=self.dtype)
        per_dim = [chunk_spans(k, c) for k, c in zip(key, self.stored_chunks)]
        whole = int(np.prod(self.stored_chunks)) * self.file_dtype.itemsize
        todo = []  # (output slices, inner slices, key, first byte, length, whole chunk)
        for combo in itertools.product(*per_dim):
            inner = [s[2] for s in combo]
            first, span = byte_span(self.stored_chunks, self.file_dtype, inner)
            path = self._chunk_key(tuple(s[0] for s in combo))
            dst = tuple(s[1] for s in combo)
            keep = 2 * span >= whole and whole <= CHUNK_CACHE_BYTES // 4
            cached = CHUNKS.get(self.storage.url(path)) if keep else None
            if cached is not None:
                out[dst] = from_span(
                    cached[first : first + span], self.stored_chunks, self.file_dtype, inner
                )
                continue
            todo.append((dst, inner, path, 0 if keep else first, whole if keep else span, keep))
        fs = self.storage.fs()
        try:
            got = (
                fs.cat_ranges(
                    [t[2] for t in todo],
                    [t[3] for t in todo],
                    [t[3] + t[4] for t in todo],
                    on_error="return",
                )
                if todo
                else []
            )
        except Exception as exc:
            raise storage_error(self.url, exc) from exc
        for (dst, inner, path, _start, length, keep), raw in zip(todo, got):
            if isinstance(raw, FileNotFoundError):
                out[dst] = self.fill
                continue
            if isinstance(raw, BaseException):
                raise storage_error(self.storage.url(path), raw) from raw
            if len(raw) < length:
                raise ReaderError(
                    self.storage.url(path), "chunk object is shorter than its array says"
                )
            if keep:
                CHUNKS.put(self.storage.url(path), bytes(raw))
                first, span = byte_span(self.stored_chunks, self.file_dtype, inner)
                raw = raw[first : first + span]
            out[dst] = from_span(raw, self.stored_chunks, self.file_dtype, inner)
        return out.reshape([key_len(k) for k in key if not isinstance(k, int)])


def open_object_level(storage: Storage, key: str) -> Level:
    """The level of the Zarr v2 array at ``key``: byte ranges for raw chunks (every
    preview), zarr-python for anything else."""
    key = key.rstrip("/")
    fs = storage.fs()
    try:
        meta = json.loads(fs.cat_file(f"{key}/.zarray"))
    except Exception as exc:
        raise storage_error(storage.url(key), exc) from exc
    if RawZarrLevel.usable(meta):
        return ObjectZarrLevel(storage, key, meta)
    import zarr

    array = zarr.open_array(store=storage.zarr_store(key), mode="r")
    return ZarrLevel(array, storage.url(key))  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class ObjectArray:
    """One array of a preview being built in object storage: what a Dask task needs
    to write its blocks there (or read a level back).

    >>> ObjectArray(Storage.of("s3"), "lab/p/5f2a.ome.zarr/b.x.build/0").url
    's3://lab/p/5f2a.ome.zarr/b.x.build/0'
    """

    storage: Storage
    key: str

    @property
    def url(self) -> str:
        return self.storage.url(self.key)

    def zarr(self) -> Any:
        """The array, opened for writing through ``FsspecStore``."""
        import zarr

        return zarr.open_array(store=writable_store(self.storage, self.key), mode="r+")

    def level(self) -> Level:
        return open_object_level(self.storage, self.key)


def writable_store(storage: Storage, key: str) -> Any:
    """A Zarr store of the prefix ``key`` that writes straight to object storage."""
    return storage.zarr_store(key, read_only=False)


def object_array_of(array: Any) -> ObjectArray | None:
    """The :class:`ObjectArray` of a zarr array in an ``FsspecStore``, else None."""
    from zarr.storage import FsspecStore

    store = array.store
    if not isinstance(store, FsspecStore):
        return None
    fs = store.fs
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple | list) else fs.protocol
    options = {k: v for k, v in fs.storage_options.items() if k != "asynchronous"}
    key = f"{store.path.rstrip('/')}/{array.path}" if array.path else store.path
    return ObjectArray(Storage.of(protocol, options), key)
