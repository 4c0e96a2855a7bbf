"""Scanning and reading datasets in object storage (``s3://``) against a real
S3-compatible server on 127.0.0.1 (moto's server mode, ``tests/s3server.py``).

Files are written with the real libraries (tifffile, zarr, h5py, xarray's NetCDF),
uploaded with boto3, scanned through s3fs, searched, read lazily and sliced; a counting
proxy in front of the server measures what each read fetched over the wire.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import xarray as xr
import zarr

from catalog import open_catalog, scan
from catalog.preview import Slicer
from catalog.readers import Source, get_reader
from catalog.scanner.checksum import file_checksum

from .conftest import q
from .s3server import CountingProxy, upload

pytestmark = pytest.mark.slow


def make_lab(root: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A lab folder of every format object storage must read, and two other files."""
    arrays: dict[str, np.ndarray] = {}
    # a tiled pyramidal OME-TIFF, 1024 x 1024 uint16 (2 MiB) in 128 x 128 tiles
    big = rng.integers(0, 4000, size=(1024, 1024), dtype=np.uint16)
    arrays["tiff"] = big
    (root / "ct").mkdir(parents=True)
    with tifffile.TiffWriter(root / "ct" / "pyr.ome.tif", ome=True) as tif:
        opts = {"tile": (128, 128), "compression": None}
        tif.write(
            big,
            subifds=1,
            metadata={"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5},
            **opts,
        )
        tif.write(big[::2, ::2], subfiletype=1, **opts)
    # OME-Zarr 0.5 (Zarr v3) with two levels, and a plain Zarr v2 array
    vol = rng.integers(0, 255, size=(16, 256, 256), dtype=np.uint8)
    arrays["omezarr"] = vol
    group = zarr.open_group(root / "em" / "cells.ome.zarr", mode="w", zarr_format=3)
    for level, data in enumerate((vol, vol[:, ::2, ::2])):
        arr = group.create_array(
            str(level), shape=data.shape, dtype=data.dtype, chunks=(4, 64, 64)
        )
        arr[:] = data
    axes = [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "axes": axes,
                "datasets": [
                    {
                        "path": str(k),
                        "coordinateTransformations": [
                            {"type": "scale", "scale": [1.0, 0.2 * 2**k, 0.2 * 2**k]}
                        ],
                    }
                    for k in range(2)
                ],
            }
        ],
    }
    plain = rng.normal(size=(128, 128)).astype(np.float32)
    arrays["zarr2"] = plain
    z2 = zarr.open_array(
        root / "em" / "plain.zarr",
        mode="w",
        shape=plain.shape,
        dtype=plain.dtype,
        chunks=(32, 32),
        zarr_format=2,
    )
    z2[:] = plain
    # HDF5 (DXchange layout) and NetCDF4, chunked
    tomo = rng.integers(0, 60000, size=(16, 256, 256), dtype=np.uint16)
    arrays["hdf5"] = tomo
    (root / "tomo").mkdir()
    with h5py.File(root / "tomo" / "recon.h5", "w") as f:
        f.create_dataset("exchange/data", data=tomo, chunks=(1, 64, 64))
    density = rng.random((8, 128, 128)).astype(np.float32)
    arrays["netcdf"] = density
    ds = xr.Dataset({"density": (("z", "y", "x"), density)})
    ds.to_netcdf(
        root / "tomo" / "density.nc",
        engine="h5netcdf",
        encoding={"density": {"chunksizes": (1, 32, 32)}},
    )
    # a file no reader claims, and a format read from local files only (MRC)
    (root / "misc").mkdir()
    (root / "misc" / "readme.txt").write_text("sample notes\n")
    import mrcfile

    with mrcfile.new(root / "misc" / "map.mrc") as mrc:
        mrc.set_data(rng.integers(0, 100, size=(4, 16, 16), dtype=np.int16))
    return arrays


@pytest.fixture
def lab(tmp_path: Path, rng: np.random.Generator, s3_endpoint: str, s3_bucket: str):
    local = tmp_path / "lab"
    arrays = make_lab(local, rng)
    upload(s3_endpoint, s3_bucket, local, "lab")
    return local, arrays


