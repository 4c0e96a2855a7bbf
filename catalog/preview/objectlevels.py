"""Preview levels in object storage: read by byte ranges, written through zarr's
``FsspecStore``.

A preview's chunks are uncompressed (:mod:`catalog.preview.pyramid`), so a view needs
from each chunk object only the bytes between the first and the last element it
shows: :class:`ObjectZarrLevel` asks for exactly those ranges, all of a view's chunks
in one batch of concurrent requests (a z plane of 64³ ``uint16`` chunks costs 8 KiB
per chunk, never a whole object). :class:`ObjectArray` names one array of a build in
progress (picklable: Dask workers reopen it to write their blocks).

>>> level = open_object_level(Storage.of("s3"), "lab/previews/5f2a.ome.zarr/b.x.build/1")  # doctest: +SKIP
>>> level.read((57, slice(0, None), slice(0, None))).shape   # doctest: +SKIP
(648, 648)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import numpy as np

from ..errors import ReaderError
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
        combos = list(itertools.product(*per_dim))
        paths, starts, ends = [], [], []
        for combo in combos:
            first, span = byte_span(self.stored_chunks, self.file_dtype, [s[2] for s in combo])
            paths.append(self._chunk_key(tuple(s[0] for s in combo)))
            starts.append(first)
            ends.append(first + span)
        fs = self.storage.fs()
        try:
            got = fs.cat_ranges(paths, starts, ends, on_error="return") if paths else []
        except Exception as exc:
            raise storage_error(self.url, exc) from exc
        for combo, raw, start, end, path in zip(combos, got, starts, ends, paths):
            dst = tuple(s[1] for s in combo)
            if isinstance(raw, FileNotFoundError):
                out[dst] = self.fill
                continue
            if isinstance(raw, BaseException):
                raise storage_error(self.storage.url(path), raw) from raw
            if len(raw) < end - start:
                raise ReaderError(
                    self.storage.url(path), "chunk object is shorter than its array says"
                )
            out[dst] = from_span(raw, self.stored_chunks, self.file_dtype, [s[2] for s in combo])
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
