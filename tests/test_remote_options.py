"""Storage options and errors of object storage (``catalog/remote.py``), without a
server: what the index may keep, how CLI options parse, how library errors are named.
The scans and reads themselves are tested against a real S3 server in
``tests/test_objstore.py``."""

from __future__ import annotations

import pickle
from pathlib import Path

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
