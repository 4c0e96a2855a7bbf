"""``benchmarks.scale`` runs end to end on tiny sizes (so it cannot rot) and prints
every row it promises; its simulated lab is seeded and sums to about 1 PB. Rows and
shapes are checked, never timings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.scale import BUCKET, DRIVES, PETABYTE, lab_table

REPO = Path(__file__).resolve().parents[1]


def test_simulated_lab_is_seeded_with_a_gigabyte_per_dataset(tmp_path: Path) -> None:
    zarr_path = tmp_path / "real_volume.zarr"
    a, b = lab_table(5_000, zarr_path), lab_table(5_000, zarr_path)
    assert a.equals(b)  # seeded: the same table every run
    # 1 GB per dataset on average: a million make 1 PB
    assert 0.95 * 5_000 * PETABYTE / 10**6 < a["size"].sum() < 1.05 * 5_000 * PETABYTE / 10**6
    assert a["size"].iloc[:-1].between(10**8, 5 * 10**11).all()
    assert len(DRIVES) == len(set(DRIVES)) == 60
    places = set(a["location"])
    assert BUCKET in places and len(places & set(DRIVES)) == 60
    on_drive = a["location"].isin(DRIVES)
    assert a.loc[on_drive].apply(lambda r: r["path"].startswith(r["location"] + "/"), axis=1).all()
    assert a.loc[~on_drive, "path"].iloc[:-1].str.startswith(BUCKET + "/").all()
    assert a.iloc[-1]["name"] == "real_volume" and a.iloc[-1]["path"] == str(zarr_path.resolve())
    assert set(a["format"]) == {"tiff", "slices", "dicom", "zarr", "hdf5", "nifti"}


@pytest.mark.slow
def test_benchmark_prints_every_row_on_tiny_sizes(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("VOXCAT_DASK_SCHEDULER", None)
    args = ["--rows", "2000", "--files", "6", "--big", "1", "--big-mb", "8", "--workers", "1"]
    args += ["--rounds", "1"]
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.scale",
            *args,
            "--repeat",
            "1",
            "--data",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout
    number = r"\s+(\d+\.\d+|-)"
    for key in ("open", "len", "faceted search", "text search", "facet counts", "read entry"):
        assert re.search(rf"^{key}\s+\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+$", out, re.M), key
    for key in ("size > 100GB (count)", "size + project (df)", "one drive (count)"):
        assert re.search(rf"^{re.escape(key)}{number}{number}{number}$", out, re.M), key
    for key in ("object store (count)", "bucket bytes (stats)"):  # the baseline has none
        assert re.search(rf"^{re.escape(key)}\s+\d+\.\d+\s+-\s+-$", out, re.M), key
    for key in ("bytes per drive", "bytes per project"):
        assert re.search(rf"^{key}\s+\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+$", out, re.M), key
    assert "rows: len 2,000 / 2,000;" in out
    assert re.search(r"PB in 62 drive groups", out)
    labels = ["local jobs=1", "local jobs=2", "cluster 1 worker"]
    for work in ("scan", "verify", "pyramids"):
        for label in labels:
            line = re.search(rf"^{work}\s+{label}\s+(.*)$", out, re.M)
            assert line, (work, label)
            rest = line.group(1)
            assert rest == "not available in this build" or re.fullmatch(
                r"\d+\.\d+\s+\d+\.\d+", rest
            ), (work, label, rest)
    # verify on a cluster is in this build; the local pool always runs
    for work, label in (("verify", "cluster 1 worker"), ("scan", "local jobs=1")):
        line = re.search(rf"^{work}\s+{label}\s+(.*)$", out, re.M)
        assert line and line.group(1) != "not available in this build", (work, label)
    for work in ("scan", "verify", "pyramids"):
        assert re.search(rf"^{work}\s+(\d+\.\d+|-)\s+-\s+(\d+\.\d+|-)$", out, re.M), work
