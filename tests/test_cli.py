"""The command line, run as users run it."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
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


# -- errors a user makes, and pipes closed early -----------------------------------------

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def _cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess:
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "catalog.cli", *args],
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        timeout=120,
        **kwargs,
    )


@pytest.fixture
def registered(tmp_path: Path) -> Path:
    """An index of imported rows no scan has described: no size, shape or voxel size."""
    index = tmp_path / "reg.duckdb"
    table = tmp_path / "t.csv"
    table.write_text("path,sample\nct/a.tif,S1\nct/b.nc,S2\nct/c.zarr,\n")
    assert main(["import-table", str(table), "-i", str(index)]) == 0
    return index


def test_search_table_of_rows_without_sizes(registered: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["search", "-i", str(registered)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "3 datasets" and len(lines) == 5
    a = next(line for line in lines if " a.tif " in line)
    assert a.split()[2:] == [
        "tiff",
        "-",
        "-",
        "-",
        "-",
        "-",
    ]  # format, mod, shape, voxel, level, size


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["search", "--acquired", "2024-13"], ["no month 13"]),
        (["search", "--acquired", "2024-02-30"], ["February 2024 has days 01-29"]),
        (["search", "--acquired", "2023-02-29..2024"], ["February 2023"]),
        (["search", "--status", "bogus"], ["'bogus'", "ok, failed, missing, offline, registered"]),
        (["search", "--where", "status=registred,ok"], ["'registred'"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    registered: Path, capsys, args: list[str], words: list[str]
) -> None:
    capsys.readouterr()
    assert main([*args, "-i", str(registered)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voxcat: error:") and err.count("\n") == 1, err
    for word in words:
        assert word in err


def test_a_file_that_is_not_an_index(tmp_path: Path, capsys) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# notes\n\nnot a database\n")
    for args in (["search", "x"], ["summary"], ["show", "abc"], ["tag", "abc", "-t", "t"]):
        assert main([*args, "--index", str(readme)]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "README.md is not a voxcat index" in err, err
    other = tmp_path / "other.duckdb"  # a DuckDB database of some other program
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (a INTEGER)")
    con.close()
    assert main(["summary", "-i", str(other)]) == 2
    assert "without voxcat's tables" in capsys.readouterr().err
    # as a user runs it: no traceback
    out = _cli("search", "--index", str(readme))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()]


def test_a_closed_pipe_ends_quietly(registered: Path) -> None:
    # the reader is gone before anything is written: every write fails with EPIPE
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        out = _cli("summary", "-i", str(registered), stdout=write_end)
    finally:
        os.close(write_end)
    assert out.returncode == 141 and out.stderr == "", out.stderr
    # and as typed in a shell
    cmd = f"{shlex.quote(sys.executable)} -m catalog.cli summary -i {shlex.quote(str(registered))}"
    shell = subprocess.run(
        ["bash", "-c", f"{cmd} | head -1"], capture_output=True, text=True, env=_env(), timeout=120
    )
    assert shell.returncode == 0 and "Traceback" not in shell.stderr and shell.stderr == ""
    assert shell.stdout.startswith("3 datasets") and shell.stdout.count("\n") == 1
