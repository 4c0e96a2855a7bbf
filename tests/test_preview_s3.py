"""Preview pyramids kept in object storage, against a real S3-compatible server on
127.0.0.1 (moto's server mode, ``tests/s3server.py``): the pyramid in the bucket is
the local one, a slice fetches a few byte ranges (measured by a counting proxy), a
killed build is never used and is cleaned up, storage errors name the URL and leave
the index as it was, and builds on a Dask cluster write straight to the bucket."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr
from ome_zarr_models import open_ome_zarr

from catalog import open_catalog, scan
from catalog.cli import main
from catalog.errors import BucketNotFound, StorageAccessDenied, StorageUnreachable
from catalog.index.audit import list_audit
from catalog.preview import Slicer, ensure_preview, find_preview, prune_previews
from catalog.preview.batch import build_previews
from catalog.preview.place import LOCATION_KEY, preview_place, set_preview_location
from catalog.remote import Storage

from .conftest import q
from .killing import kill_at
from .s3server import TEST_CREDENTIALS, client, listed, moto_server, unreachable

pytestmark = pytest.mark.slow

SHAPE = (128, 160, 192)  # uint16: 7.5 MiB; 64³ chunks, levels down to 32 pixels
TARGET = 32

BUILD = """
import sys
from catalog.preview import ensure_preview
ensure_preview(sys.argv[1], sys.argv[2], min_bytes=0, target=32, block_bytes=1 << 18)
"""


def _lab(tmp_path: Path, shape: tuple[int, ...] = SHAPE, seed: int = 11) -> dict[str, Any]:
    """A volume TIFF scanned into one index, and a copy of that index (its own previews)."""
    drive = tmp_path / "drive"
    drive.mkdir()
    vol = np.random.default_rng(seed).integers(0, 4000, shape, dtype=np.uint16)
    tifffile.imwrite(drive / "vol.tif", vol)
    here = tmp_path / "here.duckdb"
    scan(drive, here, jobs=1, progress=False)
    there = tmp_path / "there.duckdb"
    shutil.copy(here, there)
    [ident] = list(open_catalog(here))
    return {"drive": drive, "vol": vol, "here": here, "there": there, "id": ident}


def _opts(endpoint: str) -> dict[str, Any]:
    return {"endpoint_url": endpoint}


def _levels(group: Any) -> tuple[list[Any], dict[str, Any]]:
    """The arrays a preview's ``multiscales`` names, level 0 first, and its attributes."""
    attrs = dict(group.attrs)
    paths = [ds["path"] for ds in attrs["multiscales"][0]["datasets"]]
    return [group[p] for p in paths], attrs


def _remote_group(endpoint: str, url: str) -> Any:
    store = Storage.of("s3", _opts(endpoint)).zarr_store(url.split("://", 1)[1])
    return zarr.open_group(store=store, mode="r", zarr_format=2)


def _index_state(index: Path) -> list:
    """What a failed storage operation must leave as it was."""
    tables = {r[0] for r in q(index, "SELECT table_name FROM information_schema.tables")}
    previews = q(index, "SELECT * FROM previews ORDER BY path") if "previews" in tables else []
    return [
        q(index, "SELECT key, value FROM settings ORDER BY key"),
        previews,
        len(list_audit(index, limit=0)),
    ]


