"""Replicas: content the index holds, found on another drive, is a location of that
dataset (same id, tags, notes), not a new dataset; ``copies`` counts the locations; a
dataset stays ``ok`` and readable while one location is.

The ``slow`` tests use real separate filesystems (ext4 images loop-mounted as in
tests/test_drives.py; they skip, saying why, where mounting is refused). The others
use this machine's own two filesystems where it has them: the one ``tmp_path`` is on
and the tmpfs at ``/dev/shm`` (skipped when both are one volume), and the schema
migration.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pytest

from catalog import open_catalog, scan, verify
from catalog.cli import main
from catalog.drives import list_drives
from catalog.errors import DatasetUnavailable
from catalog.index import SCHEMA_VERSION, listing
from catalog.preview.dataset import load_ref

from .drives import drive_id, q
from .volumes import write_volumes


def ids_by_name(index: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, ident in q(index, "SELECT name, id FROM datasets ORDER BY path"):
        out.setdefault(name, []).append(ident)
    return out


def test_an_index_at_schema_10_migrates_to_11_losing_nothing(tmp_path: Path) -> None:
    write_volumes(tmp_path / "drive", ["a.tif", "b.tif"], seed=21)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    cat = open_catalog(index)
    ident = sorted(cat)[0]
    cat.tag(ident, "porosity")
    cat.note(ident, "ring artefacts")
    con = duckdb.connect(str(index))
    try:  # what schema 10 looked like: no locations, no datasets.copies
        con.execute("DROP TABLE locations")
        con.execute("ALTER TABLE datasets DROP COLUMN copies")
        con.execute("UPDATE settings SET value = '10' WHERE key = 'schema_version'")
        before = con.execute("SELECT * FROM datasets ORDER BY id").fetchall()
        files = con.execute("SELECT * FROM files ORDER BY path").fetchall()
        audit = con.execute("SELECT * FROM audit ORDER BY seq").fetchall()
        tags = con.execute("SELECT * FROM tags ORDER BY tag").fetchall()
        notes = con.execute("SELECT * FROM notes").fetchall()
        rows = con.execute("SELECT id, path, drive, status FROM datasets ORDER BY id").fetchall()
    finally:
        con.close()
    assert list_drives(index, check=False)  # read-only at schema 10: no locations table
    cat = open_catalog(index)  # opening migrates
    assert SCHEMA_VERSION >= 11  # 12: policies (tests/test_risk.py)
    assert q(index, "SELECT value FROM settings WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]
    assert q(index, "SELECT * EXCLUDE (copies) FROM datasets ORDER BY id") == before
    assert q(index, "SELECT * FROM files ORDER BY path") == files
    assert q(index, "SELECT * FROM audit ORDER BY seq") == audit
    assert q(index, "SELECT * FROM tags ORDER BY tag") == tags
    assert q(index, "SELECT * FROM notes") == notes
    # every dataset has one location: where it is
    assert q(index, "SELECT dataset_id, path, drive, status FROM locations ORDER BY 1") == rows
    assert q(index, "SELECT DISTINCT copies FROM datasets") == [(1,)]
    assert [p["primary"] for p in cat.locations(ident)] == [True]


def test_a_copy_on_another_drive_is_a_replica_and_a_lost_copy_goes_missing(
    tmp_path: Path, other_drive: Path
) -> None:
    write_volumes(tmp_path / "lab" / "rocks", ["granite.tif", "basalt.tif"], seed=22)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    first = ids_by_name(index)
    cat = open_catalog(index)
    granite = first["granite.tif"][0]
    cat.tag(granite, "porosity")
    assert len(cat.search(copies=1)) == 2

    shutil.copytree(tmp_path / "lab" / "rocks", other_drive / "rocks")
    report = scan(other_drive, index, jobs=1, progress=False)
    assert report.replicas == 2 and report["added"] == 0
    assert "2 replicas" in str(report)
    assert ids_by_name(index) == first  # no new datasets: the same ids
    assert q(index, "SELECT DISTINCT copies FROM datasets") == [(2,)]
    cat = open_catalog(index)
    assert len(cat.search(copies=2)) == 2 and len(cat.search(copies=1)) == 0
    assert len(cat.search(copies="<2")) == 0 and len(cat.search(copies=">=2")) == 2
    listing.build(index)  # the same on the listing snapshot
    cat = open_catalog(index)
    with cat._connect() as con:
        assert cat._listed(con) is not None  # the snapshot answers
    assert len(cat.search(copies=2)) == 2 and len(cat.search(copies="<2")) == 0
    assert list(cat.search(tags="porosity")) == [granite]  # one dataset, its tags
    places = cat.locations(granite)
    assert [(p["primary"], p["status"]) for p in places] == [(True, "ok"), (False, "ok")]
    assert [p["last_verified"] for p in places] == [None, None]
    assert verify(index, [granite], progress=False).ok  # reads every copy (test_risk.py)
    verified = [p["last_verified"] for p in open_catalog(index).locations(granite)]
    assert verified[0] is not None and verified[1] is not None
    assert places[1]["path"] == str(other_drive / "rocks" / "granite.tif")
    assert places[1]["drive_id"] == drive_id(other_drive)
    actions = q(index, "SELECT action FROM audit WHERE dataset_id = ? ORDER BY seq", [granite])
    assert ("replica.add",) in actions

    # a rescan finds the replicas again, unchanged, without reading them
    again = scan(other_drive, index, jobs=1, progress=False)
    assert again.replicas == 0 and again["added"] == 0 and again["unchanged"] == 2
    assert again.bytes_processed == 0
    basalt_copy = other_drive / "rocks" / "basalt.tif"
    os.utime(basalt_copy, (1.7e9, 1.7e9))  # touched: read again, the same content
    again = scan(other_drive, index, jobs=1, progress=False)
    assert again.bytes_processed == basalt_copy.stat().st_size and again.replicas == 0
    assert again["unchanged"] == 2 and again["added"] == 0
    assert scan(other_drive, index, jobs=1, progress=False).bytes_processed == 0
    assert q(index, "SELECT count(*), min(copies) FROM datasets") == [(2, 2)]

    # the copy is deleted: that location is missing, the dataset stays ok
    (other_drive / "rocks" / "granite.tif").unlink()
    scan(other_drive, index, jobs=1, progress=False)
    assert q(index, "SELECT status, copies FROM datasets WHERE id = ?", [granite]) == [("ok", 1)]
    places = open_catalog(index).locations(granite)
    assert [p["status"] for p in places] == ["ok", "missing"]
    assert q(index, "SELECT count(*) FROM datasets") == [(2,)]


def test_the_primary_gone_reads_go_to_the_replica(tmp_path: Path, other_drive: Path) -> None:
    write_volumes(tmp_path / "lab" / "rocks", ["granite.tif"], seed=23)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    (ident,) = ids_by_name(index)["granite.tif"]
    expected = open_catalog(index)[ident].read().values
    shutil.copytree(tmp_path / "lab" / "rocks", other_drive / "rocks")
    scan(other_drive, index, jobs=1, progress=False)
    replica = str(other_drive / "rocks" / "granite.tif")

    shutil.rmtree(tmp_path / "lab" / "rocks")  # the primary copy is lost
    cat = open_catalog(index)  # not rescanned yet: the primary path is not there
    assert np.array_equal(cat[ident].read().values, expected)
    assert cat[ident].metadata["path"] == replica
    ref = load_ref(cat, ident)  # what slices and previews read
    assert ref.where == replica and np.array_equal(ref.read().values, expected)
    scan(tmp_path / "lab", index, jobs=1, progress=False)  # the rescan notices
    assert q(index, "SELECT status, copies FROM datasets WHERE id = ?", [ident]) == [("ok", 1)]
    cat = open_catalog(index)
    assert [p["status"] for p in cat.locations(ident)] == ["missing", "ok"]
    assert np.array_equal(cat[ident].read().values, expected)
    # rescans of either place: the replica is found again, not taken for a move
    scan(other_drive, index, jobs=1, progress=False)
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    assert [p["status"] for p in open_catalog(index).locations(ident)] == ["missing", "ok"]
    assert q(index, "SELECT path, status FROM datasets") == [
        (str(tmp_path / "lab" / "rocks" / "granite.tif"), "ok")
    ]
    assert q(index, "SELECT count(*) FROM audit WHERE action = 'scan.missing'") == [(1,)]

    # and the replica lost too: missing, saying so
    shutil.rmtree(other_drive / "rocks")
    scan(other_drive, index, jobs=1, progress=False)
    assert q(index, "SELECT status, copies FROM datasets WHERE id = ?", [ident]) == [
        ("missing", 0)
    ]


def test_copies_on_the_same_drive_stay_separate_datasets(tmp_path: Path) -> None:
    write_volumes(tmp_path / "lab" / "a", ["granite.tif"], seed=24)
    shutil.copytree(tmp_path / "lab" / "a", tmp_path / "lab" / "b")
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    assert len(ids_by_name(index)["granite.tif"]) == 2
    assert q(index, "SELECT DISTINCT copies FROM datasets") == [(1,)]
    assert q(index, "SELECT count(*) FROM locations") == [(2,)]


def test_voxcat_drives_counts_a_dataset_with_a_replica_elsewhere_as_not_only_here(
    tmp_path: Path, other_drive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_volumes(tmp_path / "lab", ["granite.tif", "basalt.tif"], seed=25)
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "lab", index, jobs=1, progress=False)
    here = drive_id(tmp_path)
    only = {d.id: d.only_here for d in list_drives(index, check=False)}
    assert only[here] == 2
    other_drive.joinpath("lab").mkdir()
    shutil.copy2(tmp_path / "lab" / "granite.tif", other_drive / "lab" / "granite.tif")
    scan(other_drive, index, jobs=1, progress=False)
    only = {d.id: d.only_here for d in list_drives(index, check=False)}
    assert only[here] == 1  # basalt only
    assert main(["drives", "--index", str(index), "--no-check"]) in (0, None)
    capsys.readouterr()


# -- real drives ------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_drive_holding_a_copy_keeps_the_datasets_ok_when_the_first_is_unplugged(
    tmp_path: Path,
    make_drive,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_at, b_at = tmp_path / "media" / "WD-2019", tmp_path / "media" / "WD-2024"
    a = make_drive("WD-2019", a_at)
    make_drive("WD-2024", b_at)
    write_volumes(a_at / "rocks", ["granite.tif", "basalt.tif"], seed=31)
    write_volumes(a_at / "rocks" / "again", ["granite.tif"], seed=31)  # same drive: own id
    index = tmp_path / "lab.duckdb"
    scan(a_at, index, jobs=1, progress=False)
    first = ids_by_name(index)
    assert len(first["granite.tif"]) == 2  # identical copies on one drive stay two
    cat = open_catalog(index)
    by_path = dict(q(index, "SELECT path, id FROM datasets"))
    granite, basalt = by_path[str(a_at / "rocks" / "granite.tif")], first["basalt.tif"][0]
    again = by_path[str(a_at / "rocks" / "again" / "granite.tif")]
    cat.tag(granite, "porosity")
    cat.note(granite, "ring artefacts")
    expected = cat[granite].read().values

    shutil.copytree(a_at / "rocks", b_at / "backup")  # the lab's backup drive
    report = scan(b_at, index, jobs=1, progress=False)
    assert report["added"] == 0 and report.replicas == 3  # one per dataset of drive A
    assert ids_by_name(index) == first
    cat = open_catalog(index)
    assert q(index, "SELECT DISTINCT copies FROM datasets") == [(2,)]
    # each copy is the replica of the file it was copied from
    assert cat.locations(granite)[1]["path"] == str(b_at / "backup" / "granite.tif")
    assert cat.locations(again)[1]["path"] == str(b_at / "backup" / "again" / "granite.tif")
    assert cat.entry(granite).metadata["tags"] == ["porosity"]
    assert [n["text"] for n in cat.entry(granite).metadata["notes"]] == ["ring artefacts"]
    places = cat.locations(granite)
    assert [(p["drive"], p["status"], p["primary"]) for p in places] == [
        ("WD-2019", "ok", True),
        ("WD-2024", "ok", False),
    ]
    only = {d.name: d.only_here_ids for d in list_drives(index)}
    assert only == {"WD-2019": [], "WD-2024": []}

    # drive A unplugged: its datasets with a copy on B stay ok and read from B
    a.unmount()
    report = scan(a_at, index, jobs=1, progress=False)
    assert report.offline is not None and "WD-2019" in report.offline
    assert report.counts["offline"] == 0  # every dataset has a copy on B
    cat = open_catalog(index)
    assert q(index, "SELECT DISTINCT status FROM datasets") == [("ok",)]
    assert [p["status"] for p in cat.locations(granite)] == ["offline", "ok"]
    assert q(index, "SELECT copies FROM datasets WHERE id = ?", [granite]) == [(2,)]
    got = cat[granite].read()
    assert np.array_equal(got.values, expected)
    assert cat[granite].metadata["path"] == str(b_at / "backup" / "granite.tif")
    assert len(cat.search(status="ok")) == 3

    # a copy deleted on B: that location missing, one copy left (offline on A)
    (b_at / "backup" / "basalt.tif").unlink()
    scan(b_at, index, jobs=1, progress=False)
    assert q(index, "SELECT status, copies FROM datasets WHERE id = ?", [basalt]) == [
        ("offline", 1)
    ]
    assert [p["status"] for p in open_catalog(index).locations(basalt)] == [
        "offline",
        "missing",
    ]
    with pytest.raises(DatasetUnavailable, match="WD-2019"):
        open_catalog(index)[basalt].read()

    # A plugged in again: everything ok, from the primary path
    a.mount(a_at)
    scan(a_at, index, jobs=1, progress=False)
    cat = open_catalog(index)
    assert set(cat.df["status"]) == {"ok"}
    assert [p["status"] for p in cat.locations(granite)] == ["ok", "ok"]
    assert cat[granite].metadata["path"] == str(a_at / "rocks" / "granite.tif")
    assert main(["drives", "--index", str(index)]) == 0
    text = capsys.readouterr().out
    assert "3 datasets" in text and "0 only here" in text