def _by_name(index: Path) -> dict[str, dict]:
    """Every dataset row of the index by name (as stored)."""
    import duckdb

    con = duckdb.connect(str(index), read_only=True)
    try:
        cur = con.execute("SELECT * FROM datasets")
        names = [c[0] for c in cur.description]
        return {r[names.index("name")]: dict(zip(names, r)) for r in cur.fetchall()}
    finally:
        con.close()


def test_scan_search_and_lazy_reads_of_objects(
    tmp_path: Path, lab, s3_bucket: str, s3_proxy: CountingProxy
) -> None:
    local, arrays = lab
    index = tmp_path / "lab.duckdb"
    options = {"endpoint_url": s3_proxy.endpoint}
    url = f"s3://{s3_bucket}/lab"
    report = scan(url, index, storage_options=options, jobs=1, progress=False)
    assert report.counts["failed"] == 0, report.failed
    assert (report.counts["datasets"], report.counts["files"]) == (5, 2)

    rows = _by_name(index)
    expected = {
        "pyr.ome.tif": ("tiff", "ct/pyr.ome.tif"),
        "cells.ome.zarr": ("zarr", "em/cells.ome.zarr"),
        "plain.zarr": ("zarr", "em/plain.zarr"),
        "recon.h5": ("hdf5", "tomo/recon.h5"),
        "density.nc": ("netcdf", "tomo/density.nc"),
    }
    for name, (reader, rel) in expected.items():
        row = rows[name]
        assert row["reader"] == reader and row["status"] == "ok", row
        assert row["path"] == f"{url}/{rel}"
        assert row["thumbnail"], f"{name} has no thumbnail"
    # content checksums of the objects are those of the local files they were made from
    for name in ("pyr.ome.tif", "recon.h5", "density.nc"):
        assert rows[name]["checksum"] == file_checksum(local / expected[name][1])
    assert tuple(rows["pyr.ome.tif"]["shape"]) == (1024, 1024)
    assert rows["pyr.ome.tif"]["levels"] == 2
    assert rows["pyr.ome.tif"]["voxel_size_x"] == pytest.approx(0.5e-6)
    assert rows["cells.ome.zarr"]["levels"] == 2
    assert rows["cells.ome.zarr"]["voxel_size_y"] == pytest.approx(0.2e-6)
    assert tuple(rows["recon.h5"]["shape"]) == (16, 256, 256)
    # the MRC map is indexed as a file, with the reason
    mrc = rows["map.mrc"]
    assert mrc["kind"] == "file" and mrc["checksum"] == file_checksum(local / "misc/map.mrc")
    assert any("cannot read from object storage" in w for w in mrc["warnings"])
    assert rows["readme.txt"]["kind"] == "file"
    # every file row has its ETag; the settings keep the endpoint, no credentials
    etags = q(index, "SELECT count(*), count(etag) FROM files WHERE starts_with(path, 's3://')")
    assert etags[0][0] == etags[0][1] > 0
    stored = q(index, "SELECT value FROM settings WHERE key = ?", [f"storage:{url}"])
    assert s3_proxy.endpoint in stored[0][0]

    # search finds them like files
    cat = open_catalog(index)
    hits = cat.search("cells")
    assert list(hits.df["name"]) == ["cells.ome.zarr"]

    # lazy reads: only the chunks a slice needs are fetched
    ids = {n: rows[n]["id"] for n in expected}
    tif_size = (local / "ct/pyr.ome.tif").stat().st_size
    s3_proxy.reset()
    da = cat[ids["pyr.ome.tif"]].read()
    assert da.chunks is not None
    opened = s3_proxy.bytes_for(f"{s3_bucket}/lab/ct/pyr.ome.tif")
    window = da[256:384, 512:640].values  # one 128 x 128 tile
    fetched = s3_proxy.bytes_for(f"{s3_bucket}/lab/ct/pyr.ome.tif") - opened
    np.testing.assert_array_equal(window, arrays["tiff"][256:384, 512:640])
    assert opened < tif_size / 10, (opened, tif_size)
    assert fetched < tif_size / 10, (fetched, tif_size)
    print(f"TIFF: opened {opened} B, one tile {fetched} B of {tif_size} B")
    s3_proxy.reset()  # the file stays open: another 32 KiB tile costs about its bytes
    np.testing.assert_array_equal(da[0:128, 0:128].values, arrays["tiff"][0:128, 0:128])
    another = s3_proxy.bytes_for(f"{s3_bucket}/lab/ct/pyr.ome.tif")
    assert another <= 3 * 32768, another
    print(f"TIFF: another tile {another} B")

    s3_proxy.reset()
    za = cat[ids["cells.ome.zarr"]].read()
    part = za[0, :64, :64].values
    np.testing.assert_array_equal(part, arrays["omezarr"][0, :64, :64])
    zarr_bytes = s3_proxy.bytes_for(f"{s3_bucket}/lab/em/cells.ome.zarr/0/")
    assert zarr_bytes <= 4 * 64 * 64 * 2, zarr_bytes  # one chunk (compressed), not 16 of them
    chunks = {k for k in s3_proxy.requests if "/cells.ome.zarr/0/c/" in k}
    assert chunks == {f"{s3_bucket}/lab/em/cells.ome.zarr/0/c/0/0/0"}  # one of 16 chunks
    print(f"OME-Zarr: {zarr_bytes} B for one chunk of a {arrays['omezarr'].nbytes} B level")

    for name, key, sel in (
        ("recon.h5", "hdf5", (3, slice(0, 64), slice(64, 128))),
        ("density.nc", "netcdf", (2, slice(0, 32), slice(0, 32))),
    ):
        size = (local / expected[name][1]).stat().st_size
        s3_proxy.reset()
        obj = cat[ids[name]].read()
        arr = obj[obj.attrs["primary"]] if isinstance(obj, xr.Dataset) else obj
        np.testing.assert_array_equal(arr[sel].values, arrays[key][sel])
        got = s3_proxy.bytes_for(f"{s3_bucket}/lab/{expected[name][1]}")
        assert got < size / 4, (name, got, size)
        print(f"{name}: opened and read one chunk with {got} B of {size} B")
        if key == "hdf5":  # the file stays open: one more chunk costs about its bytes
            s3_proxy.reset()
            np.testing.assert_array_equal(arr[9, 64:128, :64].values, arrays[key][9, 64:128, :64])
            more = s3_proxy.bytes_for(f"{s3_bucket}/lab/{expected[name][1]}")
            assert more <= 4 * 32768, more  # an 8 KiB chunk and its index, in 32 KiB ranges
            print(f"{name}: one more chunk: {more} B")

    # the Slicer (the viewers' and the sidebar's planes) reads them too
    s = Slicer(index, ids["pyr.ome.tif"])
    plane = s.plane(("y", "x"), max_size=256)
    assert plane.shape == (256, 256)
    s = Slicer(index, ids["recon.h5"])
    plane = s.plane(("y", "x"), at={"z": 5})
    np.testing.assert_array_equal(plane.values, arrays["hdf5"][5])

    # the REST route behind the sidebar's and the web app's slice.png (the same function)
    import io

    from PIL import Image

    from catalog.service import images

    req = images.slice_request({"dims": ["y", "x"], "z": ["3"], "size": ["128"]})
    out = images.slice_png(index, None, ids["cells.ome.zarr"], req)
    assert Image.open(io.BytesIO(out.png)).size == (128, 128)

    # a preview pyramid of a dataset in storage is built from it (into the local cache)
    from catalog.preview import ensure_preview

    built = ensure_preview(index, ids["recon.h5"], min_bytes=0, target=64)
    assert built is not None and built.is_dir()
    s = Slicer(index, ids["recon.h5"])
    assert s.source == "preview" and len(s.levels) > 1
    np.testing.assert_array_equal(s.plane(("y", "x"), at={"z": 5}).values, arrays["hdf5"][5])

    # a describe alone reads headers, not whole objects
    s3_proxy.reset()
    src = Source.at(f"{url}/ct/pyr.ome.tif", storage_options=options)
    get_reader("tiff").describe(src)
    header = s3_proxy.bytes_for(f"{s3_bucket}/lab/ct/pyr.ome.tif")
    assert header < tif_size / 10, header
    print(f"TIFF describe: {header} B of {tif_size} B")


