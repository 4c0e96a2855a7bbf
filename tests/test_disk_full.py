"""A full disk under the index or its thumbnails: one ``voxcat: error:`` line saying
what was saved, an index that still opens, and thumbnails that could not be written
(or were deleted) drawn again by a rescan or ``voxcat thumbnails --missing``.

The full disks are real: a small tmpfs mounted by the test (root only; skipped with
the reason otherwise) and filled up with a file of zeros."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import nibabel as nib
import numpy as np
import pytest
import tifffile

import catalog
from catalog import scan
from catalog.cli import main
from catalog.index import cache_dir
from catalog.paths import from_db

from .conftest import q

#: how a dataset's warnings say its thumbnail was not drawn, or not written
UNDRAWABLE, UNWRITTEN = "thumbnail failed: ", "thumbnail not written: "
FULL_SCAN = re.compile(
    r"voxcat: error: no space left on device writing (?P<index>\S+); "
    r"(?P<n>[\d,]+) datasets? (was|were) saved, free some space and rerun the scan to continue"
)


def _env() -> dict[str, str]:
    home = str(Path(catalog.__file__).resolve().parents[1])  # this checkout first
    return {**os.environ, "PYTHONPATH": os.pathsep.join([home, os.environ.get("PYTHONPATH", "")])}


def _voxcat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "catalog.cli", *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )


def _tiffs(folder: Path, n: int, rng: np.random.Generator) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        vol = rng.integers(0, 60000, (6, 64, 64), dtype=np.uint16)
        tifffile.imwrite(folder / f"scan_{i:03d}.tif", vol)
    return folder


@contextlib.contextmanager
def _tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``where`` while the block runs."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill up needs root")
    where.mkdir(parents=True, exist_ok=True)
    cmd = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], timeout=30).returncode:
            subprocess.run(["umount", "-l", str(where)], timeout=30)


def _fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` up to ``leave`` bytes (0: completely)."""
    filler = folder / "filler"
    st = os.statvfs(folder)
    todo = st.f_bavail * st.f_frsize - leave
    block = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        while todo > 0 or not leave:
            try:
                todo -= os.write(fd, block[: max(todo, 512)] if leave else block)
            except OSError:  # full
                break
    finally:
        os.close(fd)
    return filler


def _thumbnails_present(index: Path) -> list[bool]:
    cache = cache_dir(index)
    rows = q(index, "SELECT thumbnail FROM datasets WHERE status = 'ok' ORDER BY path")
    return [t is not None and (cache / from_db(t)).is_file() for (t,) in rows]


# -- the index on a full disk ----------------------------------------------------------


