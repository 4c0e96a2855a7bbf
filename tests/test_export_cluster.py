"""Zarr exports converted on a real Dask distributed cluster (a scheduler and two
worker processes on 127.0.0.1): the same stores as a local export, a cancel that
cancels the tasks and leaves the export unfinished (resumed by the next run), the
``--scheduler`` option and an unreachable scheduler."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from catalog import export_catalog, open_catalog, scan, verify
from catalog.cli import main
from catalog.cluster import SCHEDULER_ENV
from catalog.errors import ClusterUnreachable, ExportCancelled
from catalog.export.resume import NAME as RESUME_LOG

from .clusters import local_cluster, peak_rss, tasks_done, tasks_held, worker_pids

pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

PUT = "_put_block-"  # the key names of the conversion's write tasks
MEMORY_LIMIT = 600_000_000  # bytes per worker (one thread each)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with local_cluster(n_workers=2, threads_per_worker=1, memory_limit=MEMORY_LIMIT) as c:
        yield c


@pytest.fixture(autouse=True)
def no_scheduler_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    monkeypatch.setenv("VOXCAT_DASK_CONNECT_TIMEOUT", "3")


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A drive of a uint16 volume (several write blocks, three levels), a float image,
    a segmentation and a small stack, scanned."""
    rng = np.random.default_rng(20261205)
    drive = tmp_path / "drive"
    drive.mkdir()
    tifffile.imwrite(
        drive / "vol.tif",
        rng.integers(0, 60000, (96, 1100, 1030), dtype=np.uint16),
        imagej=True,
        resolution=(1 / 0.65, 1 / 0.65),
        metadata={"spacing": 2.5, "unit": "um", "axes": "ZYX"},
    )
    tifffile.imwrite(drive / "img.tif", rng.random((700, 530), dtype=np.float32))
    tifffile.imwrite(drive / "lab.tif", rng.integers(0, 4, (20, 600, 520)).astype(np.uint8))
    tifffile.imwrite(
        drive / "small.tif", rng.integers(0, 255, (5, 64, 64), np.uint8), photometric="minisblack"
    )
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    for ident in cat:
        if cat.entry(ident).metadata["name"] == "lab.tif":
            cat.set(ident, data_level="segmentation")
    return index


def _stores(dest: Path) -> dict[str, Path]:
    return {p.relative_to(dest).as_posix(): p for p in sorted((dest / "data").rglob("*.zarr"))}


def _same_exports(a: Path, b: Path) -> int:
    """Both exports hold the same Zarr stores, array by array and value by value, with
    the same attributes; returns how many arrays were compared."""
    sa, sb = _stores(a), _stores(b)
    assert sa.keys() == sb.keys() and sa
    compared = 0
    for rel in sa:
        ga, gb = zarr.open_group(str(sa[rel]), mode="r"), zarr.open_group(str(sb[rel]), mode="r")
        assert dict(ga.attrs) == dict(gb.attrs)
        arrays_a = dict(ga.arrays()) | {
            f"{k}/{n}": x for k, g in ga.groups() for n, x in g.arrays()
        }
        arrays_b = dict(gb.arrays()) | {
            f"{k}/{n}": x for k, g in gb.groups() for n, x in g.arrays()
        }
        assert arrays_a.keys() == arrays_b.keys()
        for name, x in arrays_a.items():
            y = arrays_b[name]
            assert x.shape == y.shape and x.dtype == y.dtype and x.chunks == y.chunks
            assert np.array_equal(x[...], y[...], equal_nan=x.dtype.kind == "f"), f"{rel}/{name}"
            assert dict(x.attrs) == dict(y.attrs)
            compared += 1
    return compared