def _tiffs(root: Path, rng: np.random.Generator, names: tuple[str, ...]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        tifffile.imwrite(root / name, rng.integers(0, 255, (64, 64), dtype=np.uint8))


def test_rescan_skips_unchanged_objects_and_rereads_changed_ones(
    tmp_path: Path, rng: np.random.Generator, s3_endpoint: str, s3_bucket: str, s3_proxy
) -> None:
    local = tmp_path / "lab"
    _tiffs(local, rng, ("a.tif", "b.tif", "c.tif"))
    upload(s3_endpoint, s3_bucket, local, "lab")
    upload(s3_endpoint, s3_bucket, local / "a.tif", "lab2")  # a sibling prefix: not scanned
    index = tmp_path / "lab.duckdb"
    url = f"s3://{s3_bucket}/lab"
    # two worker processes: what they read goes through the same storage options
    first = scan(url, index, storage_options={"endpoint_url": s3_proxy.endpoint}, jobs=2)
    assert first.counts["added"] == 3, (first.counts, first.failed, first.issues)
    ids = dict(q(index, "SELECT name, id FROM datasets"))

    # unchanged: the listing is all that is fetched (the storage options come from the index)
    s3_proxy.reset()
    again = scan(url, index, jobs=1, progress=False)
    assert (again.counts["unchanged"], again.counts["added"], again.counts["changed"]) == (3, 0, 0)
    assert s3_proxy.bytes_for(f"{s3_bucket}/lab/") == 0
    assert s3_proxy.requests_for(s3_bucket) >= 1  # the listing went through the proxy

    # one object rewritten, one deleted
    tifffile.imwrite(local / "b.tif", rng.integers(0, 255, (32, 32), dtype=np.uint8))
    upload(s3_endpoint, s3_bucket, local / "b.tif", "lab")
    from .s3server import client

    client(s3_endpoint).delete_object(Bucket=s3_bucket, Key="lab/c.tif")
    # voxcat verify hashes the objects again and names what changed
    from catalog.integrity import verify

    checked = verify(index, progress=False)
    outcomes = {r["name"]: r["outcome"] for r in checked.results.values()}
    assert outcomes == {"a.tif": "unchanged", "b.tif": "modified", "c.tif": "missing"}
    s3_proxy.reset()
    third = scan(url, index, jobs=1, progress=False)
    c = third.counts
    assert (c["unchanged"], c["changed"], c["missing"], c["added"]) == (1, 1, 1, 0)
    assert s3_proxy.bytes_for(f"{s3_bucket}/lab/a.tif") == 0
    rows = _by_name(index)
    assert rows["b.tif"]["id"] == ids["b.tif"] and tuple(rows["b.tif"]["shape"]) == (32, 32)
    assert rows["b.tif"]["checksum"] == file_checksum(local / "b.tif")
    assert rows["c.tif"]["status"] == "missing"
    # a lost thumbnail of an unchanged object is drawn again by the next scan
    from catalog.index import cache_dir

    thumb = cache_dir(index) / rows["a.tif"]["thumbnail"]
    thumb.unlink()
    fourth = scan(url, index, jobs=1, progress=False)
    assert fourth.counts["unchanged"] == 2 and fourth.thumbnails["redrawn"] == 1
    assert thumb.is_file()
    etag = q(index, "SELECT etag FROM files WHERE path = ?", [f"{url}/b.tif"])[0][0]
    head = client(s3_endpoint).head_object(Bucket=s3_bucket, Key="lab/b.tif")
    assert etag == head["ETag"].strip('"')


def test_no_credential_reaches_the_index(
    tmp_path: Path, rng: np.random.Generator, s3_endpoint: str, s3_bucket: str
) -> None:
    from .s3server import secret_options

    local = tmp_path / "lab"
    _tiffs(local, rng, ("a.tif",))
    upload(s3_endpoint, s3_bucket, local, "lab")
    options, secrets = secret_options(s3_endpoint)
    options["client_kwargs"] = {"aws_session_token": options["token"]}
    index = tmp_path / "lab.duckdb"
    report = scan(f"s3://{s3_bucket}/lab", index, storage_options=options, jobs=1)
    assert report.counts["added"] == 1
    cat = open_catalog(index)
    (ident,) = list(cat)
    assert cat[ident].read().shape == (64, 64)  # read with the environment's credentials
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("lab.duckdb*") if p.is_file())
    for value in secrets:
        assert value.encode() not in stored
    assert s3_endpoint.encode() in stored  # what is not a secret is kept
    # exports do not copy objects yet: refused with the cause, nothing written
    from catalog.errors import ExportError

    with pytest.raises(ExportError, match=r"in object storage \(s3://\).*mode='zarr'"):
        cat.export(tmp_path / "export")
    assert not (tmp_path / "export").exists()
    # a Zarr export converts what the reader reads from the objects
    import intake

    out = cat.export(tmp_path / "zexport", mode="zarr")
    assert list(out.counts.values()) == [1]
    stock = intake.open_catalog(str(tmp_path / "zexport" / "catalog.yaml"))
    (entry,) = list(stock)
    exported = stock[entry].read()
    image = (
        exported if isinstance(exported, xr.DataArray) else next(iter(exported.data_vars.values()))
    )
    np.testing.assert_array_equal(np.squeeze(image.values), cat[ident].read().values)


