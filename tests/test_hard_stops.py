"""Hard stops of real scans: ``kill -9`` and SIGTERM of ``voxcat scan``, and the death
of the Jupyter server running a scan job, leave no process behind; SIGTERM stops a
scan like Ctrl-C (finished datasets saved, the scan marked interrupted, exit 130)."""

from __future__ import annotations

import datetime
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
import tifffile

import catalog
from catalog import scan
from catalog.index import connect, transaction

from .servers import answering_process, free_port, jupyter_server_argv

N_FILES = 200
SETTLE_SECONDS = 5.0  # how long a dead scan's processes may take to go


def _env() -> dict[str, str]:
    home = str(Path(catalog.__file__).resolve().parents[1])  # this checkout first
    return {**os.environ, "PYTHONPATH": os.pathsep.join([home, os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def tree(tmp_path: Path, rng: np.random.Generator) -> Path:
    """Enough TIFF volumes that two workers are still busy seconds into the scan."""
    root = tmp_path / "tree"
    for i in range(N_FILES):
        folder = root / f"run_{i // 25:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(
            folder / f"vol_{i:04d}.tif", rng.integers(0, 60000, (8, 128, 128), dtype=np.uint16)
        )
    return root


def _committed(index: Path) -> int:
    if not index.exists():
        return 0
    try:
        with connect(index, read_only=True, timeout=5, cached=False) as con:
            return con.execute("SELECT count(*) FROM datasets").fetchone()[0]
    except Exception:  # not created yet, or locked by the scan for longer
        return 0


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:  # gone, or a zombie
        return ""


def _parent(p: psutil.Process) -> int | None:
    try:
        return p.ppid()
    except psutil.Error:
        return None


def _pool_running(pid: int) -> bool:
    """Whether the fork server and two workers run under ``pid``."""
    return sum("forkserver" in _cmdline(p) for p in _descendants(pid)) >= 3


def _wait_mid_scan(proc: subprocess.Popen, index: Path, timeout: float = 120) -> int:
    """Wait until the scan has committed some datasets and runs its worker pool;
    returns how many datasets were committed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the scan ended early"
        done = _committed(index)
        if done >= 10 and _pool_running(proc.pid):
            return done
        time.sleep(0.2)
    raise AssertionError("the scan did not get going in time")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def _survivors(procs: list[psutil.Process], within: float = SETTLE_SECONDS) -> list[str]:
    deadline = time.monotonic() + within
    while _alive(procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [f"{p.pid} {_cmdline(p)[:90]}" for p in _alive(procs)]


@pytest.fixture
def reaper() -> Iterator[list[psutil.Process]]:
    """Processes a test started; any still alive at the end are killed (so a failing
    test leaves nothing behind)."""
    procs: list[psutil.Process] = []
    yield procs
    for p in _alive(procs):
        p.kill()


def _start_scan(tree: Path, index: Path) -> subprocess.Popen:
    """``voxcat scan`` with two workers; its output goes to files beside the index
    (a pipe would stay open as long as any process of the scan lives)."""
    with (
        open(index.with_suffix(".out"), "wb") as out,
        open(index.with_suffix(".err"), "wb") as err,
    ):
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "catalog.cli",
                "scan",
                str(tree),
                *("--index", str(index)),
                "-j2",
            ],
            stdout=out,
            stderr=err,
            env=_env(),
        )


@pytest.mark.slow
def test_kill_9_of_a_scan_takes_its_fork_server_and_workers_with_it(
    tree: Path, tmp_path: Path, reaper: list
) -> None:
    index = tmp_path / "lab.duckdb"
    proc = _start_scan(tree, index)
    reaper.append(psutil.Process(proc.pid))
    _wait_mid_scan(proc, index)
    family = _descendants(proc.pid)
    reaper.extend(family)
    kinds = " ".join(_cmdline(p) for p in family)
    assert "forkserver" in kinds and "resource_tracker" in kinds
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert _survivors(family) == []


@pytest.mark.slow
def test_sigterm_stops_a_scan_like_ctrl_c(tree: Path, tmp_path: Path, reaper: list) -> None:
    index = tmp_path / "lab.duckdb"
    proc = _start_scan(tree, index)
    reaper.append(psutil.Process(proc.pid))
    seen = _wait_mid_scan(proc, index)
    family = _descendants(proc.pid)
    reaper.extend(family)
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=60)
    err = index.with_suffix(".err").read_text()
    assert proc.returncode == 130, err  # as for Ctrl-C
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if line.startswith("voxcat:")]
    assert said == [
        "voxcat: terminated (SIGTERM); finished work is saved, run the same command to resume"
    ]
    assert _survivors(family) == []
    with connect(index, read_only=True, cached=False) as con:
        (status,) = con.execute("SELECT status FROM scans").fetchone()
        kept = con.execute("SELECT count(*) FROM datasets WHERE status = 'ok'").fetchone()[0]
        orphans = con.execute(
            "SELECT count(*) FROM datasets d WHERE NOT EXISTS "
            "(SELECT 1 FROM files f WHERE f.dataset_id = d.id)"
        ).fetchone()[0]
    assert status == "interrupted"
    assert seen <= kept < N_FILES and orphans == 0
    rep = scan(tree, index, jobs=1, progress=False)  # resumes: nothing done twice
    assert rep["unchanged"] == kept and rep["added"] == N_FILES - kept


def test_a_running_scan_whose_pid_was_taken_over_is_marked_interrupted(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """A scan killed an hour ago left its row ``running``; its pid now belongs to
    another process, which must not pass for it. A scan that does run is left alone."""
    drive = tmp_path / "drive"
    drive.mkdir()
    tifffile.imwrite(drive / "a.tif", rng.integers(0, 9, (2, 8, 8), dtype=np.uint16))
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False, thumbnails=False)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        host, now = socket.gethostname(), datetime.datetime.now()
        with transaction(index) as con:
            con.executemany(
                "INSERT INTO scans VALUES (?, '/gone', 'someone', ?, ?, ?, NULL, 'running', NULL)",
                [
                    (901, host, other.pid, now - datetime.timedelta(hours=1)),
                    (902, host, os.getpid(), now),
                ],
            )
        scan(drive, index, jobs=1, progress=False, thumbnails=False)
        with connect(index, read_only=True, cached=False) as con:
            rows = con.execute(
                "SELECT scan_id, status FROM scans WHERE scan_id > 900 ORDER BY 1"
            ).fetchall()
        assert rows == [(901, "interrupted"), (902, "running")]
    finally:
        other.kill()
        other.wait(timeout=30)


def _double_or_die(item: int) -> int:
    """Pool work for the test below: item 3 kills its worker process."""
    if item == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return 2 * item


def test_a_worker_that_dies_fails_only_its_item_and_leaves_no_process() -> None:
    from catalog.scanner.pool import run_pool

    results: list = []
    before = {p.pid for p in _descendants(os.getpid())}
    run_pool(range(8), 2, _double_or_die, results.append, lambda i: ("crashed", i))
    assert sorted(results, key=str) == sorted([0, 2, 4, 8, 10, 12, 14, ("crashed", 3)], key=str)
    me = os.getpid()
    # the fork server and the resource tracker stay for this process's next pool
    workers = [p for p in _descendants(me) if p.pid not in before and _parent(p) != me]
    assert _survivors(workers) == []


# -- the Jupyter server's scan jobs ----------------------------------------------------


def _request(url: str, token: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.mark.slow
def test_a_scan_job_stops_when_the_jupyter_server_dies(
    tree: Path, tmp_path: Path, reaper: list
) -> None:
    root = tree.parent
    index = tmp_path / "lab.duckdb"
    config = tmp_path / "jupyter-config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {"jpserver_extensions": {"jupyter_ext": True}},
                "VoxcatExtension": {"index": str(index)},
            }
        )
    )
    port, token = free_port(), secrets.token_hex(16)
    env = {
        **_env(),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        # commits every half second (not the server's 5 s), so it dies between commits
        "VOXCAT_SERVE_SCAN_BATCH": "0.5",
    }
    base = f"http://127.0.0.1:{port}/voxcat/api"
    with answering_process(
        jupyter_server_argv(port, token, root),
        env=env,
        cwd=root,
        log=tmp_path / "server.log",
        url=f"{base}/info?token={token}",
    ) as server:
        reaper.append(psutil.Process(server.pid))
        job = _request(f"{base}/jobs", token, {"kind": "scan", "path": "tree", "jobs": 2})
        deadline = time.monotonic() + 120
        while True:
            state = _request(f"{base}/jobs/{job['id']}", token)
            assert state["status"] in ("queued", "running"), state
            if state["detail"].get("scan_id") and _pool_running(server.pid) and _committed(index):
                break
            assert time.monotonic() < deadline, "the scan job never got going"
            time.sleep(0.2)
        family = _descendants(server.pid)
        reaper.extend(family)
        assert any("catalog.service.child" in _cmdline(p) for p in family)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        # the child stops its scan as on cancel, then its workers go with it
        assert _survivors(family, within=30) == []
        with connect(index, read_only=True, cached=False) as con:
            (status,) = con.execute("SELECT status FROM scans").fetchone()
        assert status == "interrupted"