def test_a_zarr_export_converted_on_the_cluster_is_the_local_one(
    lab: Path, tmp_path: Path, cluster: Any
) -> None:
    address = cluster.scheduler_address
    here = export_catalog(open_catalog(lab), tmp_path / "here", mode="zarr", progress=False)
    before, pids = tasks_done(address, PUT), worker_pids(address)
    there = export_catalog(
        open_catalog(lab), tmp_path / "there", mode="zarr", progress=False, scheduler=address
    )
    assert tasks_done(address, PUT) > before  # the blocks were written by the workers
    assert worker_pids(address) == pids  # none was restarted (out of memory)
    if sys.platform.startswith("linux"):
        peaks = [peak_rss(pid) for pid in pids.values()]
        print(f"\nexport workers' peak RSS {[f'{p / 1e6:.0f} MB' for p in peaks]}")
        assert max(peaks) < MEMORY_LIMIT
    assert there.counts == here.counts
    assert {i: d["how"] for i, d in there.datasets.items()} == {
        i: d["how"] for i, d in here.datasets.items()
    }
    assert _same_exports(tmp_path / "here", tmp_path / "there") >= 4 * 2
    vol = next(p for r, p in _stores(tmp_path / "there").items() if r.endswith("vol.zarr"))
    levels = json.loads((vol / ".zattrs").read_text())["voxcat"]["levels"]
    assert levels[:2] == [[96, 1100, 1030], [96, 550, 515]] and len(levels) == 4
    assert verify(tmp_path / "there" / "voxcat.duckdb", progress=False).ok


class _AfterLoggedChunks:
    """A cancel flag set once a conversion has logged a chunk as written: a block task
    finished while others are still to run. With ``interrupt``, Ctrl-C then instead."""

    def __init__(self, dest: Path, interrupt: bool = False) -> None:
        self.dest, self.interrupt = dest, interrupt

    def is_set(self) -> bool:
        for log in self.dest.rglob(RESUME_LOG):
            lines = [json.loads(x) for x in log.read_text().splitlines() if x.endswith("}")]
            if any("chunks" in x and "header" not in x for x in lines):
                if self.interrupt:
                    raise KeyboardInterrupt
                return True
        return False


@pytest.mark.parametrize("how", ["cancel", "ctrl-c"])
def test_a_stopped_cluster_export_stops_its_tasks_and_resumes(
    lab: Path, tmp_path: Path, cluster: Any, how: str
) -> None:
    address = cluster.scheduler_address
    vol = [
        i for i in open_catalog(lab) if open_catalog(lab).entry(i).metadata["name"] == "vol.tif"
    ]
    dest = tmp_path / "there"
    with pytest.raises(KeyboardInterrupt if how == "ctrl-c" else ExportCancelled):
        export_catalog(
            (lab, vol), dest, mode="zarr", progress=False, scheduler=address,
            cancel=_AfterLoggedChunks(dest, interrupt=how == "ctrl-c"),
        )  # fmt: skip
    assert tasks_held(address, PUT) == []  # the tasks not run were cancelled
    # the tasks running were waited for: nothing is written after the export returned
    listing = sorted((p, p.stat().st_mtime_ns) for p in dest.rglob("*") if p.is_file())
    [log] = list(dest.rglob(RESUME_LOG))
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    header = next(x["header"] for x in lines if "header" in x)
    logged = sum(len(x["chunks"]) for x in lines if "chunks" in x and "header" not in x)
    total = int(np.prod([-(-n // c) for n, c in zip(header["shape"], header["chunks"])]))
    assert 1 <= logged < total  # stopped half way
    time.sleep(1.0)
    assert sorted((p, p.stat().st_mtime_ns) for p in dest.rglob("*") if p.is_file()) == listing
    params = json.loads((dest / ".voxcat-export" / "params.json").read_text())
    assert not params.get("complete")  # not registered as a finished export
    assert not _stores(dest)  # only the temporary store of the conversion
    report = export_catalog((lab, vol), dest, mode="zarr", progress=False, scheduler=address)
    assert report.resumed_chunks > 0  # the chunks the first run's tasks wrote were kept
    export_catalog((lab, vol), tmp_path / "here", mode="zarr", progress=False)
    assert _same_exports(tmp_path / "here", dest) >= 4
    assert verify(dest / "voxcat.duckdb", progress=False).ok


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_cli_converts_on_the_scheduler_and_a_missing_one_is_named(
    lab: Path, tmp_path: Path, cluster: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    address = cluster.scheduler_address
    nobody = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ClusterUnreachable, match=nobody):
        export_catalog(open_catalog(lab), tmp_path / "no", mode="zarr", scheduler=nobody)
    assert not (tmp_path / "no").exists()  # nothing written
    before = tasks_done(address, PUT)
    args = ["export", "--index", str(lab), "--mode", "zarr", "--json"]
    assert main([*args, "--scheduler", address, str(tmp_path / "cli")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["datasets"]) == 4
    assert tasks_done(address, PUT) > before
    assert verify(tmp_path / "cli" / "voxcat.duckdb", progress=False).ok
