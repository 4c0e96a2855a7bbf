"""Catalogue entries built on demand from index rows, and the intake reader they name.

``cat[id]`` returns a :class:`VoxcatReader`: an intake 2 reader whose ``read()``
opens the dataset with its format plugin as a lazy, dask-backed xarray object. The
lazy mappings give intake's ``aliases`` and ``entries`` without building one
``ReaderDescription`` per dataset.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from intake.readers.entry import ReaderDescription
from intake.readers.readers import BaseReader

from ..errors import DatasetUnavailable, StorageError
from ..index.columns import listed, names
from ..paths import display, from_db, resolve_for_db, resolve_stored
from ..remote import STORAGE_OPTIONS, is_remote, open_remote

if TYPE_CHECKING:  # pragma: no cover
    from .core import DuckDBCatalog

#: columns of a dataset row kept in ``entry.metadata`` (everything but bulky internals)
ROW_COLUMNS = ", ".join(names("entry"))
_JSON_COLUMNS = tuple(c.name for c in listed("entry") if c.base_type == "JSON")


class VoxcatReader(BaseReader):
    """Opens one indexed dataset lazily with the voxcat format reader that indexed it.

    >>> da = cat["k2x9q4m1abcd"].read()              # doctest: +SKIP
    >>> small = cat["k2x9q4m1abcd"].read(level=2)    # doctest: +SKIP
    """

    imports: ClassVar[set[str]] = {"xarray", "dask"}
    output_instance = "xarray:DataArray"

    def _read(
        self,
        path: str,
        reader: str | None,
        options: dict | None = None,
        files: list[str] | None = None,
        name: str | None = None,
        dataset_id: str | None = None,
        status: str = "ok",
        error: str | None = None,
        level: int = 0,
        storage_options: dict | None = None,
        **unknown: Any,
    ) -> Any:
        from ..readers import get_reader
        from ..readers.base import Source

        if unknown:
            raise TypeError(_unknown_keywords(unknown))
        where = display(path)  # ``path`` is a filesystem path (see make_entry)
        label = f"dataset {dataset_id} ({where})"
        scanned = STORAGE_OPTIONS in (options or {})  # scanned from object storage
        if is_remote(path) and status != "missing" and not scanned:
            if level:
                raise DatasetUnavailable(f"{label}: a remote store is read at level 0 only")
            return open_remote(path, reader, f"dataset {dataset_id}", storage_options)
        if status == "missing":
            raise DatasetUnavailable(
                f"{label} is missing: it was not found on the last scan; reconnect the "
                "drive or rescan where it moved (moves keep the id)"
            )
        if status == "failed":
            raise DatasetUnavailable(f"{label} could not be read when scanned: {error}")
        if status == "offline":  # ``error``: which drive to plug in (catalog/drives.py)
            raise DatasetUnavailable(f"{label} is {error or 'on a drive that is offline'}")
        if reader is None:
            raise DatasetUnavailable(
                f"{label} is not an image dataset voxcat can read (a non-image file)"
            )
        if scanned:
            source = Source.at(path, files or (), options, name, storage_options)
            try:
                out = get_reader(reader).open(source, level=level)
            except StorageError as exc:
                raise DatasetUnavailable(f"{label}: {exc}") from exc
        else:
            src_path = Path(path)
            if not src_path.exists():
                raise DatasetUnavailable(f"{label}: no such file or folder any more; rescan it")
            source = Source(
                path=src_path,
                files=tuple(Path(f) for f in files or ()),
                options=options or {},
                name=name,
            )
            out = get_reader(reader).open(source, level=level)
        out.attrs.setdefault("voxcat_id", dataset_id)
        out.attrs.setdefault("name", name)
        # printable: attributes go on to netCDF/HDF5 files, whose text must be UTF-8
        # (``cat[id].metadata["path"]`` is the path to open)
        out.attrs.setdefault("path", where)
        return out


#: what ``entry.read()`` accepts: name -> what it does
READ_KEYWORDS = {
    "level": "pyramid level, 0 = full resolution",
    "storage_options": "fsspec options of a remote store, e.g. {'anon': True}",
}


def _unknown_keywords(unknown: dict[str, Any]) -> str:
    names = ", ".join(map(repr, unknown))
    close = {m for k in unknown for m in difflib.get_close_matches(k, list(READ_KEYWORDS), n=1)}
    hint = f" (did you mean {', '.join(map(repr, sorted(close)))}?)" if close else ""
    valid = "; ".join(f"{k} ({v})" for k, v in READ_KEYWORDS.items())
    word = "argument" if len(unknown) == 1 else "arguments"
    return f"read() got unexpected keyword {word} {names}{hint}; valid keywords: {valid}"


def row_metadata(
    row: dict[str, Any], base: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """An index row as entry metadata: JSON columns decoded, ``path`` and ``root`` as
    filesystem paths (``open()`` takes them, undecodable bytes included; with ``base``,
    the folder of the index, relative ones resolved against it)."""
    meta = dict(row)
    for key in _JSON_COLUMNS:
        if isinstance(meta.get(key), str):
            meta[key] = json.loads(meta[key])
    for key in ("path", "root"):
        if meta.get(key):
            meta[key] = resolve_stored(meta[key], base) if base is not None else from_db(meta[key])
    return meta


def make_entry(
    row: dict[str, Any],
    files: list[str],
    extra: dict[str, Any],
    base: str | os.PathLike[str] | None = None,
) -> ReaderDescription:
    """The intake entry for one dataset row; relative paths (an export's index) are
    resolved against ``base``, the folder of the index."""
    if base is not None:
        row = {**row, "path": resolve_for_db(row["path"], base)}
        files = [resolve_for_db(f, base) for f in files]
    meta = row_metadata(row, base)
    meta.update(extra)
    output = "xarray:Dataset" if row.get("kind") == "container" else "xarray:DataArray"
    kwargs = {
        "path": from_db(row["path"]),
        "reader": row["reader"],
        "options": meta.get("options") or {},
        "files": [from_db(f) for f in files] if len(files) > 1 else [],
        "name": row["name"],
        "dataset_id": row["id"],
        "status": row["status"],
        "error": row["error"],
    }
    return ReaderDescription(
        reader=VoxcatReader.qname(), kwargs=kwargs, metadata=meta, output_instance=output
    )


class LazyAliases(Mapping):
    """``id -> id`` for the catalogue's selection, answered by SQL."""

    def __init__(self, cat: DuckDBCatalog) -> None:
        self._cat = cat

    def __getitem__(self, key: str) -> str:
        if key in self._cat:
            return key
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._cat

    def __iter__(self) -> Iterator[str]:
        return iter(self._cat)

    def __len__(self) -> int:
        return len(self._cat)

    def __repr__(self) -> str:
        return f"<{len(self)} dataset ids of {self._cat!r}>"


class LazyEntries(LazyAliases):
    """``id -> ReaderDescription``, each built when asked for."""

    def __getitem__(self, key: str) -> ReaderDescription:
        return self._cat.entry(key)
