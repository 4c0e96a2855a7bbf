"""Datasets at remote URLs (``s3://``, ``gs://``, ``az://``, ``https://``): the one place
voxcat talks to object storage, through fsspec.

- :class:`Storage` names a file system (protocol and ``storage_options``) that scans
  and readers open objects through; :func:`public_options` is what of its options the
  index may store (never keys, secrets, tokens or passwords: credentials come from the
  environment, AWS profiles or the ``storage_options`` given to each call);
- :func:`storage_error` turns what fsspec, botocore and aiohttp raise into voxcat's
  named errors (unreachable endpoint, missing bucket, denied access);
- :func:`object_checksum` hashes an object's bytes as they stream (BLAKE3, as local
  files are hashed) and :func:`check_unchanged` fails an object whose ETag changed
  while it was read.

Imported catalogues (intake-esm's CMIP6 and CESM tables) list Zarr stores in object
storage. They are recorded and searchable like any dataset; reading one goes through
fsspec, which needs the protocol's package (``gcsfs``, ``s3fs``) and the network.

>>> is_remote("gs://cmip6/CMIP6/CMIP/NCAR/CESM2/historical/r1i1p1f1/Amon/tas/gn/v20190308")
True
>>> is_remote("file:///data/a.zarr"), is_remote("/data/a.zarr")
(False, False)
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from .errors import (
    BucketNotFound,
    DatasetUnavailable,
    ObjectChanged,
    StorageAccessDenied,
    StorageError,
    StorageUnreachable,
)

_URL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

#: fsspec protocol -> the package that implements it, for messages
PROTOCOL_PACKAGES = {
    "gs": "gcsfs",
    "gcs": "gcsfs",
    "s3": "s3fs",
    "s3a": "s3fs",
    "az": "adlfs",
    "abfs": "adlfs",
    "abfss": "adlfs",
    "http": "aiohttp",
    "https": "aiohttp",
}
#: storage options used unless given: public cloud buckets are read anonymously, so
#: no credential lookup (and no instance-metadata request) happens
_ANONYMOUS: dict[str, dict[str, Any]] = {
    "s3": {"anon": True},
    "s3a": {"anon": True},
    "gs": {"token": "anon"},
}
_ANONYMOUS["gcs"] = _ANONYMOUS["gs"]


def is_remote(path: str) -> bool:
    """Whether a stored path is a URL other than ``file://``."""
    m = _URL_RE.match(path)
    return m is not None and m[1].lower() != "file"


def protocol_of(url: str) -> str:
    """The lower-case protocol of a URL (``""`` for a local path)."""
    m = _URL_RE.match(url)
    return m[1].lower() if m else ""


def missing_package(protocol: str) -> str | None:
    """The package to install for reading ``protocol://``, or ``None`` when fsspec can."""
    try:
        import fsspec

        fsspec.get_filesystem_class(protocol)
    except (ImportError, ValueError):
        return PROTOCOL_PACKAGES.get(protocol, f"an fsspec package for {protocol}://")
    return None


def open_remote(
    url: str, reader: str | None, label: str, storage_options: dict | None = None
) -> Any:
    """A remote Zarr store as a lazy ``xarray.Dataset`` (``xr.open_zarr``); every way
    this cannot work raises :class:`~catalog.errors.DatasetUnavailable` naming the URL
    and the cause (package missing, host unreachable, no store there)."""
    protocol = protocol_of(url)
    package = missing_package(protocol)
    if package is not None:
        raise DatasetUnavailable(
            f"{label}: cannot read {url}: {protocol}:// needs {package}, which is not "
            f"installed here (pip install {package})"
        )
    if reader != "zarr":
        raise DatasetUnavailable(
            f"{label}: {url} is a remote {reader or 'file'}; voxcat reads remote Zarr "
            "stores only: copy it to a local drive and scan it"
        )
    import xarray as xr

    options = {**_ANONYMOUS.get(protocol, {}), **(storage_options or {})}
    try:
        return xr.open_zarr(url, storage_options=options or None, chunks={})
    except Exception as exc:  # fsspec, aiohttp, botocore and zarr all raise their own
        raise DatasetUnavailable(f"{label}: {_cause(url, exc)}") from exc


def _cause(url: str, exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    if isinstance(exc, FileNotFoundError | KeyError) or "not found" in text.lower():
        return f"no Zarr store at {url} (nothing there, or no Zarr metadata): {text}"
    if isinstance(exc, PermissionError):
        return f"access to {url} was refused ({text}); pass credentials as storage_options="
    if isinstance(exc, OSError | TimeoutError) or _is_client_error(exc):
        return (
            f"{url} is unreachable ({text}); check the network and the address, or "
            "whether this machine may reach it"
        )
    return f"cannot open {url} as Zarr: {text}"


def _is_client_error(exc: BaseException) -> bool:
    try:
        import aiohttp
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, aiohttp.ClientError)


# -- object storage read by scans and readers ------------------------------------------

