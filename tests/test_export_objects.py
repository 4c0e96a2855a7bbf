"""Exports written to object storage (``export_catalog(..., "s3://bucket/prefix")``)
against the test suite's real moto S3 server: the catalogue opens with stock intake
from the bucket and every entry reads the source's values; the bag downloaded
validates (bagit-python, ro-crate-py, ome-zarr-models, as local exports are checked);
no credential is written; an interrupted export never looks complete and resumes
without writing again what is there; unreachable endpoint, missing bucket and denied
access are named, with nothing left that looks complete."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import intake
import numpy as np
import pytest
import xarray as xr

from catalog import open_catalog, verify
from catalog.cli import main
from catalog.errors import (
    BucketNotFound,
    ExportCancelled,
    ExportError,
    StorageAccessDenied,
    StorageUnreachable,
)
from catalog.export import export_catalog

from . import test_export as local_export
from .s3server import client, download, listed, secret_options, unreachable

pytestmark = pytest.mark.slow

# the lab drive and the index of the local export tests, and their checks
drive, index = local_export.drive, local_export.index
_check_manifests, _ids, _primary = (
    local_export._check_manifests,
    local_export._ids,
    local_export._primary,
)


def _versions(s3, bucket: str, prefix: str) -> dict[str, int]:
    """How many versions of each object there are (the bucket versioned)."""
    out: dict[str, int] = {}
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        for v in page.get("Versions", []):
            key = v["Key"][len(prefix) + 1 :]
            out[key] = out.get(key, 0) + 1
    return out


def _params(endpoint: str, bucket: str, prefix: str) -> dict:
    body = client(endpoint).get_object(Bucket=bucket, Key=f"{prefix}/.voxcat-export/params.json")
    return json.loads(body["Body"].read())


def _assert_entries_read_from_the_bucket(
    url: str, endpoint: str, index: Path, search: dict | None = None
) -> dict:
    """The exported catalogue, opened with stock intake from the bucket: every entry
    reads lazily the values voxcat reads from the source."""
    options = {"client_kwargs": {"endpoint_url": endpoint}}
    stock = intake.from_yaml_file(f"{url}/catalog.yaml", storage_options=options)
    cat = open_catalog(index).search(**(search or {}))
    assert sorted(stock) == sorted(cat)
    for ident in stock:
        got, want = stock[ident].read(), _primary(cat[ident].read())
        if isinstance(got, xr.Dataset):
            name = str(want.name)
            leaf = name.rpartition("/")[2]
            got = got[leaf if leaf in got else name.replace("/", "_")]
        assert got.shape == want.shape and got.dtype == want.dtype, ident
        assert got.chunks is not None, f"{ident} is not lazy"
        np.testing.assert_array_equal(got.values, want.values)
    return stock.metadata


def test_copy_to_a_bucket_opens_with_stock_intake_and_validates(
    index: Path, tmp_path: Path, s3_endpoint: str, s3_bucket: str, monkeypatch
) -> None:
    url = f"s3://{s3_bucket}/exports/rocks"
    options, secrets = secret_options(s3_endpoint)
    report = open_catalog(index).export(
        url, progress=False, license="CC-BY-4.0", storage_options=options
    )
    assert report.dest == url and report.uploaded > report.bytes > 0
    ids = _ids(index)
    how = {name: report.datasets[i]["how"] for name, i in ids.items()}
    assert how["vol.tif"] == how["big.tif"] == "reference (tifffile) to the TIFF"
    assert how["em.mrc"] == "converted to zarr"
    assert how["tomo.h5"].startswith("h5netcdf") and how["plain.zarr"] == "zarr (xarray)"
    assert "s3://" in str(report) and "storage_options" in str(report)
    meta = _assert_entries_read_from_the_bucket(url, s3_endpoint, index)
    assert meta["license"] == "CC-BY-4.0" and meta["mode"] == "copy"
    assert _params(s3_endpoint, s3_bucket, "exports/rocks")["complete"] is True

    local = tmp_path / "downloaded"
    sizes = download(s3_endpoint, s3_bucket, "exports/rocks", local)
    src = Path(open_catalog(index).df.loc[ids["vol.tif"], "path"])
    assert (local / "data" / ids["vol.tif"] / "vol.tif").read_bytes() == src.read_bytes()
    _check_manifests(local)  # bagit-python, ro-crate-py, ome-zarr-models; every sha256
    assert verify(local / "voxcat.duckdb", progress=False).ok  # the index's BLAKE3s
    assert sum(n for k, n in sizes.items() if k.startswith("data/")) > report.bytes
    stored = b"".join(p.read_bytes() for p in local.rglob("*") if p.is_file())
    stored += b"".join(p.read_bytes() for p in index.parent.glob("lab.duckdb*") if p.is_file())
    for value in secrets:
        assert value.encode() not in stored
    # downloaded, it is a folder export: its catalogue and index read there
    local_export._assert_entries_equal(local, index, monkeypatch)
    sub = open_catalog(local / "voxcat.duckdb")
    np.testing.assert_array_equal(
        sub[ids["vol.tif"]].read().values, open_catalog(index)[ids["vol.tif"]].read().values
    )


class _CancelAfter:
    """A cancel flag set once ``n`` datasets are finished (progress callback)."""

    def __init__(self, n: int) -> None:
        self.n, self.event = n, threading.Event()

    def __call__(self, p) -> None:
        if p.items >= self.n:
            self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()


def test_zarr_to_a_bucket_cancelled_never_looks_complete_and_resumes(
    index: Path, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    url = f"s3://{s3_bucket}/z"
    options = {"endpoint_url": s3_endpoint}
    s3 = client(s3_endpoint)  # versions show which objects were written more than once
    s3.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = _ids(index)
    cat = open_catalog(index)
    stop = _CancelAfter(2)
    with pytest.raises(ExportCancelled):
        export_catalog(cat, url, mode="zarr", progress=stop, cancel=stop, storage_options=options)
    keys = set(listed(s3_endpoint, s3_bucket, "z"))
    assert _params(s3_endpoint, s3_bucket, "z")["complete"] is False
    assert "bagit.txt" not in keys and "catalog.yaml" not in keys
    written = {k for k in keys if k.startswith("data/")}
    assert written  # the datasets converted before the cancel stay
    with pytest.raises(Exception):  # noqa: B017 - no catalogue to open yet
        intake.from_yaml_file(f"{url}/catalog.yaml", storage_options=options)

    before = _versions(s3, s3_bucket, "z")
    report = export_catalog(cat, url, mode="zarr", progress=False, storage_options=options)
    assert report.counts == {
        "zarr (OME-Zarr 0.4 + xarray levels)": 5,
        "zarr (group of its arrays)": 1,
    }
    # what the first run wrote was not written again
    after = _versions(s3, s3_bucket, "z")
    assert written and all(after[k] == before[k] for k in written)
    assert report.resumed_chunks == len(written)
    _assert_entries_read_from_the_bucket(url, s3_endpoint, index)
    local = tmp_path / "z"
    download(s3_endpoint, s3_bucket, "z", local)
    _check_manifests(local)  # before verify, which appends to the exported index's audit log
    assert verify(local / "voxcat.duckdb", progress=False).ok
    store = local / report.datasets[ids["big.tif"]]["path"]
    ms = json.loads((store / ".zattrs").read_text())["multiscales"][0]
    assert [d["path"] for d in ms["datasets"]] == ["0/image", "1/image", "2/image"]
    level1 = xr.open_zarr(
        f"{url}/{report.datasets[ids['big.tif']]['path']}",
        group="1",
        consolidated=False,
        storage_options={"endpoint_url": s3_endpoint},
    )["image"]
    assert level1.shape == (3, 300, 260)
    # a finished export run again writes only tag files that changed (the index)
    again = export_catalog(cat, url, mode="zarr", progress=False, storage_options=options)
    assert again.uploaded < report.uploaded and again.resumed_chunks == len(
        [k for k in after if k.startswith("data/")]
    )
    final = _versions(s3, s3_bucket, "z")
    rewritten = sorted(k for k in after if final[k] != after[k])
    assert rewritten and not [k for k in rewritten if k.startswith(("data/", "thumbnails/"))]
    assert _params(s3_endpoint, s3_bucket, "z")["complete"] is True


def test_refusals_and_storage_errors_leave_nothing_that_looks_complete(
    index: Path, tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    from .s3server import moto_server

    cat = open_catalog(index).search(format="tiff")
    here = {"endpoint_url": s3_endpoint}
    with pytest.raises(ExportError, match="no links"):
        cat.export(f"s3://{s3_bucket}/l", mode="link", storage_options=here)
    with pytest.raises(ExportError, match="storage_options are for exports to object"):
        cat.export(tmp_path / "folder", storage_options=here)
    dead = unreachable()
    with pytest.raises(StorageUnreachable, match=rf"s3://{s3_bucket}/e.*unreachable"):
        cat.export(f"s3://{s3_bucket}/e", storage_options=dead, progress=False)
    with pytest.raises(BucketNotFound, match=r"s3://no-such-bucket-voxcat/e.*no such bucket"):
        cat.export("s3://no-such-bucket-voxcat/e", storage_options=here, progress=False)
    with (
        moto_server(tmp_path / "auth.log", enforce_auth=True) as strict,
        pytest.raises(StorageAccessDenied, match=r"s3://.*access denied.*credentials"),
    ):
        cat.export(f"s3://{s3_bucket}/e", storage_options={"endpoint_url": strict})
    assert set(listed(s3_endpoint, s3_bucket, "e")) == set()
    client(s3_endpoint).put_object(Bucket=s3_bucket, Key="other/notes.txt", Body=b"mine")
    with pytest.raises(ExportError, match=r"not empty.*holds no voxcat export"):
        cat.export(f"s3://{s3_bucket}/other", storage_options=here, progress=False)
    assert set(listed(s3_endpoint, s3_bucket, "other")) == {"notes.txt"}


def test_the_cli_exports_to_a_bucket(
    index: Path, s3_endpoint: str, s3_bucket: str, capsys
) -> None:
    url = f"s3://{s3_bucket}/cli"
    argv = ["export", "--index", str(index), "--format", "tiff", url, "-q", "--json"]
    argv += ["--deep-verify", "--storage-option", f"endpoint_url={s3_endpoint}"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dest"] == url and out["uploaded"] > 0
    s3 = client(s3_endpoint)
    records = [
        json.loads(line)
        for key in set(listed(s3_endpoint, s3_bucket, "cli"))
        if key.startswith(".voxcat-export/journal/")
        for line in s3.get_object(Bucket=s3_bucket, Key=f"cli/{key}")["Body"].read().splitlines()
    ]
    journals = [k for k in set(listed(s3_endpoint, s3_bucket, "cli")) if "/journal/" in k]
    assert len(journals) == 1  # compacted once complete
    copies = [r for r in records if r["how"] == "copy"]
    assert len(copies) == out["files"] and {c["verified"] for c in copies} == {"reread"}
    folder = str(index.parent / "folder")
    code = main(["export", "--index", str(index), folder, "--storage-option", "anon=true"])
    assert code != 0 and "--storage-option is for URLs" in capsys.readouterr().err
    keys = set(listed(s3_endpoint, s3_bucket, "cli"))
    assert {"catalog.yaml", "bagit.txt", "manifest-sha256.txt", "voxcat.duckdb"} <= keys
    stock = intake.from_yaml_file(
        f"{url}/catalog.yaml", storage_options={"endpoint_url": s3_endpoint}
    )
    assert sorted(stock) == sorted(open_catalog(index).search(format="tiff"))
    # intake.open_catalog passes storage_options on the same way
    opened = intake.open_catalog(
        f"{url}/catalog.yaml", storage_options={"endpoint_url": s3_endpoint}
    )
    ident = sorted(opened)[0]
    want = open_catalog(index)[ident].read().values
    np.testing.assert_array_equal(np.asarray(opened[ident].read().values), want)


def test_a_file_changed_since_the_scan_is_never_uploaded(
    tmp_path: Path, rng: np.random.Generator, s3_endpoint: str, s3_bucket: str
) -> None:
    import tifffile

    from catalog import scan

    (tmp_path / "d").mkdir()
    data = rng.integers(0, 255, (2, 8, 8), np.uint8)
    tifffile.imwrite(tmp_path / "d" / "a.tif", data, photometric="minisblack")
    tifffile.imwrite(tmp_path / "d" / "b.tif", data, photometric="minisblack")
    scan(tmp_path / "d", tmp_path / "i.duckdb", jobs=1, progress=False, thumbnails=False)
    tifffile.imwrite(tmp_path / "d" / "b.tif", data[::-1], photometric="minisblack")
    with pytest.raises(ExportError, match="does not match the index"):
        export_catalog(
            open_catalog(tmp_path / "i.duckdb"),
            f"s3://{s3_bucket}/changed",
            progress=False,
            storage_options={"endpoint_url": s3_endpoint},
        )
    assert set(listed(s3_endpoint, s3_bucket, "changed")) == set()  # a new export: removed


def test_a_copy_cut_short_commits_no_partial_object_and_resumes(
    index: Path, s3_endpoint: str, s3_bucket: str, monkeypatch
) -> None:
    from catalog.export import objects

    url = f"s3://{s3_bucket}/cut"
    options = {"endpoint_url": s3_endpoint}
    s3 = client(s3_endpoint)
    s3.put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    cat = open_catalog(index).search(format="tiff")
    real = objects._Upload.write
    files: list = []

    def flaky(self, view):
        if self not in files:
            files.append(self)
        if self is not files[0]:  # Ctrl-C while any other file than the first is sent
            raise KeyboardInterrupt
        return real(self, view)

    monkeypatch.setattr(objects._Upload, "write", flaky)
    with pytest.raises(KeyboardInterrupt):
        export_catalog(cat, url, progress=False, storage_options=options)
    keys = set(listed(s3_endpoint, s3_bucket, "cut"))
    (first,) = {k for k in keys if k.startswith("data/")}  # those cut short: not committed
    assert "bagit.txt" not in keys and _params(s3_endpoint, s3_bucket, "cut")["complete"] is False
    monkeypatch.setattr(objects._Upload, "write", real)
    report = export_catalog(cat, url, progress=False, storage_options=options)
    assert report.resumed_files == 1 and _params(s3_endpoint, s3_bucket, "cut")["complete"]
    assert _versions(s3, s3_bucket, "cut")[first] == 1  # not sent again
    # the journals of both runs compacted into one, once complete
    assert len([k for k in set(listed(s3_endpoint, s3_bucket, "cut")) if "/journal/" in k]) == 1
    _assert_entries_read_from_the_bucket(url, s3_endpoint, index, search={"format": "tiff"})
    with pytest.raises(ExportError, match="other datasets or another mode"):
        export_catalog(cat, url, mode="zarr", progress=False, storage_options=options)
    assert _params(s3_endpoint, s3_bucket, "cut")["complete"] is True  # left as it was


def test_datasets_in_a_bucket_export_as_zarr_to_another_prefix(
    tmp_path: Path, rng: np.random.Generator, s3_endpoint: str, s3_bucket: str
) -> None:
    import tifffile

    from catalog import scan

    from .s3server import upload

    local = tmp_path / "lab"
    local.mkdir()
    volume = rng.integers(0, 4000, (3, 40, 30), np.uint16)
    tifffile.imwrite(local / "a.tif", volume, photometric="minisblack")
    upload(s3_endpoint, s3_bucket, local, "lab")
    options = {"endpoint_url": s3_endpoint}
    index = tmp_path / "lab.duckdb"
    scan(f"s3://{s3_bucket}/lab", index, storage_options=options, jobs=1, progress=False)
    url = f"s3://{s3_bucket}/shared/a"
    report = open_catalog(index).export(url, mode="zarr", storage_options=options)
    assert report.counts == {"zarr (OME-Zarr 0.4 + xarray levels)": 1}
    stock = intake.from_yaml_file(f"{url}/catalog.yaml", storage_options=options)
    (ident,) = list(stock)
    np.testing.assert_array_equal(stock[ident].read().values, volume)
