"""The command line, run as users run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog.cli import main


@pytest.fixture
def small(tmp_path: Path, volume: np.ndarray) -> Path:
    root = tmp_path / "d"
    root.mkdir()
    tifffile.imwrite(root / "a.tif", volume)
    (root / "b.txt").write_text("x")
    return root


def test_scan_and_summary(small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = tmp_path / "i.duckdb"
    assert main(["scan", str(small), "--index", str(index), "--jobs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "added: 2" in out
    assert main(["scan", str(small), "--index", str(index), "--json", "-j", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["unchanged"] == 2
    assert main(["summary", "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert (
        "1 dataset (1 ok)" in out
        and "1 other file," in out
        and "a.tif" in out
        and "12x40x48" in out
    )


def test_index_from_environment(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = tmp_path / "env.duckdb"
    monkeypatch.setenv("VOXCAT_INDEX", str(index))
    assert main(["scan", str(small), "-q", "-j", "1"]) == 0
    assert index.exists()


def test_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(tmp_path / "missing"), "--index", str(tmp_path / "i.duckdb")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("voxcat: error:") and "no such file" in err
    assert main(["summary", "--index", str(tmp_path / "none.duckdb")]) == 1
    assert "no voxcat index" in capsys.readouterr().err


def test_strict_exit_code(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "zero.tif").write_bytes(b"")
    assert main(["scan", str(root), "--index", str(tmp_path / "i.duckdb"), "-q", "--strict"]) == 3


def test_readers_lists_every_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["readers"]) == 0
    out = capsys.readouterr().out
    for name in (
        "tiff",
        "slices",
        "zarr",
        "hdf5",
        "netcdf",
        "dicom",
        "nifti",
        "metaimage",
        "nrrd",
        "mrc",
        "raster",
    ):
        assert name in out
    assert "BROKEN" not in out


@pytest.mark.slow
def test_console_script_demo(tmp_path: Path) -> None:
    """`voxcat demo` as installed: writes the drive, scans it, prints the summary."""
    exe = Path(sys.executable).with_name("voxcat")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "catalog.cli"]
    out = subprocess.run(
        [*cmd, "demo", "--no-lab", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for fmt in (
        "slices",
        "hdf5",
        "tiff",
        "zarr",
        "netcdf",
        "dicom",
        "nifti",
        "mrc",
        "nrrd",
        "metaimage",
    ):
        assert fmt in text, fmt
    assert "failed: 2" in text  # empty.tif and truncated.tif are recorded
    again = subprocess.run(
        [*cmd, "demo", "--no-lab", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "added: 0" in again.stdout
