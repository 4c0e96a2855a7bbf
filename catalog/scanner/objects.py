"""Walk a prefix of object storage (``s3://bucket/prefix``, any fsspec protocol) and
group its objects into datasets, as :mod:`.walk` does for a folder.

One listing (``fs.find(prefix, detail=True)``) gives every object with its size, ETag
and last-modified time; nothing else is fetched for objects the index already knows
unchanged. Objects are grouped by their "folder" (the key up to the last ``/``):

- a prefix holding Zarr metadata (``zarr.json``, ``.zgroup``, ``.zarray``, ...) at its
  top is one dataset, every object below it a file of it (Zarr v2 and v3);
- any other object is a single-file dataset: its reader is chosen by suffix, then by
  its magic bytes, fetched with one range request (``fs.cat_file(start=0, end=N)``) and
  handed to the readers' own ``guess_can_open`` (:func:`~catalog.readers.base.prime_magic`);
- a format whose reader cannot read from object storage is indexed as a file (size,
  checksum) with the reason recorded as a warning.

A dataset's change signature uses the objects' ETags, sizes and last-modified times
(:func:`catalog.scanner.known.signature` with the ETags), so a rescan reads nothing of
an unchanged object.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..readers import Reader, Source
from ..readers.base import has_suffix, magic_cache, prime_magic
from ..readers.zarr_ import MARKERS
from ..remote import HEAD_BYTES, Storage, etag_of, mtime_ns_of, storage_error
from ..tempfiles import is_temp_name
from .walk import IGNORED_NAMES, Candidate, FileStat

Issue = Callable[[str, str, str], None]  # (url, severity, message)

#: the warning of an object in a format whose reader reads local files only
NOT_REMOTE = "indexed as a file: voxcat's {reader} reader cannot read from object storage yet"


def list_objects(storage: Storage, root: str) -> dict[str, dict[str, Any]]:
    """``key -> listing entry`` of every object at or below ``root`` (one listing)."""
    fs = storage.fs()
    url = storage.url(root)
    try:
        found = fs.find(root, detail=True, withdirs=False)
        if not found and fs.isfile(root):  # the root is one object
            found = {root: fs.info(root)}
    except Exception as exc:
        raise storage_error(url, exc) from exc
    root = root.strip("/")
    out = {}
    for k, v in found.items():
        key = k.strip("/")
        inside = not root or key == root or key.startswith(root + "/")  # not "lab2/" for "lab"
        if inside and v.get("type", "file") == "file" and not k.endswith("/"):
            out[key] = v
    return out


def _stat(key: str, entry: dict[str, Any], location: str) -> FileStat:
    rel = posixpath.relpath(key, location) if key != location else posixpath.basename(key)
    return FileStat(
        Path(key), rel, int(entry.get("size") or 0), mtime_ns_of(entry), etag=etag_of(entry)
    )


def _zarr_stores(keys: list[str], root: str) -> list[str]:
    """Top-most prefixes (at or below ``root``) holding Zarr metadata at their top."""
    tops = sorted({posixpath.dirname(k) for k in keys if posixpath.basename(k) in MARKERS})
    stores: list[str] = []
    for top in tops:
        if not top or (root and not (top == root or top.startswith(root + "/"))):
            continue
        if any(top == s or top.startswith(s + "/") for s in stores):
            continue
        stores.append(top)
    return stores


def walk_objects(
    storage: Storage,
    root: str,
    readers: list[Reader],
    issue: Issue,
    known: dict[str, tuple[str, str | None]] | None = None,
) -> list[Candidate]:
    """Every dataset under ``root`` (a path inside ``storage``) as a candidate.

    ``known`` maps the URLs of objects the index holds to their ``(signature,
    reader)``: an object whose listing still gives that signature keeps its reader
    without a byte of it being fetched."""
    known = known or {}
    objects = list_objects(storage, root)
    stores = _zarr_stores(list(objects), root)
    out: list[Candidate] = []
    zarr = next((r for r in readers if r.name == "zarr"), None)
    taken: set[str] = set()
    for store in stores:
        keys = sorted(k for k in objects if k.startswith(store + "/"))
        taken.update(keys)
        files = [_stat(k, objects[k], store) for k in keys]
        source = Source(path=Path(store), files=tuple(Path(k) for k in keys), storage=storage)
        out.append(Candidate(source=source, reader=zarr.name if zarr else None, files=files))
    remote = [r for r in readers if r.remote and r.name != "zarr"]
    local_only = [r for r in readers if not r.remote]
    by_folder: dict[str, list[str]] = {}
    for key in sorted(objects):
        if key in taken:
            continue
        name = posixpath.basename(key)
        if (
            name in IGNORED_NAMES
            or is_temp_name(name)
            or any(p in IGNORED_NAMES for p in key.split("/"))
        ):
            continue
        by_folder.setdefault(posixpath.dirname(key), []).append(key)
    for _folder, keys in sorted(by_folder.items()):
        with magic_cache():
            for key in keys:
                cand = _unchanged(storage, key, objects[key], known)
                if cand is None:
                    cand = _single(storage, key, objects[key], remote, local_only, issue)
                if cand is not None:
                    out.append(cand)
    return out


def _unchanged(
    storage: Storage, key: str, entry: dict[str, Any], known: dict[str, tuple[str, str | None]]
) -> Candidate | None:
    """The candidate of an object the index holds with this very listing entry."""
    old = known.get(storage.url(key))
    if old is None:
        return None
    path = Path(key)
    source = Source(path=path, files=(path,), storage=storage)
    cand = Candidate(source=source, reader=old[1], files=[_stat(key, entry, key)])
    return cand if cand.signature == old[0] else None


def _single(
    storage: Storage,
    key: str,
    entry: dict[str, Any],
    remote: list[Reader],
    local_only: list[Reader],
    issue: Issue,
) -> Candidate | None:
    path = Path(key)
    stat = _stat(key, entry, key)
    source = Source(path=path, files=(path,), storage=storage)
    cand = Candidate(source=source, reader=None, files=[stat])
    if stat.size == 0:
        return cand
    by_suffix = next((r for r in remote if has_suffix(path, r.suffixes)), None)
    try:
        prime_magic(path, storage.head(key, HEAD_BYTES))
    except Exception as exc:  # a listed object that cannot be read: recorded, not fatal
        issue(storage.url(key), "error", f"cannot read its head: {exc}")
        return cand
    found = None
    for reader in ([by_suffix] if by_suffix else []) + [r for r in remote if r is not by_suffix]:
        try:
            if reader.guess_can_open(path):
                found = reader
                break
        except Exception:
            continue
    if found is not None:
        cand.reader = found.name
        if by_suffix is not None and by_suffix is not found:
            cand.warnings.append(
                f"{storage.url(key)}: the name says {by_suffix.name} but the content is "
                f"{found.name}; read as {found.name}"
            )
        return cand
    other = next((r for r in local_only if has_suffix(path, r.suffixes)), None)
    if other is not None:
        cand.warnings.append(f"{storage.url(key)}: {NOT_REMOTE.format(reader=other.name)}")
    elif by_suffix is not None:
        cand.reader, cand.forced = by_suffix.name, True  # let it say what is wrong
    return cand
