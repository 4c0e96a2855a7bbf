"""``scan`` on a real Dask distributed cluster (a scheduler in this process and one
worker process on 127.0.0.1): the same rows and thumbnails as the local pool, the
scheduler chosen by argument > ``$VOXCAT_DASK_SCHEDULER`` > Dask's configuration,
cancel cancelling the tasks, an unreachable scheduler failing before anything is
written, and a task that raises, or whose worker dies, failing only its dataset."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
import tifffile

from catalog import scan
from catalog.cluster import SCHEDULER_ENV, map_on_cluster, scheduler_address
from catalog.errors import ClusterUnreachable, ScanCancelled
from catalog.index import cache_dir, connect
from catalog.scanner import run as run_mod
from catalog.scanner.worker import process_on_cluster

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A real scheduler with one worker process (one thread); a task whose worker
    dies is tried once more, then fails with ``KilledWorker``."""
    old = os.environ.get("PYTHONPATH")
    # the worker process imports this checkout's catalog and this test module
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), old) if p)
    try:
        with (
            dask.config.set({"distributed.scheduler.allowed-failures": 1}),
            distributed.LocalCluster(
                n_workers=1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",
            ) as cluster,
        ):
            yield cluster.scheduler_address
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@pytest.fixture(autouse=True)
def no_scheduler_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    monkeypatch.setenv("VOXCAT_DASK_CONNECT_TIMEOUT", "2")


def _drive(root: Path, rng: np.random.Generator, volumes: int = 3) -> Path:
    """A 20-slice TIFF stack, ``volumes`` TIFF volumes, a text file and a broken TIFF."""
    drive = root / "drive"
    (drive / "rec").mkdir(parents=True)
    for z in range(20):
        tifffile.imwrite(
            drive / "rec" / f"rec_{z:03d}.tif", rng.integers(0, 255, (48, 40), np.uint8)
        )
    for k in range(volumes):
        tifffile.imwrite(
            drive / f"vol{k:02d}.tif",
            rng.integers(0, 4000, (6, 64, 48), np.uint16),
            photometric="minisblack",
        )
    (drive / "notes.txt").write_text("sample notes\n")
    (drive / "broken.tif").write_bytes(b"II*\x00" + bytes(rng.integers(0, 255, 200, np.uint8)))
    return drive


def _rows(index: Path) -> list[tuple[Any, ...]]:
    with connect(index, read_only=True, cached=False) as con:
        return con.execute(
            "SELECT id, path, status, error, checksum, shape, dtype, axes, spacing, thumbnail, "
            "n_files, warnings FROM datasets ORDER BY path"
        ).fetchall()


def _files(index: Path) -> list[tuple[Any, ...]]:
    with connect(index, read_only=True, cached=False) as con:
        return con.execute("SELECT path, dataset_id, checksum FROM files ORDER BY path").fetchall()


def _tasks(address: str, prefix: str) -> tuple[int, int]:
    """How many tasks whose key starts with ``prefix`` the scheduler has seen finish,
    and how many it still holds (queued, processing or in memory)."""

    def count(dask_scheduler: Any) -> tuple[int, int]:
        done = sum(
            1
            for key, _start, finish, *_ in dask_scheduler.transition_log
            if str(key).startswith(prefix) and finish == "memory"
        )
        held = sum(1 for key in dask_scheduler.tasks if str(key).startswith(prefix))
        return done, held

    with distributed.Client(address, set_as_default=False) as client:
        return client.run_on_scheduler(count)


def test_a_scan_on_the_cluster_writes_what_a_local_scan_writes(
    tmp_path: Path, rng: np.random.Generator, scheduler: str
) -> None:
    drive = _drive(tmp_path, rng)
    here, there = tmp_path / "here" / "lab.duckdb", tmp_path / "there" / "lab.duckdb"
    here.parent.mkdir()
    there.parent.mkdir()
    local = scan(drive, here, jobs=2, progress=False)
    before, _ = _tasks(scheduler, "process_on_cluster-")
    seen: list[dict[str, Any]] = []
    remote = scan(drive, there, progress=lambda p: seen.append(dict(p.extra)), scheduler=scheduler)
    done, held = _tasks(scheduler, "process_on_cluster-")
    assert done - before == 6  # stack, 3 volumes, notes, broken: each a task on the cluster
    assert held == 0
    assert remote.counts == local.counts
    assert remote.counts["failed"] == 1  # broken.tif, with its cause
    assert remote.failed == local.failed
    assert _rows(there) == _rows(here)
    assert _files(there) == _files(here)
    thumbs = [r[9] for r in _rows(there) if r[9]]
    assert len(thumbs) == 4  # the stack and the volumes
    for rel in thumbs:  # written by this process, byte for byte the local pool's
        assert (cache_dir(there) / rel).read_bytes() == (cache_dir(here) / rel).read_bytes()
    assert all(e.get("scheduler") == scheduler for e in seen)
    assert seen[-1]["dashboard"].startswith("http://127.0.0.1:")
    # a rescan reads nothing and starts no task
    again = scan(drive, there, progress=False, scheduler=scheduler)
    assert again.counts["unchanged"] == 6
    assert _tasks(scheduler, "process_on_cluster-")[0] == done


