"""Preview pyramids built on a real Dask distributed cluster (a scheduler and two worker
processes on 127.0.0.1, each with a small memory limit): the same arrays as the local
build, a volume bigger than a worker's memory built with every worker under its limit
and none restarted, cancel and Ctrl-C leaving nothing registered, ``--scheduler`` and
``$VOXCAT_DASK_SCHEDULER``."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from catalog import open_catalog, scan
from catalog.cli import main
from catalog.cluster import SCHEDULER_ENV
from catalog.errors import PreviewCancelled
from catalog.index.audit import list_audit
from catalog.preview import ensure_preview, find_preview, preview_job
from catalog.preview.batch import build_previews
from catalog.preview.store import previews_dir

from .clusters import local_cluster, peak_rss, tasks_done, tasks_held, worker_pids

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

MEMORY_LIMIT = 400_000_000  # bytes per worker (one thread each)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes of one thread and 400 MB each."""
    with local_cluster(n_workers=2, threads_per_worker=1, memory_limit=MEMORY_LIMIT) as c:
        yield c


@pytest.fixture(autouse=True)
def no_scheduler_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    monkeypatch.setenv("VOXCAT_DASK_CONNECT_TIMEOUT", "5")


def _volume(path: Path, shape: tuple[int, ...], seed: int) -> None:
    """A contiguous uint16 TIFF of random values, written 16 planes at a time."""
    rng = np.random.default_rng(seed)
    out = tifffile.memmap(path, shape=shape, dtype=np.uint16, photometric="minisblack")
    for z in range(0, shape[0], 16):
        out[z : z + 16] = rng.integers(0, 4000, out[z : z + 16].shape, dtype=np.uint16)
    out.flush()
    del out


def _two_indexes(tmp_path: Path, shape: tuple[int, ...], seed: int = 7) -> tuple[Path, Path, str]:
    """The volume scanned into one index, and a copy of that index (its own previews)."""
    drive = tmp_path / "drive"
    drive.mkdir()
    _volume(drive / "vol.tif", shape, seed)
    here = tmp_path / "here.duckdb"
    scan(drive, here, jobs=1, progress=False)
    there = tmp_path / "there.duckdb"
    shutil.copy(here, there)
    [ident] = list(open_catalog(here))
    return here, there, ident


def _same_levels(a: Path, b: Path) -> list[tuple[int, ...]]:
    """Every level of two previews holds the same values (compared 64 planes at a time);
    returns the level shapes."""
    ga, gb = zarr.open_group(str(a), mode="r"), zarr.open_group(str(b), mode="r")
    assert sorted(ga.array_keys()) == sorted(gb.array_keys())
    shapes = []
    for key in sorted(ga.array_keys(), key=int):
        x, y = ga[key], gb[key]
        assert x.shape == y.shape and x.dtype == y.dtype and x.chunks == y.chunks
        for z in range(0, x.shape[0], 64):
            assert np.array_equal(x[z : z + 64], y[z : z + 64]), f"level {key} planes {z}.."
        shapes.append(tuple(x.shape))
    attrs_a, attrs_b = dict(ga.attrs), dict(gb.attrs)
    for attrs in (attrs_a, attrs_b):
        for name in ("created", "dataset_id", "source"):
            attrs["voxcat"].pop(name)
    assert attrs_a == attrs_b
    return shapes


def _tasks_run(address: str) -> int:
    """How many block tasks of preview builds the scheduler has seen finish."""
    return tasks_done(address, "build_block-")


def _no_builds_left(index: Path) -> None:
    base = previews_dir(index)
    assert not base.exists() or not list(base.iterdir())  # no temporary folder either
    assert not list_audit(index, action="preview.built", limit=None)


