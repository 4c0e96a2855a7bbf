"""``voxcat preview`` / ``build_previews``: previews for every big dataset without a
pyramid of its own, on a real scanned drive; a dataset that cannot be read is
reported, recorded in the audit log, and the others are still built."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from catalog import open_catalog, scan
from catalog.cli import main
from catalog.index.audit import list_audit
from catalog.preview import find_preview
from catalog.preview.batch import build_previews

ARGS = ["--min-size", "100KB"]


@pytest.fixture
def drive(tmp_path: Path) -> dict:
    from ome_zarr.writer import write_multiscale

    rng = np.random.default_rng(20261123)
    root = tmp_path / "drive"
    root.mkdir()
    vol_a = rng.integers(0, 4000, (40, 64, 64), dtype=np.uint16)
    tifffile.imwrite(root / "vol_a.tif", vol_a)
    vol_b = rng.standard_normal((32, 48, 48)).astype("float32")
    zarr.create_array(
        str(root / "vol_b.zarr"), shape=vol_b.shape, chunks=(16, 16, 16), dtype="f4"
    )[:] = vol_b
    tifffile.imwrite(root / "broken.tif", rng.integers(0, 4000, (40, 64, 64), dtype=np.uint16))
    tifffile.imwrite(root / "small.tif", rng.integers(0, 255, (16, 16), dtype=np.uint8))
    big = rng.integers(0, 4000, (64, 96, 96), dtype=np.uint16)  # its own pyramid: none needed
    group = zarr.open_group(str(root / "own.ome.zarr"), mode="w")
    write_multiscale([big, big[:, ::2, ::2].copy()], group, axes="zyx")
    (root / "notes.txt").write_text("not an image")
    index = tmp_path / "lab.duckdb"
    scan(root, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {cat.entry(i).metadata["name"]: i for i in cat}
    return {"root": root, "index": index, "ids": ids}


def _run(capsys, *argv: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code = main(["preview", *argv])
    return code, capsys.readouterr().out


def test_dry_run_lists_what_would_be_built(drive: dict, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out = _run(capsys, "--index", str(drive["index"]), *ARGS, "--dry-run", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["counts"]["would build"] == 3 and report["counts"]["built"] == 0
    assert {b["id"] for b in report["built"]} == {
        drive["ids"][n] for n in ("vol_a.tif", "vol_b.zarr", "broken.tif")
    }
    assert report["counts"]["not needed"] == 2  # small.tif and own.ome.zarr
    assert all(find_preview(drive["index"], i) is None for i in drive["ids"].values())


def test_a_broken_dataset_is_reported_and_the_others_are_built(drive: dict, capsys) -> None:  # type: ignore[no-untyped-def]
    broken = drive["root"] / "broken.tif"
    with open(broken, "r+b") as fh:  # damaged after the scan: the pixels are gone
        fh.truncate(broken.stat().st_size // 3)
    index, ids = drive["index"], drive["ids"]
    code, out = _run(capsys, "--index", str(index), *ARGS)
    assert code == 1
    failed = [line for line in out.splitlines() if "failed: " in line]
    assert len(failed) == 1 and f"dataset {ids['broken.tif']} (broken.tif)" in failed[0]
    assert "broken.tif: truncated or corrupt TIFF" in failed[0]  # the file and the cause
    assert "2 built" in out and "1 failed" in out
    for name in ("vol_a.tif", "vol_b.zarr"):
        assert find_preview(index, ids[name]) is not None
    assert find_preview(index, ids["small.tif"]) is None
    failures = list_audit(index, action="preview.failed")
    assert [r["dataset"] for r in failures] == [ids["broken.tif"]]
    assert failures[0]["detail"]["error"]

    code, out = _run(capsys, "--index", str(index), *ARGS)  # again: nothing rebuilt
    assert code == 1 and "0 built" in out and "2 current" in out

    code, out = _run(capsys, "vol_a", "--index", str(index), *ARGS)  # a selection
    assert code == 0 and "1 current" in out and "0 built" in out


def test_changed_data_gets_a_new_preview_and_prune_drops_the_old(drive: dict, capsys) -> None:  # type: ignore[no-untyped-def]
    index, ids = drive["index"], drive["ids"]
    report = build_previews(index, [ids["vol_a.tif"]], min_bytes=100_000, progress=False)
    assert report.ok and report.counts["built"] == 1
    old = find_preview(index, ids["vol_a.tif"])
    rng = np.random.default_rng(7)
    tifffile.imwrite(
        drive["root"] / "vol_a.tif", rng.integers(0, 4000, (40, 64, 64), dtype=np.uint16)
    )
    scan(drive["root"], index, jobs=1, progress=False)
    code, out = _run(capsys, "vol_a", "--index", str(index), *ARGS, "--prune")
    assert code == 0 and "1 built" in out and f"pruned {old}" in out
    new = find_preview(index, ids["vol_a.tif"])
    assert new is not None and new != old and not old.exists()
