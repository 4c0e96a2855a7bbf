"""Bad input: every broken thing on a drive gets a recorded error naming the file and
the cause, the scan goes on, and nothing already indexed is lost."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from catalog import open_catalog, scan
from catalog.index import listing
from catalog.paths import display, from_db, to_db

from .conftest import q


@pytest.fixture
def bad_drive(tmp_path: Path, volume: np.ndarray) -> Path:
    root = tmp_path / "bad"
    root.mkdir()
    tifffile.imwrite(root / "good.tif", volume)
    data = (root / "good.tif").read_bytes()
    (root / "truncated.tif").write_bytes(data[: len(data) // 3])
    (root / "zero.tif").write_bytes(b"")
    corrupt = bytearray(data)
    corrupt[4:8] = b"\xff\xff\xff\x7f"  # first IFD offset points past the end
    (root / "corrupt.tif").write_bytes(bytes(corrupt))
    Image.fromarray(volume[0].astype(np.uint8)).save(root / "png_named.tif", format="PNG")
    (root / "garbage.h5").write_bytes(b"definitely not hdf5" * 10)
    return root


def test_broken_files_are_recorded_and_the_rest_indexed(bad_drive: Path, tmp_path: Path) -> None:
    index = tmp_path / "x.duckdb"
    rep = scan(bad_drive, index, jobs=1, progress=False)
    status = {
        Path(from_db(p)).name: (s, e)
        for p, s, e in q(index, "SELECT path, status, error FROM datasets")
    }
    assert status["good.tif"][0] == "ok"
    for name, cause in [
        ("truncated.tif", ""),
        ("zero.tif", "empty file (0 bytes)"),
        ("corrupt.tif", ""),
        ("garbage.h5", ""),
    ]:
        st, err = status[name]
        assert st == "failed", name
        assert str(bad_drive / name) in err, err  # names the file
        assert cause in err
    # the PNG with a .tif name is read as what it is, with a recorded warning
    assert status["png_named.tif"][0] == "ok"
    fmt, warnings = q(index, "SELECT format, warnings FROM datasets WHERE name = 'png_named.tif'")[
        0
    ]
    assert fmt == "raster" and any("content is raster" in w for w in warnings)
    assert rep["failed"] == 4 and rep["added"] == 2
    issues = q(index, "SELECT severity, count(*) FROM scan_issues GROUP BY ALL ORDER BY 1")
    assert dict(issues)["error"] == 4 and dict(issues)["warning"] >= 1
    # failed files still have a checksum and size, so they can be verified and found
    assert q(index, "SELECT count(*) FROM datasets WHERE checksum IS NULL") == [(0,)]


def test_failed_files_do_not_block_or_repeat(bad_drive: Path, tmp_path: Path) -> None:
    index = tmp_path / "x.duckdb"
    scan(bad_drive, index, jobs=1, progress=False)
    again = scan(bad_drive, index, jobs=1, progress=False)
    assert again["unchanged"] == 6 and again["failed"] == 0
    retried = scan(bad_drive, index, jobs=1, progress=False, retry_failed=True)
    assert retried["failed"] == 4


def test_symlink_loops_and_dangling_links(tmp_path: Path, volume: np.ndarray) -> None:
    root = tmp_path / "links"
    (root / "a" / "b").mkdir(parents=True)
    tifffile.imwrite(root / "a" / "b" / "v.tif", volume)
    os.symlink("../..", root / "a" / "b" / "up")  # a loop through the tree
    os.symlink("self", root / "self")  # a link to itself
    os.symlink("/nonexistent/target.tif", root / "dangling.tif")
    os.symlink("a/b/v.tif", root / "alias.tif")  # a good link to a file
    index = tmp_path / "x.duckdb"
    rep = scan(root, index, jobs=1, progress=False)
    names = sorted(r[0] for r in q(index, "SELECT name FROM datasets"))
    assert names == ["alias.tif", "v.tif"]
    msgs = {Path(from_db(p)).name: m for p, m in q(index, "SELECT path, message FROM scan_issues")}
    assert "symlink loop" in msgs["self"]
    assert (
        "dangling symlink" in msgs["dangling.tif"]
        and "/nonexistent/target.tif" in msgs["dangling.tif"]
    )
    assert "symlink loop" in msgs["up"]
    assert rep["failed"] == 0


def test_odd_names(tmp_path: Path, volume: np.ndarray) -> None:
    root = tmp_path / "names"
    root.mkdir()
    raw = os.fsencode(root) + b"/scan_\xe9t\xe9_latin1.tif"  # not UTF-8
    tifffile.imwrite(os.fsdecode(raw), volume[:2])
    long_name = "v" * 240 + ".tif"
    tifffile.imwrite(root / long_name, volume[:2])
    tifffile.imwrite(root / "spaces & ünïcödé [1] (copy).tif", volume[:2])
    tifffile.imwrite(root / 'quote\'s "x"; DROP TABLE datasets;--.tif', volume[:2])
    index = tmp_path / "x.duckdb"
    rep = scan(root, index, jobs=1, progress=False)
    assert rep["added"] == 4 and rep["failed"] == 0
    paths = {from_db(p) for (p,) in q(index, "SELECT path FROM datasets")}
    assert os.fsdecode(raw) in paths  # the exact bytes round-trip
    assert all(os.path.exists(p) for p in paths)
    assert str(root / long_name) in paths
    # a rescan recognises all of them as unchanged
    assert scan(root, index, jobs=1, progress=False)["unchanged"] == 4
    # listed as paths open() takes, from DuckDB and from a snapshot (tests/test_paths.py
    # follows such names through every output); messages show the bytes as \xe9
    shown = set(open_catalog(index).df["path"])
    assert os.fsdecode(raw) in shown and all(os.path.exists(p) for p in shown)
    assert "\\xe9t\\xe9_latin1" in display(os.fsdecode(raw))
    assert listing.refresh(index, force=True)
    assert set(open_catalog(index).df["path"]) == shown


def _unprivileged() -> list[str]:
    """A command prefix that runs Python without root's power to read anything.

    As root, the DAC-override capabilities are dropped from the bounding set with
    ``setpriv`` (util-linux), so permission bits apply as to any user while the
    interpreter (perhaps under a private /root) stays readable to its owner.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and util-linux's setpriv is not installed")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--"]


