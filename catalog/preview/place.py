"""Where the preview pyramids of an index live: its cache folder (the default) or a
prefix in object storage that a server and many notebooks share.

The place is an index setting (``settings`` key :data:`LOCATION_KEY`): a URL and the
storage options needed to reach it *without credentials*
(:func:`catalog.remote.public_options`, as scans keep a root's options). Credentials
come from the environment (``AWS_ACCESS_KEY_ID``/``AWS_PROFILE``..., fsspec's
``FSSPEC_S3_*`` variables) or from ``storage_options`` given to each call.

In object storage there is no rename, so a preview is built like this::

    s3://bucket/previews/<checksum>.ome.zarr/
        b.<host>-<pid>-<start>-<id>.build/0, 1, ...   levels of one build, written first
        .zgroup, .zattrs                               written last: the commit

The root ``.zattrs`` (OME-NGFF ``multiscales`` naming the levels of one build, plus
voxcat's attributes) is one PUT, written after every level is complete: a store
without it is no preview, so an interrupted build is never used, and two concurrent
builds each write their own levels (the last ``.zattrs`` wins and names complete ones).
Builds whose writer is gone and that no ``.zattrs`` names are removed by the next build
of that preview and by :func:`~catalog.preview.prune_previews`.

>>> set_preview_location("lab.duckdb", "s3://lab-bucket/previews",
...                      storage_options={"endpoint_url": "http://s3.lab:9000"})  # doctest: +SKIP
>>> preview_place("lab.duckdb").where                           # doctest: +SKIP
's3://lab-bucket/previews'
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PreviewError
from ..index.connection import cache_dir, connect, resolve_index, transaction
from ..paths import display
from ..remote import Storage, is_remote, normalise_options, public_options, split_url
from ..remote import storage_error as storage_error
from ..tempfiles import MAX_AGE, owner, writer_of

#: ``settings`` key of an index whose previews live in object storage: JSON with the
#: ``url`` and the ``storage_options`` without credentials
LOCATION_KEY = "preview.location"
SUFFIX = ".ome.zarr"
BUILD_SUFFIX = ".build"
#: words that mean "the index's cache folder" for :func:`set_preview_location`
LOCAL_WORDS = ("cache", "local", "default")


def preview_name(checksum: str) -> str:
    """The name of the preview of data with ``checksum`` (in any place).

    >>> preview_name("b3:5f2a9c1e00000000000000000000000011112222")
    '5f2a9c1e000000000000000000000000.ome.zarr'
    """
    return f"{checksum.split(':')[-1][:32]}{SUFFIX}"


@dataclasses.dataclass(frozen=True)
class PreviewPlace:
    """Where previews live: the local ``folder``, or ``url`` in object storage reached
    through ``storage`` (options with whatever credentials the caller gave).

    >>> PreviewPlace(Path("lab.voxcat/previews")).location("b3:00ff").as_posix()
    'lab.voxcat/previews/00ff.ome.zarr'
    >>> PreviewPlace(Path("x"), "s3://lab/previews", Storage.of("s3")).location("b3:00ff")
    's3://lab/previews/00ff.ome.zarr'
    """

    folder: Path
    url: str | None = None
    storage: Storage | None = None

    @property
    def remote(self) -> bool:
        return self.url is not None

    @property
    def where(self) -> str:
        """The place as people read it (a URL or a folder)."""
        return self.url if self.url is not None else display(self.folder)

    @property
    def prefix(self) -> str:
        """The path of the place inside its file system (``bucket/previews``)."""
        assert self.url is not None
        return split_url(self.url)[1]

    def location(self, checksum: str) -> Path | str:
        """The preview of data with ``checksum``: a folder, or a URL."""
        name = preview_name(checksum)
        return self.folder / name if self.url is None else f"{self.url.rstrip('/')}/{name}"

    def key(self, checksum: str) -> str:
        """The preview's path inside the file system of object storage."""
        return f"{self.prefix}/{preview_name(checksum)}"

    def fs(self) -> Any:
        assert self.storage is not None
        return self.storage.fs()

    def check(self) -> None:
        """Raise a named :class:`~catalog.errors.StorageError` (unreachable endpoint,
        missing bucket, denied access) naming the URL when the place cannot be used."""
        if self.url is None:
            return
        bucket = self.prefix.split("/")[0]
        fs = self.fs()
        try:
            fs.invalidate_cache()
            fs.ls(bucket, detail=False)
        except Exception as exc:
            raise storage_error(self.url, exc) from exc


def _setting(index: Path) -> dict[str, Any] | None:
    with connect(index, read_only=True) as con:
        row = con.execute("SELECT value FROM settings WHERE key = ?", [LOCATION_KEY]).fetchone()
    return json.loads(row[0]) if row else None


def preview_place(
    index: str | os.PathLike[str] | None, storage_options: Mapping[str, Any] | None = None
) -> PreviewPlace:
    """Where the previews of ``index`` live: the URL set with
    :func:`set_preview_location` (its stored options, then ``storage_options`` over
    them: credentials), else ``<index>.voxcat/previews``.

    >>> preview_place("lab.duckdb").where                       # doctest: +SKIP
    'lab.voxcat/previews'
    """
    path = resolve_index(index)
    folder = cache_dir(path) / "previews"
    setting = _setting(path) if path.exists() else None
    if not setting:
        return PreviewPlace(folder)
    url = str(setting["url"])
    options = {**(setting.get("storage_options") or {}), **normalise_options(storage_options)}
    return PreviewPlace(folder, url, Storage.of(split_url(url)[0], options))