def test_missing_thumbnails_are_drawn_on_the_cluster(
    tmp_path: Path, rng: np.random.Generator, scheduler: str
) -> None:
    drive = _drive(tmp_path, rng)
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    rels = [r[9] for r in _rows(index) if r[9]]
    originals = {rel: (cache_dir(index) / rel).read_bytes() for rel in rels}
    for rel in rels:
        (cache_dir(index) / rel).unlink()
    before, _ = _tasks(scheduler, "draw_one-")
    report = scan(drive, index, progress=False, scheduler=scheduler)
    assert report.thumbnails["redrawn"] == 4
    assert _tasks(scheduler, "draw_one-")[0] - before == 4
    assert {rel: (cache_dir(index) / rel).read_bytes() for rel in rels} == originals


def test_the_scheduler_comes_from_the_argument_the_environment_or_dask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert scheduler_address() is None
    with dask.config.set({"scheduler-address": "tcp://dask-config:8786"}):
        assert scheduler_address() == "tcp://dask-config:8786"
        monkeypatch.setenv(SCHEDULER_ENV, "tcp://env:8786")
        assert scheduler_address() == "tcp://env:8786"
        assert scheduler_address("tcp://given:8786") == "tcp://given:8786"


def test_a_scan_takes_its_scheduler_from_dask_configuration(
    tmp_path: Path, rng: np.random.Generator, scheduler: str
) -> None:
    drive = _drive(tmp_path, rng, volumes=1)
    index = tmp_path / "lab.duckdb"
    before, _ = _tasks(scheduler, "process_on_cluster-")
    with dask.config.set({"scheduler-address": scheduler}):
        report = scan(drive, index, progress=False)
    assert report.counts["added"] == 3
    assert _tasks(scheduler, "process_on_cluster-")[0] - before == 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_fails_before_anything_is_written(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    drive = _drive(tmp_path, rng, volumes=1)
    index = tmp_path / "lab.duckdb"
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ClusterUnreachable, match=f"cannot reach the Dask scheduler at {address}"):
        scan(drive, index, progress=False, scheduler=address)
    assert not index.exists()
    assert not cache_dir(index).exists()


def _slow(cand: Any, thumbnails: bool = True, full_checksums: bool = False) -> Any:
    """Cluster work for the cancel test: a dataset takes 0.3 s."""
    time.sleep(0.3)
    return process_on_cluster(cand, thumbnails, full_checksums)


