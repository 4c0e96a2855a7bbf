"""Exports of a dataset whose primary location is gone (deleted, or its drive
unplugged) are made from its first ``ok`` replica, in every mode, as reads are."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import numpy as np
import pytest

from catalog import migrate, open_catalog, scan

from .drives import q
from .validators import assert_bag_valid
from .volumes import write_volumes


def test_an_export_reads_a_deleted_primary_from_its_replica(
    tmp_path: Path, other_drive: Path
) -> None:
    write_volumes(tmp_path / "lab" / "rocks", ["granite.tif"], seed=41)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    cat = open_catalog(index)
    (ident,) = list(cat)
    values = cat[ident].read().values
    shutil.copytree(tmp_path / "lab" / "rocks", other_drive / "rocks")
    scan(other_drive, index, jobs=1, progress=False)
    assert q(index, "SELECT copies FROM datasets") == [(2,)]
    shutil.rmtree(tmp_path / "lab" / "rocks")  # the primary copy is lost

    cat = open_catalog(index)
    report = cat.export(tmp_path / "copy", progress=False)
    assert list(report.datasets) == [ident] and not report.skipped
    (copied,) = (tmp_path / "copy" / "data").rglob("granite.tif")
    assert filecmp.cmp(other_drive / "rocks" / "granite.tif", copied, shallow=False)
    assert_bag_valid(tmp_path / "copy")

    report = cat.export(tmp_path / "zarr", mode="zarr", progress=False)
    assert list(report.datasets) == [ident]
    exported = open_catalog(tmp_path / "zarr" / "voxcat.duckdb")
    assert np.array_equal(exported[ident].read().values, values)


@pytest.mark.slow
def test_an_export_reads_a_dataset_on_an_unplugged_drive_from_its_copy(
    tmp_path: Path, make_drive, other_drive: Path
) -> None:
    a = tmp_path / "mnt" / "a"
    drive = make_drive("WD-A", a)
    write_volumes(a / "rocks", ["granite.tif", "basalt.tif"], seed=42)
    index = tmp_path / "lab.duckdb"
    scan(a, index, jobs=1, progress=False)
    migrate(index, other_drive / "lab-data", list(open_catalog(index)), progress=False)
    drive.unmount()
    scan(a, index, jobs=1, progress=False)  # the rescan finds drive A unplugged
    assert q(index, "SELECT DISTINCT status, copies FROM datasets") == [("ok", 2)]
    assert {s for (s,) in q(index, "SELECT status FROM locations")} == {"ok", "offline"}
    for mode in ("copy", "link", "zarr"):
        report = open_catalog(index).export(tmp_path / mode, mode=mode, progress=False)
        assert len(report.datasets) == 2 and not report.skipped
    copied = sorted((tmp_path / "copy" / "data").rglob("*.tif"), key=lambda p: p.name)
    assert [p.name for p in copied] == ["basalt.tif", "granite.tif"]
    for p in copied:
        assert filecmp.cmp(other_drive / "lab-data" / "WD-A" / "rocks" / p.name, p, shallow=False)