def set_preview_location(
    index: str | os.PathLike[str] | None,
    url: str | None,
    *,
    storage_options: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> PreviewPlace:
    """Keep the previews of ``index`` at ``url`` (``s3://bucket/prefix``, any fsspec
    protocol) from now on; ``None`` (or ``"cache"``) goes back to the index's cache
    folder. The place is checked first (a named error with the URL, and the index left
    as it was, when it is unreachable, missing or denied); the index keeps the options
    without credentials. Previews already built elsewhere are not moved: build them
    again (``voxcat preview``) and prune the old place. ``dry_run`` checks the place
    and returns it without keeping it.

    >>> set_preview_location("lab.duckdb", "s3://lab-bucket/previews",
    ...     storage_options={"endpoint_url": "http://s3.lab:9000"})  # doctest: +SKIP
    >>> set_preview_location("lab.duckdb", None)                # doctest: +SKIP
    """
    from ..index.store import append_audit, current_user

    path = resolve_index(index)
    if url is not None and url.strip().lower() in LOCAL_WORDS:
        url = None
    if url is None:
        if dry_run:
            return PreviewPlace(cache_dir(path) / "previews")
        with transaction(path) as con:
            con.execute("DELETE FROM settings WHERE key = ?", [LOCATION_KEY])
            append_audit(con, [("preview.location", None, {"url": None})], current_user())
        return PreviewPlace(cache_dir(path) / "previews")
    if not is_remote(url):
        raise PreviewError(
            f"previews may live in the index's cache folder or in object storage "
            f"(s3://bucket/prefix, gs://..., az://...), not at {url!r}"
        )
    protocol, inner = split_url(url)
    if not inner:
        raise PreviewError(f"{url}: name a bucket (and a prefix) for the previews")
    url = f"{protocol}://{inner}"
    options = normalise_options(storage_options)
    place = PreviewPlace(cache_dir(path) / "previews", url, Storage.of(protocol, options))
    place.check()
    if dry_run:
        return place
    value = json.dumps({"url": url, "storage_options": public_options(options)}, sort_keys=True)
    with transaction(path) as con:
        con.execute(
            "INSERT INTO settings VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [LOCATION_KEY, value],
        )
        append_audit(con, [("preview.location", None, {"url": url})], current_user())
    return place


# -- builds in object storage ---------------------------------------------------------


def build_name() -> str:
    """A new build's folder name, recording its writer (:mod:`catalog.tempfiles`).

    >>> build_name().startswith("b.") and build_name().endswith(".build")
    True
    """
    return f"b.{owner()}-{uuid.uuid4().hex[:8]}{BUILD_SUFFIX}"


def _build_stale(name: str, modified: float | None, max_age: float) -> bool:
    found = writer_of(name)
    alive = found.alive() if found is not None else None
    if alive is not None:
        return not alive
    return modified is not None and time.time() - modified > max_age


def _modified(fs: Any, key: str) -> float | None:
    """When the newest object under ``key`` was written (seconds since the epoch)."""
    from ..remote import mtime_ns_of

    try:
        found = fs.find(key, detail=True)
    except Exception:
        return None
    newest = max((mtime_ns_of(info) for info in dict(found).values()), default=0)
    return newest / 1e9 if newest else None


def referenced_builds(attrs: Mapping[str, Any] | None) -> set[str]:
    """The build folders the ``multiscales`` of a root ``.zattrs`` names."""
    out = set()
    try:
        for ds in (attrs or {})["multiscales"][0]["datasets"]:
            head = str(ds["path"]).split("/")[0]
            if head.endswith(BUILD_SUFFIX):
                out.add(head)
    except (KeyError, IndexError, TypeError):
        pass
    return out


def read_attrs(fs: Any, key: str, url: str) -> dict[str, Any] | None:
    """The root ``.zattrs`` of the store at ``key`` (None when there is none: no
    complete preview); storage failures raise named errors with ``url``."""
    try:
        raw = fs.cat_file(f"{key}/.zattrs")
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise storage_error(url, exc) from exc
    try:
        attrs = json.loads(raw)
    except ValueError:
        return None
    return attrs if isinstance(attrs, dict) else None


def remove_stale_builds(
    place: PreviewPlace, key: str, *, keep: str | None = None, max_age: float = MAX_AGE
) -> list[str]:
    """Delete the builds under the preview ``key`` that its ``.zattrs`` does not name
    (nor ``keep``) and whose writer is gone; returns their URLs."""
    fs = place.fs()
    protocol = place.storage.protocol if place.storage else "s3"
    try:
        fs.invalidate_cache(key)
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(key, detail=False)]
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise storage_error(f"{protocol}://{key}", exc) from exc
    used = referenced_builds(read_attrs(fs, key, f"{protocol}://{key}"))
    removed = []
    for name in sorted(names):
        if not name.endswith(BUILD_SUFFIX) or name in used or name == keep:
            continue
        sub = f"{key}/{name}"
        if _build_stale(name, _modified(fs, sub), max_age):
            try:
                fs.rm(sub, recursive=True)
            except FileNotFoundError:
                pass
            except Exception as exc:
                raise storage_error(f"{protocol}://{sub}", exc) from exc
            removed.append(f"{protocol}://{sub}")
    return removed
