"""Datasets at remote URLs (``gs://``, ``s3://``, ``https://``): how to tell them, what
they need, and opening a remote Zarr store with a plain error when that cannot work.

Imported catalogues (intake-esm's CMIP6 and CESM tables) list Zarr stores in object
storage. They are recorded and searchable like any dataset; reading one goes through
fsspec, which needs the protocol's package (``gcsfs``, ``s3fs``) and the network.

>>> is_remote("gs://cmip6/CMIP6/CMIP/NCAR/CESM2/historical/r1i1p1f1/Amon/tas/gn/v20190308")
True
>>> is_remote("file:///data/a.zarr"), is_remote("/data/a.zarr")
(False, False)
"""

from __future__ import annotations

import re
from typing import Any

from .errors import DatasetUnavailable

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
