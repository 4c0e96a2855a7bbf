"""Reading a dataset a catalogue server describes, from where this machine can reach it.

The server holds the record; the data stays where it is. ``read()`` opens the
dataset's path when it exists here (a shared file system, mounted at the same place or
mapped with ``open_remote(url, paths={server_prefix: local_prefix})``) or its URL
when it is in an object store, with the same format reader the local catalogue uses.
When neither works, :class:`~catalog.errors.DatasetUnavailable` says where the data
lives and which server holds the record.

>>> map_path("/srv/lab/rocks/a.tif", {"/srv/lab": "/mnt/lab"})
'/mnt/lab/rocks/a.tif'
>>> map_path("/srv/labx/a.tif", {"/srv/lab": "/mnt/lab"})
'/srv/labx/a.tif'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from intake.readers.entry import ReaderDescription

from ..catalogue.entries import VoxcatReader
from ..errors import DatasetUnavailable
from ..paths import display
from ..remote import is_remote


def map_path(path: str, paths: Mapping[str, str] | None) -> str:
    """``path`` with the longest matching server prefix of ``paths`` replaced by its
    local counterpart (whole folder names only); unchanged when none matches."""
    if not paths or is_remote(path):
        return path
    best = None
    for prefix in paths:
        bare = prefix.rstrip("/") or "/"
        inside = path == bare or path.startswith(bare.rstrip("/") + "/")
        if inside and (best is None or len(bare) > len(best[0])):
            best = (bare, paths[prefix])
    if best is None:
        return path
    rest = path[len(best[0]) :].lstrip("/")
    return os.path.join(best[1], rest) if rest else best[1]


class RemoteDatasetReader(VoxcatReader):
    """``cat[id]`` of a remote catalogue: reads the dataset with voxcat's format reader
    where this machine can reach it, else raises :class:`DatasetUnavailable` naming
    the data's location and the catalogue server.

    >>> da = remote["k2x9q4m1abcd"].read()            # doctest: +SKIP
    """

    output_instance = "xarray:DataArray"
    #: keywords of the entry that are the client's, not the format reader's
    _CLIENT_KEYS: ClassVar[tuple[str, ...]] = ("server", "server_path", "root", "paths")

    def _read(self, *args: Any, **kwargs: Any) -> Any:
        server = kwargs.pop("server", None)
        server_path = kwargs.pop("server_path", None)
        root = kwargs.pop("root", None)
        paths = kwargs.pop("paths", None)
        path = kwargs.get("path") or ""
        status = kwargs.get("status", "ok")
        here = status != "ok" or not kwargs.get("reader") or is_remote(path)
        if not here and not Path(path).exists():
            raise DatasetUnavailable(
                _unreachable(kwargs, server, server_path or path, path, root, paths)
            )
        try:
            return super()._read(*args, **kwargs)
        except DatasetUnavailable as exc:
            raise DatasetUnavailable(f"{exc} (catalogue server {server})") from exc


def _unreachable(
    kwargs: Mapping[str, Any],
    server: str | None,
    server_path: str,
    local: str,
    root: str | None,
    paths: Mapping[str, str] | None,
) -> str:
    label = f"dataset {kwargs.get('dataset_id')} ({kwargs.get('name')})"
    where = (
        f"{label} lives at {display(server_path)}, the path its record on the catalogue "
        f"server {server} holds"
    )
    if paths:
        return (
            f"{where}; this machine cannot reach it: nothing at {display(local)} (mapped with "
            f"paths={dict(paths)!r}). Check the mapping, or mount that file system here"
        )
    prefix = root or os.path.dirname(server_path)
    return (
        f"{where}; this machine cannot reach it. Mount that file system here at the same "
        "place, or map the server's folder to where it is mounted here: "
        f"open_remote(url, paths={{{display(prefix)!r}: '/mnt/...'}})"
    )


def remote_entry(
    meta: Mapping[str, Any], server: str, paths: Mapping[str, str] | None
) -> ReaderDescription:
    """The intake entry of one dataset record from a server (``datasets/{id}``)."""
    server_path = str(meta.get("path") or "")
    output = "xarray:Dataset" if meta.get("kind") == "container" else "xarray:DataArray"
    kwargs: dict[str, Any] = {
        "path": map_path(server_path, paths),
        "reader": meta.get("reader"),
        "options": meta.get("options") or {},
        "files": [],  # the reader finds a multi-file dataset's files from its options
        "name": meta.get("name"),
        "dataset_id": meta.get("id"),
        "status": meta.get("status") or "ok",
        "error": meta.get("error"),
        "server": server,
        "server_path": server_path,
        "root": meta.get("root"),
        "paths": dict(paths) if paths else None,
    }
    return ReaderDescription(
        reader=RemoteDatasetReader.qname(),
        kwargs=kwargs,
        metadata=dict(meta),
        output_instance=output,
    )


__all__ = ["RemoteDatasetReader", "map_path", "remote_entry"]