@pytest.mark.slow
def test_a_scan_that_fills_the_disk_says_what_it_saved_and_resumes(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    first = _tiffs(tmp_path / "drive" / "first", 20, rng)
    second = _tiffs(tmp_path / "drive" / "second", 60, rng)
    with _tmpfs(tmp_path / "disk", "8m") as disk:
        index = disk / "lab.duckdb"
        scan(first, index, jobs=1, progress=False)
        _fill(disk, leave=300_000)  # room for a few batches of the next scan, not all

        r = _voxcat("scan", str(second), "--index", str(index), "-j", "1", "-q")

        assert r.returncode == 1, r.stdout
        assert "Traceback" not in r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        said = FULL_SCAN.fullmatch(lines[0])
        assert said, lines[0]
        assert said["index"] == str(index)
        saved = int(said["n"].replace(",", ""))
        # the index opens; what it says it saved is there, whole, and so is the rest
        con = duckdb.connect(str(index), read_only=True)
        try:
            by_scan = dict(
                con.execute("SELECT scan_id, count(*) FROM datasets GROUP BY 1").fetchall()
            )
            statuses = con.execute("SELECT status FROM scans ORDER BY scan_id").fetchall()
            no_files = con.execute(
                "SELECT count(*) FROM datasets d WHERE NOT EXISTS "
                "(SELECT 1 FROM files f WHERE f.dataset_id = d.id)"
            ).fetchone()[0]
        finally:
            con.close()
        assert by_scan.get(1) == 20 and by_scan.get(2, 0) == saved < 60 and no_files == 0
        # marked interrupted as far as the disk allowed: when even that one row could not
        # be written, the scan is still "running" with a dead pid, and the next scan
        # marks it (checked below)
        assert statuses[0] == ("done",) and statuses[1] in {("interrupted",), ("running",)}

        subprocess.run(["mount", "-o", "remount,size=64m", "tmpfs", str(disk)], check=True)
        again = scan(second, index, jobs=1, progress=False)
        assert again["unchanged"] == saved and again["added"] == 60 - saved
        assert all(_thumbnails_present(index))
        assert q(index, "SELECT status FROM scans ORDER BY scan_id") == [
            ("done",),
            ("interrupted",),
            ("done",),
        ]


def test_tag_on_a_full_disk_is_one_line_and_changes_nothing(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    drive = _tiffs(tmp_path / "drive", 3, rng)
    with _tmpfs(tmp_path / "disk", "8m") as disk:
        index = disk / "lab.duckdb"
        scan(drive, index, jobs=1, progress=False, thumbnails=False)
        (ident,) = q(index, "SELECT id FROM datasets LIMIT 1")[0]
        _fill(disk)

        r = _voxcat("tag", ident, "--tag", "porosity", "--index", str(index))

        assert r.returncode == 1
        assert r.stderr.strip().splitlines() == [
            f"voxcat: error: no space left on device writing {index}; nothing was changed, "
            "free some space and run it again"
        ]
        assert q(index, "SELECT count(*) FROM tags") == [(0,)]
        assert q(index, "SELECT count(*) FROM datasets") == [(3,)]


# -- thumbnails that could not be written, or were deleted -----------------------------


def _scan_with_a_full_cache(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    """Scan 5 volumes while the thumbnail cache (a tmpfs) is full: the datasets are
    ok, their thumbnails not written, and the scan says so."""
    drive = _tiffs(tmp_path / "drive", 5, rng)
    index = tmp_path / "lab.duckdb"
    r = _voxcat("scan", str(drive), "--index", str(index), "-j", "1", "-q")
    assert r.returncode == 0, r.stderr
    assert "5 thumbnails not written (" in r.stdout and "No space left on device" in r.stdout
    assert "voxcat thumbnails --missing" in r.stdout
    rows = q(index, "SELECT status, thumbnail, warnings FROM datasets")
    assert len(rows) == 5
    for status, thumb, warnings in rows:
        assert status == "ok" and thumb is None
        assert [w for w in warnings if w.startswith(UNWRITTEN)], warnings
    return drive, index


def test_thumbnails_a_full_disk_kept_from_being_written_come_back_on_rescan(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    with _tmpfs(tmp_path / "lab.voxcat", "1m") as cache:
        filler = _fill(cache)
        drive, index = _scan_with_a_full_cache(tmp_path, rng)
        assert cache_dir(index) == cache
        filler.unlink()

        report = scan(drive, index, jobs=1, progress=False)

        assert report["unchanged"] == 5 and report.thumbnails["redrawn"] == 5
        assert "5 thumbnails drawn again (missing or outdated)" in str(report)
        assert _thumbnails_present(index) == [True] * 5
        # the warnings say what is true now
        assert q(index, "SELECT count(*) FROM datasets WHERE warnings IS NOT NULL") == [(0,)]


def test_voxcat_thumbnails_missing_draws_those_a_full_disk_kept_out(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    with _tmpfs(tmp_path / "lab.voxcat", "1m") as cache:
        filler = _fill(cache)
        _drive, index = _scan_with_a_full_cache(tmp_path, rng)
        filler.unlink()

        r = _voxcat("thumbnails", "--missing", "--index", str(index), "-j", "1")

        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("drew 5 missing thumbnails (of 5 datasets with an image)")
        assert _thumbnails_present(index) == [True] * 5


@pytest.fixture
def drive(tmp_path: Path, rng: np.random.Generator) -> Path:
    """Four volumes and a NIfTI line (1-D: no thumbnail can be drawn from it)."""
    root = _tiffs(tmp_path / "drive", 4, rng)
    nib.save(nib.Nifti1Image(np.arange(16, dtype=np.int16), np.eye(4)), root / "line.nii")
    return root


def _delete_thumbnails(index: Path, n: int) -> list[str]:
    rows = q(index, "SELECT id, thumbnail FROM datasets WHERE thumbnail IS NOT NULL ORDER BY id")
    for _ident, rel in rows[:n]:
        (cache_dir(index) / from_db(rel)).unlink()
    return [r[0] for r in rows[:n]]


def test_a_rescan_draws_deleted_thumbnails_again_and_leaves_undrawable_ones(
    drive: Path, tmp_path: Path
) -> None:
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    assert _thumbnails_present(index).count(True) == 4
    (warnings,) = q(index, "SELECT warnings FROM datasets WHERE name = 'line.nii'")[0]
    assert warnings[0].startswith(UNDRAWABLE)
    _delete_thumbnails(index, 2)

    report = scan(drive, index, jobs=2, progress=False)

    assert report["unchanged"] == 5 and report.thumbnails == {"redrawn": 2, "unwritten": 0}
    assert _thumbnails_present(index).count(True) == 4
    # nothing left to draw: the next rescan draws nothing (the line is not tried again)
    assert scan(drive, index, jobs=1, progress=False).thumbnails["redrawn"] == 0


def test_voxcat_thumbnails_missing_reports_what_it_drew(
    drive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    deleted = _delete_thumbnails(index, 3)

    code = main(["thumbnails", "--missing", "--index", str(index), "-j", "1", "--json"])

    report = json.loads(capsys.readouterr().out)
    assert sorted(report["drawn"]) == sorted(deleted)
    assert report["considered"] == 5
    # the line was tried again (asked for explicitly) and failed again, with the cause
    assert [f["error"] for f in report["failed"]] == [
        f"{drive / 'line.nii'}: ValueError: cannot draw an array with dims ('x',)"
    ]
    assert code == 1
    assert _thumbnails_present(index).count(True) == 4
    assert main(["thumbnails", "--missing", "--index", str(index), "-j", "1"]) == 1
    assert capsys.readouterr().out.startswith("drew 0 missing thumbnails (of 5 datasets")