#: option names that hold credentials: never stored in the index (compared lower-case,
#: at any depth, e.g. inside ``client_kwargs``)
SECRET_OPTIONS = frozenset(
    {
        "key",
        "secret",
        "token",
        "password",
        "session_token",
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "access_key",
        "secret_key",
        "account_key",
        "sas_token",
        "client_secret",
        "connection_string",
        "credentials",
    }
)
_SECRET_WORDS = ("secret", "password", "token", "credential")
#: the key of a dataset's ``options`` (in the index) holding its root's storage
#: options without credentials; entries pass it to the reader as ``storage_options``
STORAGE_OPTIONS = "storage_options"
#: bytes of an object's head read to recognise its format (one range request)
HEAD_BYTES = 1024
#: block size of files opened for reading headers and chunks: small, so a header or a
#: chunk costs a range request of about its own size, not of a whole object
READ_BLOCK = 32 << 10
#: block size of streamed checksums
STREAM_BLOCK = 8 << 20


def public_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` without credentials: what the index may store.

    >>> public_options({"key": "AKIA...", "secret": "s", "client_kwargs": {
    ...     "endpoint_url": "http://127.0.0.1:9000", "aws_session_token": "t"}})
    {'client_kwargs': {'endpoint_url': 'http://127.0.0.1:9000'}}
    """
    out: dict[str, Any] = {}
    for name, value in (options or {}).items():
        low = str(name).lower()
        if low in SECRET_OPTIONS or any(w in low for w in _SECRET_WORDS):
            continue
        out[str(name)] = public_options(value) if isinstance(value, Mapping) else value
    return out


def parse_storage_options(items: list[str] | None) -> dict[str, Any]:
    """``--storage-option NAME=VALUE`` items (or one JSON object) as a dict; values are
    JSON when they parse (``anon=true``, ``client_kwargs={"region_name": "x"}``).
    ``endpoint_url`` goes into ``client_kwargs``, where s3fs expects it.

    >>> parse_storage_options(["endpoint_url=http://127.0.0.1:9000", "anon=false"])
    {'anon': False, 'client_kwargs': {'endpoint_url': 'http://127.0.0.1:9000'}}
    """
    out: dict[str, Any] = {}
    for item in items or ():
        text = item.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"--storage-option {text!r}: not valid JSON ({exc})") from exc
            if not isinstance(value, dict):
                raise ValueError(f"--storage-option {text!r}: give a JSON object")
            out.update(value)
            continue
        name, sep, raw = text.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--storage-option {text!r}: give NAME=VALUE or a JSON object")
        try:
            out[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[name.strip()] = raw
    return normalise_options(out)


def normalise_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``endpoint_url`` moved into ``client_kwargs`` (s3fs' place for it)."""
    out = dict(options or {})
    if "endpoint_url" in out:
        kwargs = dict(out.get("client_kwargs") or {})
        kwargs.setdefault("endpoint_url", out.pop("endpoint_url"))
        out["client_kwargs"] = kwargs
    return dict(sorted(out.items()))


def split_url(url: str) -> tuple[str, str]:
    """``(protocol, path inside the file system)`` of a URL.

    >>> split_url("s3://bucket/prefix/a.tif")
    ('s3', 'bucket/prefix/a.tif')
    """
    protocol = protocol_of(url)
    if not protocol:
        raise ValueError(f"{url!r} is not a URL")
    return protocol, url.split("://", 1)[1].strip("/")


@dataclasses.dataclass(frozen=True)
class Storage:
    """A file system that objects are read through: an fsspec protocol and its
    ``storage_options`` (picklable, so scan workers and dask tasks reopen it; the index
    stores only :attr:`public`).

    >>> s = Storage.of("s3", {"anon": True})
    >>> s.url("bucket/a.tif")
    's3://bucket/a.tif'
    """

    protocol: str
    options_json: str = "{}"

    @classmethod
    def of(cls, protocol: str, options: Mapping[str, Any] | None = None) -> Storage:
        return cls(protocol, json.dumps(normalise_options(options), sort_keys=True))

    @property
    def options(self) -> dict[str, Any]:
        return json.loads(self.options_json)

    @property
    def public(self) -> dict[str, Any]:
        """The options without credentials (what the index stores)."""
        return public_options(self.options)

    def url(self, path: str | os.PathLike[str]) -> str:
        return f"{self.protocol}://{PurePosixPath(os.fspath(path)).as_posix().lstrip('/')}"

    def fs(self) -> Any:
        """The fsspec file system (fsspec keeps one instance per options and thread)."""
        package = missing_package(self.protocol)
        if package is not None:
            raise StorageError(
                f"{self.protocol}:// needs {package}, which is not installed here "
                f"(pip install {package})"
            )
        import fsspec

        return fsspec.filesystem(self.protocol, **self.options)

    def open(self, path: str | os.PathLike[str], size: int | None = None) -> Any:
        """An object opened for reading in small blocks (a header or a chunk costs a
        range request of about its size); errors become named storage errors."""
        key = os.fspath(path)
        fs = self.fs()
        kwargs: dict[str, Any] = {"block_size": READ_BLOCK, "cache_type": "bytes"}
        if size is not None:
            kwargs["size"] = size
        try:
            fh = fs.open(key, "rb", **kwargs)
        except Exception as exc:
            raise storage_error(self.url(key), exc) from exc
        if fh.writable():  # an in-memory file (memory://): readers must see it read-only
            fh = io.BufferedReader(fh)
        return fh

    def head(self, path: str | os.PathLike[str], n: int = HEAD_BYTES) -> bytes:
        """The first ``n`` bytes of an object: one range request."""
        key = os.fspath(path)
        try:
            return bytes(self.fs().cat_file(key, start=0, end=n))
        except Exception as exc:
            raise storage_error(self.url(key), exc) from exc

    def info(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """An object's current listing entry (size, ETag, LastModified), asked afresh."""
        key = os.fspath(path)
        fs = self.fs()
        try:
            fs.invalidate_cache(key)
            return dict(fs.info(key))
        except Exception as exc:
            raise storage_error(self.url(key), exc) from exc

    def zarr_store(self, path: str | os.PathLike[str], *, read_only: bool = True) -> Any:
        """A Zarr store of the prefix ``path`` (zarr 3's ``FsspecStore``), read-only
        unless ``read_only=False`` (then chunks are written straight to the storage)."""
        from zarr.storage import FsspecStore

        url = self.url(path)
        try:
            return FsspecStore.from_url(url, storage_options=self.options, read_only=read_only)
        except Exception as exc:
            raise storage_error(url, exc) from exc


def etag_of(info: Mapping[str, Any]) -> str | None:
    """The ETag of a listing entry (s3fs ``ETag``, gcsfs ``etag``, adlfs ``etag``)."""
    for key in ("ETag", "etag", "md5Hash", "md5", "checksum"):
        value = info.get(key)
        if value:
            return str(value).strip('"')
    return None


def mtime_ns_of(info: Mapping[str, Any]) -> int:
    """The last-modified time of a listing entry in ns since the epoch (0 if unknown)."""
    import datetime as dt

    for key in ("LastModified", "last_modified", "mtime", "updated", "modified", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.UTC)
            return int(value.timestamp() * 1e9)
        if isinstance(value, int | float):
            return int(value * 1e9)
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return int(parsed.timestamp() * 1e9)
    return 0


def object_checksum(storage: Storage, path: str | os.PathLike[str], size: int) -> str:
    """BLAKE3 of an object's bytes as they stream in big blocks (``"b3:..."``, the
    same value a local copy of the object hashes to)."""
    import blake3

    from .scanner.checksum import PREFIX, _hasher

    key = os.fspath(path)
    h = _hasher(size)
    fs = storage.fs()
    try:
        with fs.open(key, "rb", block_size=STREAM_BLOCK, cache_type="none", size=size) as fh:
            while True:
                block = fh.read(STREAM_BLOCK)
                if not block:
                    break
                h.update(block)
    except Exception as exc:
        raise storage_error(storage.url(key), exc) from exc
    assert isinstance(h, blake3.blake3)
    return PREFIX + h.hexdigest()


def check_unchanged(storage: Storage, path: str | os.PathLike[str], etag: str | None) -> None:
    """Raise :class:`~catalog.errors.ObjectChanged` when the object's ETag is no longer
    ``etag`` (the one the scan listed): what was read may mix two versions."""
    if etag is None:
        return
    now = etag_of(storage.info(path))
    if now != etag:
        raise ObjectChanged(
            f"{storage.url(path)}: the object changed during the scan (ETag {etag} when "
            f"listed, {now} now); it was recorded as failed, a rescan reads it again"
        )


def storage_error(url: str, exc: BaseException) -> StorageError:
    """What fsspec, botocore or aiohttp raised, as a named voxcat error whose message
    names the URL, the cause and what to do."""
    if isinstance(exc, StorageError):
        return exc
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    low = text.lower()
    names = {type(e).__name__ for e in _chain(exc)}
    if isinstance(exc, PermissionError) or "accessdenied" in low or "access denied" in low:
        return StorageAccessDenied(
            f"{url}: access denied ({text}); give credentials through the environment "
            "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE) or storage_options"
        )
    if "nosuchbucket" in low or "bucket does not exist" in low:
        return BucketNotFound(f"{url}: no such bucket ({text}); check the bucket's name")
    if names & {"EndpointConnectionError", "ClientConnectorError", "ConnectTimeoutError"} or (
        isinstance(exc, ConnectionError | TimeoutError)
    ):
        return StorageUnreachable(
            f"{url}: the storage endpoint is unreachable ({text}); check the endpoint "
            "(--storage-option endpoint_url=..., AWS_ENDPOINT_URL) and the network"
        )
    if isinstance(exc, FileNotFoundError):
        return BucketNotFound(f"{url}: nothing there ({text})")
    return StorageError(f"{url}: {text}")


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(out) < 10:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out