def test_cancel_cancels_the_tasks_on_the_cluster(
    tmp_path: Path, rng: np.random.Generator, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = _drive(tmp_path, rng, volumes=24)
    index = tmp_path / "lab.duckdb"
    monkeypatch.setattr(run_mod, "process_on_cluster", _slow)
    stop = threading.Event()

    def progress(p: Any) -> None:
        if p.phase == "reading" and p.items >= 1:
            stop.set()  # after the first dataset came back

    before, _ = _tasks(scheduler, "_slow-")
    with pytest.raises(ScanCancelled):
        scan(drive, index, progress=progress, cancel=stop, scheduler=scheduler, batch_seconds=0)
    done, held = _tasks(scheduler, "_slow-")
    assert done - before < 10  # of 28: the rest were cancelled, not run
    assert held == 0  # nothing left queued or running on the cluster
    with connect(index, read_only=True, cached=False) as con:
        status = con.execute("SELECT status FROM scans").fetchall()
        saved = con.execute("SELECT count(*) FROM datasets").fetchone()
    assert status == [("interrupted",)]
    assert saved is not None and 1 <= saved[0] < 28  # finished datasets are kept


def _raise_on_vol01(cand: Any, thumbnails: bool = True, full_checksums: bool = False) -> Any:
    """Cluster work: raises on the worker for ``vol01.tif``."""
    if cand.source.path.name == "vol01.tif":
        raise MemoryError("worker memory limit reached")
    return process_on_cluster(cand, thumbnails, full_checksums)


def _die_on_vol01(cand: Any, thumbnails: bool = True, full_checksums: bool = False) -> Any:
    """Cluster work: kills its worker process on ``vol01.tif`` (every try)."""
    if cand.source.path.name == "vol01.tif":
        os.kill(os.getpid(), signal.SIGKILL)
    return process_on_cluster(cand, thumbnails, full_checksums)


@pytest.mark.parametrize(
    ("work", "cause"),
    [
        (_raise_on_vol01, "MemoryError: worker memory limit reached (on the Dask cluster)"),
        (_die_on_vol01, "the Dask workers reading it died"),
    ],
)
def test_a_task_that_fails_on_the_cluster_fails_only_its_dataset(
    tmp_path: Path,
    rng: np.random.Generator,
    scheduler: str,
    monkeypatch: pytest.MonkeyPatch,
    work: Any,
    cause: str,
) -> None:
    drive = _drive(tmp_path, rng)
    index = tmp_path / "lab.duckdb"
    monkeypatch.setattr(run_mod, "process_on_cluster", work)
    report = scan(drive, index, progress=False, scheduler=scheduler)
    assert report.counts["added"] == 4  # the stack, vol00, vol02 and notes.txt
    assert report.counts["failed"] == 2  # broken.tif and vol01.tif
    errors = {Path(p).name: e for p, e in report.failed}
    assert cause in errors["vol01.tif"]
    with connect(index, read_only=True, cached=False) as con:
        row = con.execute(
            "SELECT status, error FROM datasets WHERE path LIKE '%vol01.tif'"
        ).fetchone()
        scans = con.execute("SELECT status FROM scans").fetchall()
    assert row is not None and row[0] == "failed" and cause in row[1]
    assert scans == [("done",)]
    # the worker that died is replaced: the next scan works on the cluster
    monkeypatch.setattr(run_mod, "process_on_cluster", process_on_cluster)
    again = scan(drive, index, progress=False, scheduler=scheduler, retry_failed=True)
    assert again.counts["failed"] == 1  # only broken.tif


def _die_late(item: str) -> str:
    """Cluster work: ``"die"`` kills its worker 0.3 s in (every try); others return."""
    if item == "die":
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    return item


def test_a_result_taken_before_its_worker_died_counts(scheduler: str) -> None:
    # "kept" finishes and its result is delivered; then "die" kills the worker that
    # held it, so Dask resets "kept" to pending and computes it again. The result
    # already delivered is the result: "kept" is not a failure.
    slept: list[bool] = []

    def slow_first_check() -> None:
        if not slept:
            slept.append(True)
            time.sleep(2.0)  # the worker dies meanwhile

    got: list[Any] = []
    map_on_cluster(
        scheduler,
        _die_late,
        ["kept", "die", "innocent"],
        got.append,
        check=slow_first_check,
        failed=lambda item, exc: ("failed", item, type(exc).__name__),
    )
    # "innocent" waited on the same one-thread worker, died with it and was blamed by
    # Dask; tried again alone, it works
    assert sorted(got, key=str) == [("failed", "die", "KilledWorker"), "innocent", "kept"]


def test_voxcat_scan_scheduler_on_the_command_line(
    tmp_path: Path, rng: np.random.Generator, scheduler: str
) -> None:
    import subprocess
    import sys

    drive = _drive(tmp_path, rng, volumes=1)
    index = tmp_path / "lab.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO), "VOXCAT_DASK_CONNECT_TIMEOUT": "2"}
    env.pop(SCHEDULER_ENV, None)
    cmd = [sys.executable, "-m", "catalog.cli", "scan", str(drive), "--index", str(index), "-q"]
    nobody = f"tcp://127.0.0.1:{_free_port()}"
    out = subprocess.run([*cmd, "--scheduler", nobody], env=env, capture_output=True, text=True)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1  # one line, no traceback
    assert lines[0].startswith(f"voxcat: error: cannot reach the Dask scheduler at {nobody}: ")
    assert not index.exists()
    before, _ = _tasks(scheduler, "process_on_cluster-")
    out = subprocess.run(
        cmd, env={**env, SCHEDULER_ENV: scheduler}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "added: 3" in out.stdout and "failed: 1" in out.stdout, out.stdout
    assert _tasks(scheduler, "process_on_cluster-")[0] - before == 4


def test_sigterm_stops_a_scan_on_the_cluster_and_its_tasks(
    tmp_path: Path, rng: np.random.Generator, scheduler: str
) -> None:
    import subprocess
    import sys

    drive = _drive(tmp_path, rng, volumes=3)
    index = tmp_path / "lab.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO), SCHEDULER_ENV: scheduler}
    with distributed.Client(scheduler, set_as_default=False) as client:

        def hold(name: str) -> None:  # occupies the only worker thread until released
            distributed.Event(name).wait(120)

        gate = distributed.Event("voxcat-sigterm-hold", client=client)
        blocker = client.submit(hold, "voxcat-sigterm-hold", pure=False)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "catalog.cli", "scan", str(drive), "--index", str(index)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 60
            while _tasks(scheduler, "process_on_cluster-")[1] < 6:  # all queued on the cluster
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the scan's tasks never reached the cluster"
                time.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
            assert proc.returncode == 130, err
            assert _tasks(scheduler, "process_on_cluster-")[1] == 0
        finally:
            gate.set()
            blocker.result(timeout=60)
    with connect(index, read_only=True, cached=False) as con:
        assert con.execute("SELECT status FROM scans").fetchall() == [("interrupted",)]