def test_a_pyramid_in_the_bucket_is_the_local_one(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    lab = _lab(tmp_path)
    t0 = time.perf_counter()
    local = ensure_preview(lab["here"], lab["id"], min_bytes=0, target=TARGET)
    t_local = time.perf_counter() - t0
    url = f"s3://{s3_bucket}/previews"
    secret = {"key": TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"]}
    secret["secret"] = TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    place = set_preview_location(
        lab["there"], url, storage_options={**_opts(s3_endpoint), **secret}
    )
    assert place.where == url
    t0 = time.perf_counter()
    remote = ensure_preview(lab["there"], lab["id"], min_bytes=0, target=TARGET)
    t_s3 = time.perf_counter() - t0
    print(f"\npreview build of {SHAPE} uint16: local {t_local:.2f} s, s3 (moto) {t_s3:.2f} s")
    assert (
        isinstance(remote, str) and remote.startswith(url + "/") and remote.endswith(".ome.zarr")
    )
    assert find_preview(lab["there"], lab["id"]) == remote
    assert not (tmp_path / "there.voxcat" / "previews").exists()  # nothing staged here
    # the same levels, chunks and values; the same attributes but where it came from
    mine, attrs_a = _levels(zarr.open_group(str(local), mode="r"))
    theirs, attrs_b = _levels(_remote_group(s3_endpoint, remote))
    open_ome_zarr(_remote_group(s3_endpoint, remote))  # a valid OME-Zarr image in the bucket
    assert len(mine) == len(theirs) >= 3
    for a, b in zip(mine, theirs):
        assert a.shape == b.shape and a.dtype == b.dtype and a.chunks == b.chunks
        assert np.array_equal(a[:], b[:])
    for attrs in (attrs_a, attrs_b):
        for name in ("created", "dataset_id", "source"):
            attrs["voxcat"].pop(name)
        for ds in attrs["multiscales"][0]["datasets"]:
            ds["path"] = ds["path"].rsplit("/", 1)[-1]
    assert attrs_a == attrs_b
    # the index keeps the place and the endpoint, never the credentials
    (value,) = q(lab["there"], "SELECT value FROM settings WHERE key = ?", [LOCATION_KEY])[0]
    assert json.loads(value) == {
        "url": url,
        "storage_options": {"client_kwargs": {"endpoint_url": s3_endpoint}},
    }
    everything = json.dumps(q(lab["there"], "SELECT * FROM settings"))
    everything += json.dumps(q(lab["there"], "SELECT * FROM previews"), default=str)
    assert secret["secret"] not in everything and secret["key"] not in everything
    assert q(lab["there"], "SELECT path FROM previews") == [(remote,)]
    # the slicer reads the bucket's levels: the same planes as the local preview
    s, here = Slicer(lab["there"], lab["id"]), Slicer(lab["here"], lab["id"])
    assert s.source == here.source == "preview" and s.preview == remote
    assert s.levels == here.levels
    for dims, at in ((("y", "x"), {"z": 70}), (("z", "x"), {"y": 33}), (("z", "y"), {"x": 5})):
        for max_size in (None, 64, 32):
            got, want = s.plane(dims, at=at, max_size=max_size), here.plane(dims, at, max_size)
            assert got.attrs["level"] == want.attrs["level"]
            np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(s.plane(("y", "x"), {"z": 70}, None).values, lab["vol"][70])
    assert s.contrast() == here.contrast()
    # a second build finds it: nothing is written again
    report = build_previews(lab["there"], min_bytes=0)
    assert report.counts["current"] == 1 and report.where == url
    objects = listed(s3_endpoint, s3_bucket)
    assert report.bytes_on_disk == sum(n for key, n in objects.items() if ".build/" in key)


def test_a_slice_fetches_only_byte_ranges_of_the_chunks_in_view(
    tmp_path: Path, s3_proxy: Any, s3_bucket: str
) -> None:
    lab = _lab(tmp_path)
    index = lab["there"]
    set_preview_location(index, f"s3://{s3_bucket}/p", storage_options=_opts(s3_proxy.endpoint))
    url = ensure_preview(index, lab["id"], min_bytes=0, target=TARGET)
    key = str(url).split("://", 1)[1].split("/", 1)[1]
    s = Slicer(index, lab["id"])
    assert s.source == "preview"
    stored = 2 * 3 * 3 * 64**3 * 2  # level 0 in the bucket: 18 chunks of 512 KiB
    s3_proxy.reset()
    plane = s.plane(("y", "x"), at={"z": 70}, max_size=None)  # level 0: 3 x 3 chunks of 64³
    np.testing.assert_array_equal(plane.values, lab["vol"][70])
    fetched = s3_proxy.bytes_for(f"{s3_bucket}/{key}")
    layer = 160 * 192 * 2  # the plane itself: one 8 KiB layer of each of the 9 chunks
    print(f"\nz plane of {SHAPE}: {fetched} bytes fetched ({layer} shown, level 0 {stored})")
    assert layer <= fetched <= layer + 8192  # plus the level's .zarray
    assert fetched < stored / 100
    # one range request per chunk, and the level's metadata (a HEAD and a GET)
    assert s3_proxy.requests_for(f"{s3_bucket}/{key}") <= 9 + 2
    s3_proxy.reset()
    s.region(y=(0, 64), x=(0, 64), at={"z": 3}, max_size=None)  # one chunk, one layer
    assert s3_proxy.bytes_for(f"{s3_bucket}/{key}") == 64 * 64 * 2
    # the slice images of the REST API and the web app read the same way
    from catalog.service.images import SliceRequest, slice_png

    s3_proxy.reset()
    got = slice_png(index, None, lab["id"], SliceRequest(dims=("z", "x"), at={"y": 80}, size=64))
    assert got.source == "preview" and got.level == 1 and got.png.startswith(b"\x89PNG")
    # level 1 is (64, 80, 96): 1 x 2 x 2 chunks of 64³; an xz plane crosses 2 of them
    # and needs a row of each layer: one range from the first row to the last, about
    # the chunk (one request each: S3 has no multi-range GET)
    fetched = s3_proxy.bytes_for(f"{s3_bucket}/{key}")
    chunk = 64**3 * 2
    print(f"xz plane of level 1 (64, 80, 96): {fetched} bytes fetched of {4 * chunk}")
    assert chunk < fetched <= 2 * chunk + 8192
    # those chunks are kept whole: the next slider steps through them fetch nothing
    s3_proxy.reset()
    for y in (82, 90, 126):
        req = SliceRequest(dims=("z", "x"), at={"y": y}, size=64)
        assert slice_png(index, None, lab["id"], req).level == 1
    assert s3_proxy.bytes_for(f"{s3_bucket}/{key}") == 0


def test_a_killed_build_is_never_used_and_is_cleaned_up(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    lab = _lab(tmp_path)
    index, ident = lab["there"], lab["id"]
    set_preview_location(index, f"s3://{s3_bucket}/p", storage_options=_opts(s3_endpoint))
    kill_at(BUILD, "preview.level", index, ident)  # killed after level 0 was written
    left = sorted(listed(s3_endpoint, s3_bucket))
    assert any("/0/" in k for k in left) and not any(k.endswith("ome.zarr/.zattrs") for k in left)
    assert find_preview(index, ident) is None
    assert Slicer(index, ident).source == "original"
    report = build_previews(index, min_bytes=0, dry_run=True)
    assert report.counts["would build"] == 1 and report.bytes_on_disk == 0
    url = ensure_preview(index, ident, min_bytes=0, target=TARGET)
    now = sorted(listed(s3_endpoint, s3_bucket))
    builds = {k.split("/")[2] for k in now if k.split("/")[2].endswith(".build")}
    assert len(builds) == 1 and not set(left) & set(now)  # the killed build is gone
    (built,) = list_audit(index, action="preview.built", limit=0)
    (gone,) = built["detail"]["removed"]
    assert gone.startswith(f"{url}/b.") and gone.endswith(".build")
    assert Slicer(index, ident).source == "preview"
    # a rescan of changed data: prune removes the old preview's objects
    vol = lab["vol"].copy()
    vol[0, 0, 0] += 1
    tifffile.imwrite(lab["drive"] / "vol.tif", vol)
    scan(lab["drive"], index, jobs=1, progress=False)
    assert prune_previews(index) == [url]
    assert sorted(listed(s3_endpoint, s3_bucket)) == []
    assert q(index, "SELECT count(*) FROM previews") == [(0,)]


def test_storage_errors_name_the_url_and_leave_the_index_as_it_was(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    lab = _lab(tmp_path, (64, 64, 64))
    index = lab["there"]
    before = _index_state(index)
    dead = unreachable()
    url = f"s3://{s3_bucket}/p"
    with pytest.raises(StorageUnreachable, match=rf"{url}: .*unreachable.*endpoint_url"):
        set_preview_location(index, url, storage_options=dead)
    with pytest.raises(BucketNotFound, match=r"s3://no-such-bucket-voxcat/p: no such bucket"):
        set_preview_location(
            index, "s3://no-such-bucket-voxcat/p", storage_options=_opts(s3_endpoint)
        )
    with (
        moto_server(tmp_path / "auth.log", enforce_auth=True) as strict,
    ):
        with pytest.raises(StorageAccessDenied, match=rf"{url}: access denied.*credentials"):
            set_preview_location(index, url, storage_options=_opts(strict))
        assert _index_state(index) == before
        # a place set before, then unreachable or denied: the run stops before anything
        set_preview_location(index, url, storage_options=_opts(s3_endpoint))
        before = _index_state(index)
        with pytest.raises(StorageUnreachable, match=rf"{url}: .*unreachable"):
            build_previews(index, min_bytes=0, storage_options=dead)
        with pytest.raises(StorageAccessDenied, match=rf"{url}: access denied"):
            build_previews(index, min_bytes=0, storage_options=_opts(strict))
    client(s3_endpoint).delete_bucket(Bucket=s3_bucket)
    with pytest.raises(BucketNotFound, match=rf"s3://{s3_bucket}/p: no such bucket"):
        build_previews(index, min_bytes=0)
    code = main(["preview", "--index", str(index), "--min-size", "0"])
    assert code == 1
    assert _index_state(index) == before
    assert find_preview(index, lab["id"]) is None
    assert Slicer(index, lab["id"]).source == "original"  # views still work, from the file


def test_cli_keeps_previews_in_a_bucket_and_back_in_the_cache(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = _lab(tmp_path, (64, 96, 96))
    index = str(lab["there"])
    url = f"s3://{s3_bucket}/previews"
    argv = ["preview", "--index", index, "--min-size", "100KB", "--json", "--to", url]
    argv += ["--storage-option", f"endpoint_url={s3_endpoint}"]
    argv += ["--storage-option", f"key={TEST_CREDENTIALS['AWS_ACCESS_KEY_ID']}"]
    argv += ["--storage-option", f"secret={TEST_CREDENTIALS['AWS_SECRET_ACCESS_KEY']}"]
    # a dry run checks the place and keeps nothing
    assert main([*argv, "--dry-run"]) == 0
    assert json.loads(capsys.readouterr().out) == {"where": url, "kept": False}
    assert not preview_place(index).remote
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["counts"]["built"] == 1 and out["where"] == url
    assert out["built"][0]["path"].startswith(url + "/") and out["bytes_on_disk"] > 0
    assert TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in json.dumps(
        q(lab["there"], "SELECT * FROM settings")
    )
    assert main(["preview", "--index", index, "--min-size", "100KB"]) == 0  # remembered
    assert "1 current" in capsys.readouterr().out
    assert main(["preview", "--index", index, "--min-size", "100KB", "--to", "cache"]) == 0
    text = capsys.readouterr().out
    assert "1 built" in text and "there.voxcat/previews" in text
    assert not preview_place(index).remote
    assert isinstance(find_preview(index, lab["id"]), Path)


def test_a_pyramid_built_on_a_dask_cluster_goes_straight_to_the_bucket(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("distributed")
    from catalog.cluster import SCHEDULER_ENV

    from .clusters import local_cluster, tasks_done

    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    lab = _lab(tmp_path)
    local = ensure_preview(lab["here"], lab["id"], min_bytes=0, target=TARGET)
    set_preview_location(lab["there"], f"s3://{s3_bucket}/p", storage_options=_opts(s3_endpoint))
    with local_cluster(n_workers=2, threads_per_worker=1, memory_limit=400_000_000) as cluster:
        remote = ensure_preview(
            lab["there"],
            lab["id"],
            min_bytes=0,
            target=TARGET,
            block_bytes=1 << 20,
            scheduler=cluster.scheduler_address,
        )
        assert tasks_done(cluster.scheduler_address, "build_block-") > 1
    assert not (tmp_path / "there.voxcat" / "previews").exists()
    mine, _ = _levels(zarr.open_group(str(local), mode="r"))
    theirs, _ = _levels(_remote_group(s3_endpoint, str(remote)))
    assert [a.shape for a in mine] == [b.shape for b in theirs]
    for a, b in zip(mine, theirs):
        assert np.array_equal(a[:], b[:])


def test_concurrent_builds_of_one_preview_in_the_bucket(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    import threading

    from catalog.preview import store
    from catalog.preview.dataset import load_ref

    lab = _lab(tmp_path, (64, 96, 96))
    index = lab["there"]
    set_preview_location(index, f"s3://{s3_bucket}/p", storage_options=_opts(s3_endpoint))
    ref = load_ref(open_catalog(index), lab["id"])
    place = preview_place(index)
    results, errors = [], []

    def build() -> None:  # bypasses the in-process lock: builds racing as processes would
        try:
            results.append(store._build(ref, place, None, None, 1 << 16, TARGET))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    url = place.location(ref.checksum or "")
    assert not errors and results == [url] * 3
    # the root .zattrs names one complete build: every level reads back in full
    group = _remote_group(s3_endpoint, url)
    levels, _ = _levels(group)
    np.testing.assert_array_equal(levels[0][:], lab["vol"])
    s = Slicer(index, lab["id"])
    assert s.source == "preview"
    np.testing.assert_array_equal(s.plane(("z", "y"), at={"x": 50}).values, lab["vol"][:, :, 50])
