"""Scanning: grouping, metadata in the index, checksums, thumbnails, incremental rescans."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import blake3
import duckdb
import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

from catalog import scan
from catalog.errors import ScanError
from catalog.paths import to_db

from .conftest import q as rows


def by_name(index: Path) -> dict[str, dict]:
    con = duckdb.connect(str(index), read_only=True)
    try:
        df = con.execute("SELECT * FROM datasets").fetch_df()
    finally:
        con.close()
    return {r["name"]: r for r in df.to_dict("records")}


@pytest.fixture
def drive(tmp_path: Path, volume: np.ndarray, rng: np.random.Generator) -> Path:
    """A small mixed drive: a slice stack, an OME-TIFF, a PNG, junk."""
    root = tmp_path / "drive"
    stack = root / "2024" / "rocks" / "s01" / "rec"
    stack.mkdir(parents=True)
    for i, sl in enumerate(volume):
        tifffile.imwrite(stack / f"s01_rec{i:04d}.tif", sl)
    lm = root / "2025" / "cells" / "c7"
    lm.mkdir(parents=True)
    tifffile.imwrite(
        lm / "stack.ome.tif",
        rng.integers(0, 4000, (5, 32, 40), dtype=np.uint16),
        ome=True,
        metadata={
            "axes": "ZYX",
            "PhysicalSizeX": 0.25,
            "PhysicalSizeY": 0.25,
            "PhysicalSizeZ": 1.0,
        },
    )
    Image.fromarray(rng.integers(0, 255, (30, 50), dtype=np.uint8)).save(root / "overview.png")
    (root / "notes.txt").write_text("hello\n")
    return root


def test_scan_groups_and_records(drive: Path, tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    report = scan(drive, index, jobs=1, progress=False, pattern="{year}/{project}/{sample}")
    assert report["failed"] == 0, report.failed
    assert report["added"] == 4  # stack, OME-TIFF, PNG, notes.txt
    ds = by_name(index)
    stack = next(r for r in ds.values() if r["reader"] == "slices")
    assert list(stack["shape"]) == [12, 40, 48]
    assert stack["n_files"] == 12 and stack["axes"] == "zyx"
    assert stack["sample"] == "s01" and stack["project"] == "rocks"
    assert json.loads(stack["meta"])["path"] == {"year": "2024"}
    assert stack["data_level"] == "reconstructed"
    ome = ds["stack.ome.tif"]
    assert ome["voxel_size_x"] == pytest.approx(0.25e-6)
    assert ome["voxel_size"] == pytest.approx(1e-6)
    assert ome["status"] == "ok" and ome["kind"] == "image"
    txt = ds["notes.txt"]
    assert txt["kind"] == "file" and txt["format"] == "text/plain" and txt["size"] == 6
    # every dataset has a checksum; single files hash their bytes
    png = ds["overview.png"]
    assert (
        png["checksum"] == "b3:" + blake3.blake3((drive / "overview.png").read_bytes()).hexdigest()
    )
    # files table lists every slice in order
    files = rows(
        index, "SELECT path FROM files WHERE dataset_id = ? ORDER BY position", [stack["id"]]
    )
    assert [Path(f[0]).name for f in files] == [f"s01_rec{i:04d}.tif" for i in range(12)]
    # the flattened metadata table is searchable
    assert (
        rows(index, "SELECT count(*) FROM metadata WHERE key = 'path.year' AND value = '2024'")[0][
            0
        ]
        == 1
    )


def test_thumbnails_are_written_next_to_the_index(drive: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx" / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    ds = by_name(index)
    cache = tmp_path / "idx" / "lab.voxcat"
    stack = next(r for r in ds.values() if r["reader"] == "slices")
    thumb = cache / stack["thumbnail"]
    im = Image.open(thumb)
    assert im.height == 256 and im.width > 256  # middle slice | projection
    arr = np.asarray(im)
    assert arr.std() > 5  # an image, not a blank
    assert pd.isna(ds["notes.txt"]["thumbnail"])
    # nothing was written beside the originals
    assert not any(p.suffix == ".png" and "overview" not in p.name for p in drive.rglob("*"))


def test_ids_are_short_valid_and_unique(drive: Path, tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    ids = [r[0] for r in rows(index, "SELECT id FROM datasets")]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 12 and i.isidentifier() and i.islower() for i in ids)


def test_rescan_unchanged_changed_moved_missing(drive: Path, tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    before = by_name(index)
    again = scan(drive, index, jobs=1, progress=False)
    assert again["unchanged"] == 4 and again["added"] == again["changed"] == 0
    # tag one dataset, then move it; the id and the tag must follow
    ome_id = before["stack.ome.tif"]["id"]
    con = duckdb.connect(str(index))
    con.execute("INSERT INTO tags VALUES (?, 'keep', 'me', now())", [ome_id])
    con.close()
    (drive / "moved").mkdir()
    shutil.move(
        drive / "2025" / "cells" / "c7" / "stack.ome.tif", drive / "moved" / "renamed.ome.tif"
    )
    # change one file's content
    Image.fromarray(np.zeros((30, 50), np.uint8)).save(drive / "overview.png")
    # delete one dataset
    (drive / "notes.txt").unlink()
    rep = scan(drive, index, jobs=1, progress=False)
    assert (rep["moved"], rep["changed"], rep["missing"], rep["unchanged"]) == (1, 1, 1, 1), (
        rep.counts
    )
    after = by_name(index)
    assert after["renamed.ome.tif"]["id"] == ome_id
    assert after["renamed.ome.tif"]["first_seen"] == before["stack.ome.tif"]["first_seen"]
    assert rows(index, "SELECT tag FROM tags WHERE dataset_id = ?", [ome_id]) == [("keep",)]
    assert after["overview.png"]["id"] == before["overview.png"]["id"]
    assert after["overview.png"]["checksum"] != before["overview.png"]["checksum"]
    assert after["notes.txt"]["status"] == "missing"  # kept, never deleted
    assert len(after) == 4
    # the file comes back: the same record is restored
    (drive / "notes.txt").write_text("hello\n")
    rep = scan(drive, index, jobs=1, progress=False)
    assert by_name(index)["notes.txt"]["status"] == "ok"
    assert by_name(index)["notes.txt"]["id"] == before["notes.txt"]["id"]
    audit = [r[0] for r in rows(index, "SELECT action FROM audit ORDER BY seq")]
    assert "move" in audit and "scan.missing" in audit and "scan.changed" in audit


def test_moved_folder_dataset_keeps_its_id(drive: Path, tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    stack_id = next(r["id"] for r in by_name(index).values() if r["reader"] == "slices")
    shutil.move(drive / "2024" / "rocks" / "s01" / "rec", drive / "archive_rec")
    rep = scan(drive, index, jobs=1, progress=False)
    assert rep["moved"] == 1 and rep["missing"] == 0
    moved = rows(index, "SELECT path, status FROM datasets WHERE id = ?", [stack_id])
    assert moved == [(to_db(drive / "archive_rec"), "ok")]


def test_parallel_scan_matches_serial(drive: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    scan(drive, a, jobs=1, progress=False)
    rep = scan(drive, b, jobs=2, progress=False)
    assert rep["added"] == 4
    q = "SELECT id, name, checksum, shape, status FROM datasets ORDER BY id"
    assert rows(a, q) == rows(b, q)


def test_index_inside_the_scanned_tree_is_not_indexed(drive: Path) -> None:
    index = drive / "voxcat.duckdb"
    scan(drive, index, jobs=1, progress=False)
    scan(drive, index, jobs=1, progress=False)
    names = {r[0] for r in rows(index, "SELECT name FROM datasets")}
    assert not any("voxcat" in n or n.endswith(".wal") for n in names)


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="no such file"):
        scan(tmp_path / "nope", tmp_path / "x.duckdb", progress=False)


def test_single_file_root(tmp_path: Path, volume: np.ndarray) -> None:
    f = tmp_path / "one.tif"
    tifffile.imwrite(f, volume)
    rep = scan(f, tmp_path / "x.duckdb", jobs=1, progress=False)
    assert rep["added"] == 1
    assert rows(tmp_path / "x.duckdb", "SELECT shape FROM datasets") == [([12, 40, 48],)]


def test_scan_history_is_recorded(drive: Path, tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    scan(drive, index, jobs=1, progress=False)
    scans = rows(index, "SELECT status, counts FROM scans ORDER BY scan_id")
    assert [s[0] for s in scans] == ["done", "done"]
    assert json.loads(scans[1][1])["unchanged"] == 4
    assert os.path.exists(index)


def test_two_slice_stacks_in_one_folder_are_two_readable_datasets(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    from catalog import open_catalog

    rec = tmp_path / "drive" / "sandstone_07" / "rec"
    rec.mkdir(parents=True)
    a = rng.integers(0, 255, (6, 16, 16), dtype=np.uint8)
    b = rng.integers(0, 255, (5, 16, 16), dtype=np.uint8)
    for z in range(6):
        tifffile.imwrite(rec / f"recA_{z:03d}.tif", a[z])
    for z in range(5):
        tifffile.imwrite(rec / f"recB_{z:03d}.tif", b[z])
    index = tmp_path / "x.duckdb"
    rep = scan(tmp_path / "drive", index, jobs=1, progress=False)
    assert rep["added"] == 2 and rep["failed"] == 0
    cat = open_catalog(index)
    found = {cat[i].metadata["name"]: cat[i] for i in cat}
    assert set(found) == {"sandstone_07_rec_recA", "sandstone_07_rec_recB"}
    np.testing.assert_array_equal(found["sandstone_07_rec_recA"].read().values, a)
    np.testing.assert_array_equal(found["sandstone_07_rec_recB"].read().values, b)
    assert scan(tmp_path / "drive", index, jobs=1, progress=False)["unchanged"] == 2


def test_the_walk_reads_each_files_leading_bytes_once(tmp_path, monkeypatch) -> None:
    """Every reader looks at a file's magic bytes; the walk opens the file once for all
    of them (a folder of 50,000 small files was opened 650,000 times)."""
    from collections import Counter

    from catalog.readers import base, load_readers
    from catalog.scanner.walk import walk

    rng = np.random.default_rng(5)
    for i in range(20):
        (tmp_path / f"blob_{i:02d}.dat").write_bytes(rng.bytes(int(rng.integers(0, 2000))))
    tifffile.imwrite(tmp_path / "image.tif", rng.integers(0, 255, (8, 8), dtype=np.uint8))
    opened: Counter[str] = Counter()
    real = base._read_head

    def counting(path, n):
        opened[str(path)] += 1
        return real(path, n)

    monkeypatch.setattr(base, "_read_head", counting)
    found = list(walk(tmp_path, load_readers(), issue=lambda *a: None))
    assert len(found) == 21
    assert {c.reader for c in found} == {None, "tiff"}
    assert len(opened) == 21 and max(opened.values()) == 1, opened.most_common(3)
