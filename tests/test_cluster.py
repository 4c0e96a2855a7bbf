"""``verify`` on a real Dask distributed cluster (a scheduler and a worker process on
127.0.0.1): the same report and audit rows as the local threads, changes found,
``--scheduler`` > ``$VOXCAT_DASK_SCHEDULER``, and a named error for an address
nobody listens on."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from catalog import scan, verify
from catalog.cluster import SCHEDULER_ENV, map_on_cluster
from catalog.errors import BadSchedulerAddress, ClusterUnreachable
from catalog.index.audit import list_audit

from .clusters import local_cluster

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a real scheduler with one worker process (one thread)."""
    with local_cluster(n_workers=1, threads_per_worker=1) as cluster:
        yield cluster.scheduler_address


@pytest.fixture
def lab(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    """A drive of a 40-slice TIFF stack and three TIFF volumes, scanned."""
    drive = tmp_path / "drive"
    (drive / "rec").mkdir(parents=True)
    for z in range(40):
        tifffile.imwrite(
            drive / "rec" / f"rec_{z:03d}.tif", rng.integers(0, 255, (32, 32), np.uint8)
        )
    for name in ("a", "b", "c"):
        tifffile.imwrite(
            drive / f"{name}.tif",
            rng.integers(0, 255, (4, 32, 32), np.uint8),
            photometric="minisblack",
        )
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    return drive, index


@pytest.fixture(autouse=True)
def no_scheduler_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    monkeypatch.setenv("VOXCAT_DASK_CONNECT_TIMEOUT", "2")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _verify_rows(index: Path) -> list[dict[str, Any]]:
    """The audit rows of the newest verify run: (action, dataset, detail) each."""
    rows = list_audit(index, action="verify.", limit=None)
    runs = [k for k, r in enumerate(rows) if r["action"] == "verify.run"]
    newest = rows[runs[0] : runs[1]] if len(runs) > 1 else rows[runs[0] :]
    return sorted(
        ((r["action"], r["dataset"] or "", json.dumps(r["detail"], sort_keys=True)))
        for r in newest
    )


def _tasks_run(address: str) -> int:
    """How many verify tasks the scheduler has seen finish."""

    def count(dask_scheduler: Any) -> int:
        return sum(
            1
            for key, _start, finish, *_ in dask_scheduler.transition_log
            if str(key).startswith("_numbered_check-") and finish == "memory"
        )

    with distributed.Client(address, set_as_default=False) as client:
        return client.run_on_scheduler(count)


def test_verify_on_the_cluster_is_verify_here(lab, scheduler: str) -> None:
    _, index = lab
    here = verify(index, progress=False)
    rows_here = _verify_rows(index)
    before = _tasks_run(scheduler)
    there = verify(index, progress=False, scheduler=scheduler)
    assert _tasks_run(scheduler) > before  # the work was done on the cluster
    assert there.results == here.results
    assert (
        there.counts
        == here.counts
        == {
            "unchanged": 4,
            "modified": 0,
            "missing": 0,
            "unverifiable": 0,
        }
    )
    assert there.bytes_read == here.bytes_read > 0
    assert _verify_rows(index) == rows_here


def test_a_changed_and_a_missing_file_are_found_on_the_cluster(
    lab, scheduler: str, rng: np.random.Generator
) -> None:
    drive, index = lab
    tifffile.imwrite(
        drive / "a.tif", rng.integers(0, 255, (4, 32, 32), np.uint8), photometric="minisblack"
    )
    (drive / "rec" / "rec_017.tif").unlink()
    there = verify(index, progress=False, scheduler=scheduler)
    rows_there = _verify_rows(index)
    assert there.counts == {"unchanged": 2, "modified": 1, "missing": 1, "unverifiable": 0}
    assert not there.ok
    changed = {r["name"]: r for r in there.results.values() if r["outcome"] != "unchanged"}
    assert changed["a.tif"]["outcome"] == "modified"
    [bad] = [f for f in changed["a.tif"]["files"] if f["outcome"] == "modified"]
    assert bad["found"] != bad["expected"]
    [(_name, stack)] = [(n, r) for n, r in changed.items() if r["outcome"] == "missing"]
    assert [Path(f["path"]).name for f in stack["files"] if f["outcome"] == "missing"] == [
        "rec_017.tif"
    ]
    here = verify(index, progress=False)
    assert here.results == there.results
    assert _verify_rows(index) == rows_there


def test_the_environment_variable_names_the_scheduler(
    lab, scheduler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, index = lab
    monkeypatch.setenv(SCHEDULER_ENV, scheduler)
    before = _tasks_run(scheduler)
    assert verify(index, progress=False).ok
    assert _tasks_run(scheduler) > before
    # the argument wins over the variable
    nobody = f"tcp://127.0.0.1:{_free_port()}"
    monkeypatch.setenv(SCHEDULER_ENV, nobody)
    assert verify(index, progress=False, scheduler=scheduler).ok
    with pytest.raises(ClusterUnreachable, match=re.escape(nobody)):
        verify(index, progress=False)


def test_an_unreachable_scheduler_is_a_named_error(lab) -> None:
    _, index = lab
    runs = len(list_audit(index, action="verify.run", limit=None))
    nobody = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ClusterUnreachable) as caught:
        verify(index, progress=False, scheduler=nobody)
    assert caught.value.address == nobody
    assert nobody in str(caught.value) and "dask worker" in str(caught.value)
    assert isinstance(caught.value, ConnectionError)
    assert len(list_audit(index, action="verify.run", limit=None)) == runs  # nothing logged
    with pytest.raises(BadSchedulerAddress, match=re.escape("http://127.0.0.1:8786")):
        verify(index, progress=False, scheduler="http://127.0.0.1:8786")


def test_a_failing_task_stops_the_map_with_its_error(scheduler: str) -> None:
    got: list[float] = []
    with pytest.raises(ValueError, match="math domain error"):
        map_on_cluster(scheduler, math.sqrt, [-1.0], got.append)
    map_on_cluster(scheduler, math.sqrt, [4.0, 9.0, 16.0], got.append)
    assert sorted(got) == [2.0, 3.0, 4.0]


def test_a_failing_task_can_give_a_result_instead(scheduler: str) -> None:
    got: list[Any] = []
    clients: list[Any] = []
    map_on_cluster(
        scheduler,
        math.sqrt,
        [4.0, -1.0, 9.0],
        got.append,
        failed=lambda item, exc: ("failed", item, str(exc)),
        on_client=clients.append,
    )
    assert sorted(got, key=str) == sorted(
        [2.0, 3.0, ("failed", -1.0, "math domain error")], key=str
    )
    assert len(clients) == 1 and clients[0].status == "closed"  # made here, closed here


def test_verify_reports_progress_and_stops_on_cancel(lab, scheduler: str) -> None:
    import threading

    from catalog.errors import VerifyCancelled

    _, index = lab
    runs = len(list_audit(index, action="verify.run", limit=None))
    seen: list[Any] = []
    report = verify(index, progress=seen.append, scheduler=scheduler)
    assert report.ok
    assert seen[-1].phase == "verifying" and seen[-1].done == seen[-1].total == 43
    assert seen[-1].extra["scheduler"] == scheduler
    stop = threading.Event()
    stop.set()
    for where in (scheduler, None):
        with pytest.raises(VerifyCancelled, match="nothing was recorded"):
            verify(index, progress=False, scheduler=where, cancel=stop)
    assert len(list_audit(index, action="verify.run", limit=None)) == runs + 1


def _slow_double(x: int) -> int:
    import time

    time.sleep(0.3)
    return 2 * x


def test_losing_the_scheduler_midway_is_a_named_error() -> None:
    import threading

    got: list[int] = []
    cluster = distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0"
    )
    address = cluster.scheduler_address
    with cluster:

        def close_after_first(x: int) -> None:
            got.append(x)
            if len(got) == 1:
                threading.Thread(target=cluster.close).start()

        with pytest.raises(ClusterUnreachable, match="lost the scheduler while working"):
            map_on_cluster(address, _slow_double, list(range(40)), close_after_first)
    assert 1 <= len(got) < 40


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ, **(env or {}))
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), full.get("PYTHONPATH")) if p)
    return subprocess.run(
        [sys.executable, "-m", "catalog.cli", *args],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def test_the_cli_verifies_on_the_scheduler_it_is_given(lab, scheduler: str) -> None:
    drive, index = lab
    nobody = f"tcp://127.0.0.1:{_free_port()}"
    before = _tasks_run(scheduler)
    # the option wins over the variable
    out = _cli(
        "verify", "--index", str(index), "--scheduler", scheduler, "--json",
        env={SCHEDULER_ENV: nobody},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["counts"]["unchanged"] == 4
    assert _tasks_run(scheduler) > before

    (drive / "b.tif").write_bytes(b"not the same bytes")
    out = _cli("verify", "--index", str(index), "--scheduler", scheduler)
    assert out.returncode == 4, out.stderr
    assert "MODIFIED" in out.stdout and "b.tif" in out.stdout

    out = _cli("verify", "--index", str(index), env={SCHEDULER_ENV: nobody})
    assert out.returncode == 1
    assert out.stderr.startswith("voxcat: error: cannot reach the Dask scheduler at " + nobody)