def test_cli_scans_a_bucket_with_storage_options_and_aws_endpoint_url(
    tmp_path: Path,
    rng: np.random.Generator,
    s3_endpoint: str,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from catalog.cli import main

    local = tmp_path / "lab"
    _tiffs(local, rng, ("a.tif", "b.tif"))
    upload(s3_endpoint, s3_bucket, local, "lab")
    index = tmp_path / "lab.duckdb"
    url = f"s3://{s3_bucket}/lab"
    argv = ["scan", url, "--index", str(index), "--quiet", "--no-thumbnails", "--jobs", "1"]
    assert main([*argv, "--storage-option", f"endpoint_url={s3_endpoint}"]) == 0
    assert url in capsys.readouterr().out
    assert len(open_catalog(index)) == 2
    assert main([*argv, "--storage-option", "endpoint_url"]) == 1
    assert "voxcat: error: --storage-option 'endpoint_url'" in capsys.readouterr().err
    # botocore's own AWS_ENDPOINT_URL works without any option
    other = tmp_path / "env.duckdb"
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    argv[3] = str(other)
    assert main(argv) == 0
    assert len(open_catalog(other)) == 2


class _ChangeOnFirstCheck:
    """A ``cancel`` flag that, when the scan first asks it (right after the listing),
    rewrites one object: the scan then reads an object whose ETag is not the listed one."""

    def __init__(self, action) -> None:
        self.action, self.done = action, False

    def is_set(self) -> bool:
        if not self.done:
            self.done = True
            self.action()
        return False


def test_an_object_changed_during_a_scan_fails_alone_and_is_read_again(
    tmp_path: Path, rng: np.random.Generator, s3_endpoint: str, s3_bucket: str
) -> None:
    local = tmp_path / "lab"
    _tiffs(local, rng, ("a.tif", "b.tif"))
    upload(s3_endpoint, s3_bucket, local, "lab")
    index = tmp_path / "lab.duckdb"
    url = f"s3://{s3_bucket}/lab"

    def rewrite() -> None:
        tifffile.imwrite(local / "b.tif", rng.integers(0, 255, (16, 16), dtype=np.uint8))
        upload(s3_endpoint, s3_bucket, local / "b.tif", "lab")

    options = {"endpoint_url": s3_endpoint}
    report = scan(url, index, storage_options=options, jobs=1, cancel=_ChangeOnFirstCheck(rewrite))
    assert report.counts["added"] == 1 and report.counts["failed"] == 1
    rows = _by_name(index)
    assert rows["a.tif"]["status"] == "ok"
    assert rows["b.tif"]["status"] == "failed"
    assert "the object changed during the scan" in rows["b.tif"]["error"]
    assert f"{url}/b.tif" in rows["b.tif"]["error"]
    again = scan(url, index, jobs=1)
    assert again.counts["unchanged"] == 1 and again.counts["changed"] == 1
    rows = _by_name(index)
    assert rows["b.tif"]["status"] == "ok" and tuple(rows["b.tif"]["shape"]) == (16, 16)
    assert rows["b.tif"]["checksum"] == file_checksum(local / "b.tif")


def test_unreachable_endpoint_missing_bucket_and_denied_access(
    tmp_path: Path, rng: np.random.Generator, s3_endpoint: str, s3_bucket: str
) -> None:
    from catalog.errors import BucketNotFound, StorageAccessDenied, StorageUnreachable

    from .s3server import moto_server, unreachable

    local = tmp_path / "lab"
    _tiffs(local, rng, ("a.tif",))
    upload(s3_endpoint, s3_bucket, local, "lab")
    index = tmp_path / "lab.duckdb"
    url = f"s3://{s3_bucket}/lab"
    scan(url, index, storage_options={"endpoint_url": s3_endpoint}, jobs=1)
    before = q(index, "SELECT id, status, checksum FROM datasets")

    dead = unreachable()
    with pytest.raises(StorageUnreachable, match=r"unreachable.*endpoint_url"):
        scan(url, index, storage_options=dead, jobs=1)
    with pytest.raises(BucketNotFound, match=r"no-such-bucket-voxcat.*no such bucket"):
        scan(
            "s3://no-such-bucket-voxcat/lab", index, storage_options={"endpoint_url": s3_endpoint}
        )
    with pytest.raises(BucketNotFound, match="no objects under this prefix"):
        scan(
            f"s3://{s3_bucket}/nothing-here", index, storage_options={"endpoint_url": s3_endpoint}
        )
    with (
        moto_server(tmp_path / "auth.log", enforce_auth=True) as strict,
        pytest.raises(StorageAccessDenied, match=r"access denied.*credentials"),
    ):
        scan(url, index, storage_options={"endpoint_url": strict}, jobs=1)
    # nothing lost: the indexed rows are as they were, the failed scans are recorded
    assert q(index, "SELECT id, status, checksum FROM datasets") == before
    statuses = [r[0] for r in q(index, "SELECT status FROM scans ORDER BY scan_id")]
    assert statuses[0] == "done" and set(statuses[1:]) == {"interrupted"}


def test_a_scan_of_objects_on_a_dask_cluster_is_the_scan_here(
    tmp_path: Path, lab, s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import distributed

    from catalog.index import cache_dir

    repo = Path(__file__).resolve().parents[1]
    # the worker processes import this checkout and reach the server with the test
    # credentials of the environment (the options given carry only the endpoint)
    monkeypatch.setenv("PYTHONPATH", str(repo))
    url = f"s3://{s3_bucket}/lab"
    options = {"endpoint_url": s3_endpoint}
    here, there = tmp_path / "here.duckdb", tmp_path / "there.duckdb"
    scan(url, here, storage_options=options, jobs=1, progress=False)
    seen: list = []
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        report = scan(
            url,
            there,
            storage_options=options,
            progress=seen.append,
            scheduler=cluster.scheduler_address,
        )
        assert seen[-1].extra["scheduler"] == cluster.scheduler_address
        assert seen[-1].extra["dashboard"].startswith("http://")
        a, b = _by_name(here), _by_name(there)
        assert report.counts["added"] == len(a) and set(a) == set(b)
        for name in a:
            for col in ("path", "shape", "dtype", "checksum", "status", "reader", "spacing"):
                assert a[name][col] == b[name][col], (name, col)
            if a[name]["thumbnail"]:
                drawn = (cache_dir(there) / b[name]["thumbnail"]).read_bytes()
                assert drawn == (cache_dir(here) / a[name]["thumbnail"]).read_bytes(), name
        # a lost thumbnail is drawn again on the cluster by the next scan
        name = next(n for n in b if b[n]["thumbnail"])
        (cache_dir(there) / b[name]["thumbnail"]).unlink()
        again = scan(url, there, progress=False, scheduler=cluster.scheduler_address)
        assert again.thumbnails["redrawn"] == 1 and again.counts["unchanged"] == len(b)
        assert (cache_dir(there) / b[name]["thumbnail"]).is_file()


def test_a_local_copy_of_an_object_is_another_location_not_its_move(
    tmp_path: Path, rng: np.random.Generator, s3_endpoint: str, s3_bucket: str
) -> None:
    local = tmp_path / "copy"
    _tiffs(local, rng, ("a.tif",))
    upload(s3_endpoint, s3_bucket, local, "lab")
    index = tmp_path / "lab.duckdb"
    url = f"s3://{s3_bucket}/lab"
    scan(url, index, storage_options={"endpoint_url": s3_endpoint}, jobs=1, progress=False)
    # the object is still there: the same bytes on a drive are a replica of it
    # (object storage and a drive are two places: catalog/replicas.py)
    report = scan(local, index, jobs=1, progress=False)
    assert (report.counts["added"], report.counts["moved"], report.replicas) == (0, 0, 1)
    assert q(index, "SELECT path, copies FROM datasets") == [(f"{url}/a.tif", 2)]
    assert sorted(p for (p,) in q(index, "SELECT path FROM locations")) == sorted(
        [f"{url}/a.tif", str(local / "a.tif")]
    )
