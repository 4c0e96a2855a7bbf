"""``progress=`` callables and ``cancel=`` flags of ``scan`` and ``export_catalog``:
real scans of real TIFF files (seeded), real exports."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog import export_catalog, open_catalog, scan
from catalog.errors import Cancelled, ExportCancelled, ScanCancelled
from catalog.progress import Progress, Reporter

from .conftest import q


def write_volumes(folder: Path, n: int, seed: int = 7, shape=(6, 32, 40)) -> list[Path]:
    """``n`` small ImageJ TIFF volumes of seeded noise, in subfolders of ten."""
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(n):
        path = folder / f"batch{k // 10}" / f"vol_{k:03d}.tif"
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(
            path,
            rng.integers(0, 4000, size=shape, dtype=np.uint16),
            imagej=True,
            resolution=(2.0, 2.0),
            metadata={"spacing": 0.5, "unit": "um", "axes": "ZYX"},
        )
        paths.append(path)
    return paths


def test_a_scan_reports_its_progress_to_a_callable(tmp_path: Path, capsys) -> None:
    paths = write_volumes(tmp_path / "drive", 12)
    seen: list[Progress] = []
    report = scan(tmp_path / "drive", tmp_path / "lab.duckdb", jobs=1, progress=seen.append)
    assert report["added"] == 12
    phases = [p.phase for p in seen]
    assert phases[0] == "walking" and phases[-1] == "done"
    assert "reading" in phases and phases.index("walking") < phases.index("reading")
    last = seen[-1]
    total = sum(p.stat().st_size for p in paths)
    assert last.done == last.total == total and last.fraction == 1.0
    assert last.items == last.items_total == 12
    assert {p.extra["scan_id"] for p in seen} == {report.scan_id}
    reading = [p for p in seen if p.phase == "reading"]
    assert all(a.done <= b.done for a, b in itertools.pairwise(reading))
    assert "scanning" not in capsys.readouterr().err  # a callable replaces the bar

    # a rescan that reads nothing still ends with a report
    seen.clear()
    scan(tmp_path / "drive", tmp_path / "lab.duckdb", jobs=1, progress=seen.append)
    assert seen[-1].phase == "done" and seen[-1].items == 12 and seen[-1].fraction == 1.0


def test_progress_true_draws_a_plain_tqdm_bar(tmp_path: Path, capsys) -> None:
    write_volumes(tmp_path / "drive", 2)
    scan(tmp_path / "drive", tmp_path / "lab.duckdb", jobs=1, progress=True)
    assert "scanning" in capsys.readouterr().err
    with pytest.raises(TypeError, match="progress must be"):
        scan(tmp_path / "drive", tmp_path / "lab.duckdb", progress="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_cancelled_scan_keeps_what_it_finished_and_is_interrupted(
    tmp_path: Path, jobs: int
) -> None:
    write_volumes(tmp_path / "drive", 40)
    index = tmp_path / "lab.duckdb"
    stop = threading.Event()

    def watch(p: Progress) -> None:
        if p.phase == "reading" and p.items >= 5:
            stop.set()

    with pytest.raises(ScanCancelled) as caught:
        scan(tmp_path / "drive", index, jobs=jobs, progress=watch, cancel=stop, batch_size=2)
    assert isinstance(caught.value, Cancelled)
    ((status, scan_id),) = q(index, "SELECT status, scan_id FROM scans")
    assert status == "interrupted"
    saved = q(index, "SELECT count(*), count(*) FILTER (status <> 'ok') FROM datasets")[0]
    assert 5 <= saved[0] < 40 and saved[1] == 0  # no dataset blamed for the cancel
    # the next scan continues where it stopped
    report = scan(tmp_path / "drive", index, jobs=1)
    assert report["added"] == 40 - saved[0] and report["unchanged"] == saved[0]
    assert len(open_catalog(index)) == 40
    assert q(index, "SELECT status FROM scans WHERE scan_id = ?", [scan_id]) == [("interrupted",)]


def test_a_scan_cancelled_before_it_starts_walking_saves_nothing(tmp_path: Path) -> None:
    write_volumes(tmp_path / "drive", 3)
    index = tmp_path / "lab.duckdb"
    stop = threading.Event()
    stop.set()
    with pytest.raises(ScanCancelled, match="walking"):
        scan(tmp_path / "drive", index, jobs=1, cancel=stop)
    assert q(index, "SELECT status FROM scans") == [("interrupted",)]
    assert q(index, "SELECT count(*) FROM datasets") == [(0,)]


def test_the_reporter_throttles_but_lets_phases_and_forced_reports_through() -> None:
    seen: list[Progress] = []
    report = Reporter(seen.append, seconds=60)
    for k in range(100):
        report(Progress("reading", k, 100))
    report(Progress("reading", 100, 100), force=True)
    report(Progress("done", 100, 100))
    assert [(p.phase, p.done) for p in seen] == [("reading", 0), ("reading", 100), ("done", 100)]
    assert Progress("walking").fraction is None
    assert Progress("done", 0, 0).fraction == 1.0


# -- export ---------------------------------------------------------------------------


@pytest.fixture
def scanned(tmp_path: Path) -> Path:
    write_volumes(tmp_path / "drive", 6, seed=11, shape=(8, 64, 64))
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "drive", index, jobs=1, progress=False)
    return index


def test_an_export_reports_its_progress_to_a_callable(scanned: Path, tmp_path: Path) -> None:
    seen: list[Progress] = []
    cat = open_catalog(scanned)
    report = export_catalog(cat, tmp_path / "out", progress=seen.append)
    assert len(report.datasets) == 6
    assert seen[0].phase == "copying" and seen[-1].phase == "done"
    last = seen[-1]
    assert last.done == last.total == sum(int(s) for s in cat.df["size"])
    assert last.items == last.items_total == 6


@pytest.mark.parametrize("mode", ["copy", "zarr"])
def test_a_cancelled_export_stops_and_resumes_like_ctrl_c(
    scanned: Path, tmp_path: Path, mode: str
) -> None:
    cat = open_catalog(scanned)
    dest = tmp_path / "out"
    stop = threading.Event()

    def watch(p: Progress) -> None:
        if p.done > 0:
            stop.set()

    with pytest.raises(ExportCancelled):
        export_catalog(cat, dest, mode=mode, progress=watch, cancel=stop)
    assert dest.is_dir() and not (dest / "catalog.yaml").exists()  # kept, to be resumed
    report = export_catalog(cat, dest, mode=mode, progress=False)
    assert len(report.datasets) == 6 and (dest / "catalog.yaml").is_file()
    if mode == "copy":
        assert report.resumed_files >= 1
