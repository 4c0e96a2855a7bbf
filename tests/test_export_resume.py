"""A zarr-mode export killed with SIGKILL in the middle of a conversion resumes from
the chunks it had written and logged, rewrites the rest (whatever the kill left in
their place), and still checks every chunk against what it converted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
import xarray as xr

from catalog import export_catalog, open_catalog, scan, verify
from catalog.errors import ExportError
from catalog.export.files import TMP
from catalog.export.resume import NAME

from .killing import kill_at
from .validators import assert_bag_valid

EXPORT = """
import sys
from catalog import export_catalog, open_catalog
export_catalog(open_catalog(sys.argv[1]), sys.argv[2], mode="zarr", progress=False)
"""
SHAPE = (20, 1024, 1024)  # 20 MB of uint8: four 5 MB chunks (20, 512, 512), one block


@pytest.fixture
def lab(tmp_path: Path) -> tuple[Path, np.ndarray]:
    drive = tmp_path / "drive"
    drive.mkdir()
    rng = np.random.default_rng(20261204)
    vol = rng.integers(0, 255, SHAPE, dtype=np.uint8)
    tifffile.imwrite(drive / "vol.tif", vol, photometric="minisblack")
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    return index, vol


def _killed(index: Path, dest: Path, chunks: int) -> tuple[Path, list[str]]:
    """Kill the export after ``chunks`` chunks of level 0; its temporary store and the
    chunks it logged."""
    kill_at(EXPORT, f"export.chunk#{chunks}", index, dest)
    (tmp,) = list((dest / "data").rglob(f"*.zarr{TMP}"))
    lines = [json.loads(x) for x in (tmp / NAME).read_text().splitlines()]
    logged = [".".join(map(str, at)) for x in lines for at, _ in x.get("chunks", [])]
    return tmp, logged


def test_a_killed_zarr_export_resumes_from_the_chunks_it_wrote(lab, tmp_path) -> None:
    index, vol = lab
    dest = tmp_path / "out"
    tmp, logged = _killed(index, dest, 2)
    assert len(logged) == 2
    image = tmp / "0" / "image"
    kept = {name: os.stat(image / name).st_ino for name in logged}
    every = {f"0.{y}.{x}" for y in (0, 1) for x in (0, 1)}
    rest = sorted(every - set(logged))
    # what a kill can leave of a chunk being written: a cut file in its place (a store
    # that writes in place) or a partial temporary file (zarr's atomic writes)
    (image / rest[0]).write_bytes(b"\x02\x01cut short")
    (image / f"{rest[1]}.3f9a.partial").write_bytes(b"cut short")

    report = export_catalog(open_catalog(index), dest, mode="zarr", progress=False)
    assert report.resumed_chunks == 2  # kept, not written again
    (ident,) = report.datasets
    store = dest / report.datasets[ident]["path"]
    for name, inode in kept.items():
        assert os.stat(store / "0" / "image" / name).st_ino == inode
    back = xr.open_zarr(store, group="0", consolidated=False)["image"].values
    np.testing.assert_array_equal(back, vol)
    assert not list(store.rglob("*.partial")) and not (store / NAME).exists()
    assert not list(dest.rglob(f"*{TMP}"))
    assert_bag_valid(dest)
    assert verify(dest / "voxcat.duckdb", progress=False).ok
    assert "2 Zarr chunks of interrupted conversions were kept" in str(report)


@pytest.mark.slow
def test_a_logged_chunk_that_changed_is_caught(lab, tmp_path) -> None:
    """The log is trusted for what was written, not blindly: a logged chunk whose
    values differ when read back fails the export, and the next run starts over."""
    index, vol = lab
    dest = tmp_path / "out"
    tmp, logged = _killed(index, dest, 1)
    chunk = tmp / "0" / "image" / logged[0]
    raw = chunk.read_bytes()
    import zarr

    arr = zarr.open_array(str(tmp / "0" / "image"), mode="r+", zarr_format=2)
    at = tuple(int(i) for i in logged[0].split("."))
    region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(at, arr.chunks))
    arr[region] = 7  # another value written over it after it was logged
    assert chunk.read_bytes() != raw
    with pytest.raises(ExportError, match="reads back with other values"):
        export_catalog(open_catalog(index), dest, mode="zarr", progress=False)
    report = export_catalog(open_catalog(index), dest, mode="zarr", progress=False)
    assert report.resumed_chunks == 0
    (ident,) = report.datasets
    store = dest / report.datasets[ident]["path"]
    back = xr.open_zarr(store, group="0", consolidated=False)["image"].values
    np.testing.assert_array_equal(back, vol)
    assert_bag_valid(dest)
