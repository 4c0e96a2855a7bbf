"""SIGTERM stops ``voxcat serve`` cleanly while a scan job runs: the job is cancelled
(the scan keeps what it finished and is marked interrupted) and the server exits 0."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psutil
import pytest
import requests

from catalog import open_catalog
from catalog.index import connect

from ..servers import start_voxcat_serve
from .conftest import stop_server, write_tiffs

pytestmark = pytest.mark.slow


def test_sigterm_cancels_a_running_scan_and_stops(lab_index, tmp_path: Path) -> None:
    index, _drive, _ids, tokens = lab_index
    shutil.copytree(index.parent, tmp_path / "index")
    copy = tmp_path / "index" / index.name
    big = tmp_path / "big"
    write_tiffs(big, [f"slab_{i:02d}.tif" for i in range(60)], seed=5)
    proc, url = start_voxcat_serve(copy, "--allowed-root", str(tmp_path))
    headers = {"Authorization": f"token {tokens['cura']}"}
    try:
        r = requests.post(
            url + "api/jobs", json={"kind": "scan", "path": "big", "jobs": 1}, headers=headers
        )
        assert r.status_code == 202, r.text
        job = r.json()
        deadline = time.monotonic() + 60
        while "scan_id" not in job["detail"]:
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
            job = requests.get(url + f"api/jobs/{job['id']}", headers=headers).json()
        assert job["status"] == "running"
    finally:
        started = time.monotonic()
        code = stop_server(proc)
    output = proc.stdout.read()
    assert code == 0, output
    assert time.monotonic() - started < 30
    assert "cancelling 1 jobs" in output and "voxcat serve: stopped" in output
    with connect(copy, read_only=True) as con:
        status, pid = con.execute(
            "SELECT status, pid FROM scans WHERE scan_id = ?", [job["detail"]["scan_id"]]
        ).fetchone()
    assert status == "interrupted" or (status == "running" and not psutil.pid_exists(pid))
    cat = open_catalog(copy)
    assert len(cat.search(name="slab_*")) < 60
    assert len(cat.search(status="failed")) == 0