def test_a_pyramid_built_on_the_cluster_is_the_local_one(tmp_path: Path, cluster: Any) -> None:
    here, there, ident = _two_indexes(tmp_path, (70, 1100, 600))
    local = ensure_preview(here, ident, min_bytes=0)
    before = _tasks_run(cluster.scheduler_address)
    seen: list[float] = []
    remote = ensure_preview(
        there, ident, min_bytes=0, scheduler=cluster.scheduler_address, progress=seen.append
    )
    assert _tasks_run(cluster.scheduler_address) > before  # the blocks were built there
    assert local is not None and remote is not None
    assert _same_levels(local, remote) == [(70, 1100, 600), (35, 550, 300), (18, 275, 150)]
    assert seen and seen[-1] == 1.0
    assert find_preview(there, ident) == remote
    [built] = list_audit(there, action="preview.built", limit=None)
    assert built["dataset"] == ident and built["detail"]["levels"][0] == [70, 1100, 600]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def test_a_volume_bigger_than_a_worker_builds_within_its_memory(
    tmp_path: Path, cluster: Any
) -> None:
    shape = (520, 1100, 1000)  # uint16: 1.14 GB, nearly three times a worker's limit
    here, there, ident = _two_indexes(tmp_path, shape, seed=11)
    nbytes = int(np.prod(shape)) * 2
    assert nbytes > 2.5 * MEMORY_LIMIT
    address = cluster.scheduler_address
    pids = worker_pids(address)
    t0 = time.perf_counter()
    local = ensure_preview(here, ident, min_bytes=0)
    t1 = time.perf_counter()
    remote = ensure_preview(there, ident, min_bytes=0, scheduler=address)
    t2 = time.perf_counter()
    assert worker_pids(address) == pids  # no worker was killed or restarted
    with distributed.Client(address, set_as_default=False) as client:
        limits = {w["id"]: w["memory_limit"] for w in client.scheduler_info()["workers"].values()}
        # distributed's own view: the most memory each worker's monitor saw
        monitored = client.run(lambda dask_worker: max(dask_worker.monitor.quantities["memory"]))
    assert set(limits.values()) == {MEMORY_LIMIT}
    peaks = {w: peak_rss(pid) for w, pid in pids.items()}
    print(
        f"\nvolume {nbytes / 1e9:.2f} GB; worker limit {MEMORY_LIMIT / 1e6:.0f} MB; "
        f"peak RSS {', '.join(f'{p / 1e6:.0f} MB' for p in peaks.values())}; "
        f"monitored {', '.join(f'{m / 1e6:.0f} MB' for m in monitored.values())}; "
        f"local {t1 - t0:.1f} s, cluster {t2 - t1:.1f} s"
    )
    assert all(p < MEMORY_LIMIT for p in peaks.values()), peaks
    assert all(m < MEMORY_LIMIT for m in monitored.values()), monitored
    assert local is not None and remote is not None
    assert _same_levels(local, remote) == [(520, 1100, 1000), (260, 550, 500), (130, 275, 250)]


@pytest.mark.parametrize("how", ["cancel", "ctrl-c"])
def test_a_stopped_cluster_build_leaves_nothing(tmp_path: Path, cluster: Any, how: str) -> None:
    _, there, ident = _two_indexes(tmp_path, (130, 900, 800))
    address = cluster.scheduler_address
    stop = threading.Event()

    def progress(fraction: float) -> None:
        if fraction > 0:  # a first block is written: stop now
            if how == "ctrl-c":
                raise KeyboardInterrupt
            stop.set()

    expected = KeyboardInterrupt if how == "ctrl-c" else PreviewCancelled
    before = tasks_done(address, "build_block-")
    with pytest.raises(expected):
        ensure_preview(
            there, ident, min_bytes=0, scheduler=address, progress=progress, cancel=stop
        )
    stopped = tasks_done(address, "build_block-") - before
    assert find_preview(there, ident) is None
    _no_builds_left(there)
    # the tasks not run were cancelled: the scheduler holds none of them any more
    assert tasks_held(address, "build_block-") == []
    time.sleep(1.0)  # a task still running would write into the removed folder now
    _no_builds_left(there)
    # built again, completely, from scratch: many more tasks than the stopped build ran
    before = tasks_done(address, "build_block-")
    assert ensure_preview(there, ident, min_bytes=0, scheduler=address) == find_preview(
        there, ident
    )
    assert 1 <= stopped < tasks_done(address, "build_block-") - before


def test_a_background_job_on_the_cluster_cancels(tmp_path: Path, cluster: Any) -> None:
    _, there, ident = _two_indexes(tmp_path, (130, 900, 800))
    job = preview_job(there, ident, min_bytes=0, bar=False, scheduler=cluster.scheduler_address)
    while job.progress == 0 and not job.done():
        time.sleep(0.01)
    job.cancel()
    with pytest.raises(PreviewCancelled):
        job.result(timeout=120)
    assert job.cancelled()
    _no_builds_left(there)


def test_the_cli_and_the_variable_name_the_scheduler(
    tmp_path: Path, cluster: Any, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    _volume(drive / "a.tif", (64, 300, 200), 1)
    _volume(drive / "b.tif", (64, 200, 300), 2)
    tifffile.imwrite(drive / "broken.tif", np.ones((64, 200, 200), np.uint16))
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    ids = {open_catalog(index).entry(i).metadata["name"]: i for i in open_catalog(index)}
    broken = drive / "broken.tif"
    with open(broken, "r+b") as fh:  # damaged after the scan: a worker cannot read it
        fh.truncate(broken.stat().st_size // 3)
    address = cluster.scheduler_address
    before = _tasks_run(address)
    args = ["preview", "--index", str(index), "--min-size", "1KB", "--json"]
    assert main([*args, "--scheduler", address]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["built"] == 2 and report["counts"]["failed"] == 1
    [failed] = report["failed"]
    assert "broken.tif" in failed["dataset"] and "truncated or corrupt TIFF" in failed["error"]
    assert _tasks_run(address) > before
    assert find_preview(index, ids["a.tif"]) and find_preview(index, ids["b.tif"])
    assert find_preview(index, ids["broken.tif"]) is None
    assert not [p for p in previews_dir(index).iterdir() if p.name.startswith(".")]

    # the variable names the scheduler when no option does
    shutil.rmtree(previews_dir(index))
    monkeypatch.setenv(SCHEDULER_ENV, address)
    before = _tasks_run(address)
    report = build_previews(index, [ids["a.tif"]], min_bytes=1024, progress=False)
    assert report.counts["built"] == 1 and _tasks_run(address) > before