def test_unreadable_files_and_folders(tmp_path: Path, volume: np.ndarray) -> None:
    """Permission errors, checked without root's power to read everything."""
    root = tmp_path / "drive"
    (root / "locked_dir").mkdir(parents=True)
    tifffile.imwrite(root / "ok.tif", volume)
    tifffile.imwrite(root / "secret.tif", volume)
    tifffile.imwrite(root / "locked_dir" / "inside.tif", volume)
    index = tmp_path / "x.duckdb"
    os.chmod(root / "secret.tif", 0o000)
    code = (
        "import sys; from catalog import scan; "
        "print(scan(sys.argv[1], sys.argv[2], jobs=1, progress=False))"
    )

    def run() -> str:
        out = subprocess.run(
            [*_unprivileged(), sys.executable, "-c", code, str(root), str(index)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    try:
        first = run()
        assert "FAILED" in first and "secret.tif" in first
        assert q(index, "SELECT status FROM datasets WHERE name = 'inside.tif'") == [("ok",)]
        # now the folder becomes unreadable: its datasets must not be lost or marked missing
        os.chmod(root / "locked_dir", 0o000)
        out = run()
        assert q(index, "SELECT status FROM datasets WHERE name = 'inside.tif'") == [("ok",)]
        status = {
            Path(from_db(p)).name: (s, e)
            for p, s, e in q(index, "SELECT path, status, error FROM datasets")
        }
        assert status["ok.tif"][0] == "ok"
        assert status["secret.tif"][0] == "failed"
        assert (
            "Permission denied" in status["secret.tif"][1]
            and "secret.tif" in status["secret.tif"][1]
        )
        issues = q(index, "SELECT path, message FROM scan_issues WHERE severity = 'error'")
        assert any(p == to_db(root / "locked_dir") and "Permission denied" in m for p, m in issues)
        assert "SKIPPED" in out and "cannot list folder: Permission denied" in out
        assert "reader failed" not in out  # one clear message, not one per reader
    finally:
        for p in (root / "locked_dir", root / "secret.tif"):
            if p.exists():
                os.chmod(p, 0o755)


def test_vanished_folder_is_marked_missing_then_restored(
    tmp_path: Path, volume: np.ndarray
) -> None:
    root = tmp_path / "d"
    (root / "sub").mkdir(parents=True)
    tifffile.imwrite(root / "sub" / "a.tif", volume)
    index = tmp_path / "x.duckdb"
    scan(root, index, jobs=1, progress=False)
    # the folder vanishes (an unplugged drive, a move out of the tree)
    (root / "sub").rename(tmp_path / "elsewhere")
    rep = scan(root, index, jobs=1, progress=False)
    assert rep["missing"] == 1
    assert q(index, "SELECT status FROM datasets") == [("missing",)]  # kept, marked
    (tmp_path / "elsewhere").rename(root / "sub")
    scan(root, index, jobs=1, progress=False)
    assert q(index, "SELECT status FROM datasets") == [("ok",)]
