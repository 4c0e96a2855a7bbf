"""Storage options and errors of object storage (``catalog/remote.py``), without a
server: what the index may keep, how CLI options parse, how library errors are named.
The scans and reads themselves are tested against a real S3 server in
``tests/test_objstore.py``."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from catalog.errors import (
    BucketNotFound,
    ObjectChanged,
    StorageAccessDenied,
    StorageError,
    StorageUnreachable,
)
from catalog.readers import Source
from catalog.remote import (
    STORAGE_OPTIONS,
    Storage,
    parse_storage_options,
    public_options,
    storage_error,
)


def test_public_options_drop_every_credential_at_any_depth() -> None:
    options = {
        "key": "AKIA",
        "secret": "s",
        "token": "t",
        "anon": False,
        "profile": "lab",
        "client_kwargs": {"endpoint_url": "http://x", "aws_secret_access_key": "s2"},
        "config_kwargs": {"retries": {"max_attempts": 2}},
        "sas_token": "sv=1",
        "account_key": "k",
        "password": "p",
        "my_secret_thing": "p2",
    }
    assert public_options(options) == {
        "anon": False,
        "profile": "lab",
        "client_kwargs": {"endpoint_url": "http://x"},
        "config_kwargs": {"retries": {"max_attempts": 2}},
    }
    assert Storage.of("s3", options).public == public_options(options)


def test_storage_options_from_the_command_line() -> None:
    assert parse_storage_options(["endpoint_url=http://h:9000", "anon=true"]) == {
        "anon": True,
        "client_kwargs": {"endpoint_url": "http://h:9000"},
    }
    assert parse_storage_options(
        ['{"profile": "lab", "client_kwargs": {"region_name": "x"}}']
    ) == {
        "client_kwargs": {"region_name": "x"},
        "profile": "lab",
    }
    for bad in ("endpoint_url", "=x", "{not json", "[1, 2]"):
        with pytest.raises(ValueError, match="--storage-option"):
            parse_storage_options([bad])


def test_a_stored_url_becomes_a_source_in_storage() -> None:
    options = {"series": 1, STORAGE_OPTIONS: {"client_kwargs": {"endpoint_url": "http://h"}}}
    src = Source.at("s3://bucket/a/b.tif", (), options, "b.tif", {"secret": "s"})
    assert src.path == Path("bucket/a/b.tif") and src.location == "s3://bucket/a/b.tif"
    assert dict(src.options) == {"series": 1}  # the readers' options only
    assert src.storage is not None
    assert src.storage.options == {"client_kwargs": {"endpoint_url": "http://h"}, "secret": "s"}
    assert src.storage.public == {"client_kwargs": {"endpoint_url": "http://h"}}
    assert pickle.loads(pickle.dumps(src)) == src  # scan workers and dask tasks get it
    local = Source.at("/data/a.tif")
    assert local.storage is None and local.location == "/data/a.tif"


def test_library_errors_become_named_storage_errors() -> None:
    url = "s3://b/p"
    assert isinstance(storage_error(url, PermissionError("Access Denied")), StorageAccessDenied)
    missing = storage_error(url, FileNotFoundError("The specified bucket does not exist"))
    assert isinstance(missing, BucketNotFound) and "no such bucket" in str(missing)
    refused = storage_error(url, ConnectionRefusedError("refused"))
    assert isinstance(refused, StorageUnreachable) and "endpoint_url" in str(refused)
    other = storage_error(url, ValueError("odd"))
    assert type(other) is StorageError and str(other) == "s3://b/p: odd"
    # named errors are also the builtin kinds callers may catch, and survive pickling
    assert isinstance(missing, FileNotFoundError) and isinstance(refused, ConnectionError)
    for exc in (missing, refused, ObjectChanged("s3://b/p: changed")):
        again = pickle.loads(pickle.dumps(exc))
        assert type(again) is type(exc) and str(again) == str(exc)


def test_any_installed_fsspec_protocol_scans_and_reads(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """fsspec's own ``memory://`` file system (no ETags, a sync file system) is scanned
    and read like S3: nothing in the scan or the readers is S3-specific."""
    import io
    import uuid

    import fsspec
    import tifffile
    import zarr

    from catalog import open_catalog, scan

    fs = fsspec.filesystem("memory")
    root = f"voxcat-{uuid.uuid4().hex[:8]}"
    image = rng.integers(0, 4000, (64, 64), dtype=np.uint16)
    buf = io.BytesIO()
    tifffile.imwrite(buf, image, tile=(16, 16))
    fs.pipe(f"/{root}/a.tif", buf.getvalue())
    store = zarr.storage.FsspecStore.from_url(f"memory://{root}/b.zarr")
    z = zarr.open_array(store, mode="w", shape=(32, 32), dtype="u1", chunks=(8, 8))
    z[:] = 7
    try:
        index = tmp_path / "lab.duckdb"
        report = scan(f"memory://{root}", index, jobs=1, progress=False)
        assert report.counts["added"] == 2 and report.counts["failed"] == 0, report.failed
        cat = open_catalog(index)
        by_name = {cat[i].metadata["name"]: cat[i] for i in cat}
        np.testing.assert_array_equal(
            by_name["a.tif"].read()[8:24, 8:24].values, image[8:24, 8:24]
        )
        assert int(by_name["b.zarr"].read().sum()) == 7 * 32 * 32
        assert by_name["a.tif"].metadata["path"] == f"memory://{root}/a.tif"
        assert all(cat[i].metadata["thumbnail"] for i in cat)
        assert scan(f"memory://{root}", index, jobs=1).counts["unchanged"] == 2
    finally:
        fs.rm(f"/{root}", recursive=True)
