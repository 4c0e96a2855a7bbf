"""Interrupted scans resume; readers and a second scan can share the index with a scan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pytest
import tifffile

from catalog import scan
from catalog.index import connect

pytestmark = pytest.mark.slow

SCAN = "import sys; from catalog import scan; print(scan(sys.argv[1], sys.argv[2], jobs=int(sys.argv[3]), progress=False, batch_seconds=0.2, batch_size=8))"


@pytest.fixture
def many(tmp_path: Path, rng: np.random.Generator) -> Path:
    root = tmp_path / "many"
    for i in range(160):
        d = root / f"group_{i // 20:02d}"
        d.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(
            d / f"img_{i:04d}.tif", rng.integers(0, 60000, (6, 96, 96), dtype=np.uint16)
        )
    return root


def _count(index: Path) -> int:
    with connect(index, read_only=True, timeout=30) as con:
        return con.execute("SELECT count(*) FROM datasets WHERE status = 'ok'").fetchone()[0]


def test_kill_9_leaves_a_consistent_index_and_the_next_scan_resumes(
    many: Path, tmp_path: Path
) -> None:
    index = tmp_path / "x.duckdb"
    proc = subprocess.Popen([sys.executable, "-c", SCAN, str(many), str(index), "1"])
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if index.exists():
            try:
                done = _count(index)
            except Exception:
                continue
            if done >= 24:
                break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 24 <= done < 160, f"scan finished before it could be interrupted ({done})"
    committed = _count(index)  # the index opens and is consistent after kill -9
    assert committed >= done
    con = duckdb.connect(str(index), read_only=True)
    # no dataset without its files, no duplicate paths
    assert (
        con.execute(
            "SELECT count(*) FROM datasets d WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.dataset_id = d.id)"
        ).fetchone()[0]
        == 0
    )
    assert con.execute("SELECT count(*) - count(DISTINCT path) FROM datasets").fetchone()[0] == 0
    con.close()
    rep = scan(many, index, jobs=1, progress=False)
    assert rep["unchanged"] == committed  # finished work is not redone
    assert rep["added"] == 160 - committed
    with connect(index, read_only=True) as con:
        statuses = con.execute("SELECT status FROM scans ORDER BY scan_id").fetchall()
    assert statuses == [("interrupted",), ("done",)]


def test_readers_can_query_while_a_scan_runs(many: Path, tmp_path: Path) -> None:
    index = tmp_path / "x.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-c", SCAN, str(many), str(index), "2"], stdout=subprocess.PIPE, text=True
    )
    reads, counts = 0, []
    while proc.poll() is None:
        if index.exists():
            counts.append(_count(index))  # waits for the writer's batch, never fails
            reads += 1
        time.sleep(0.05)
    assert proc.returncode == 0
    assert reads >= 3
    assert counts == sorted(counts)  # readers only ever see committed, growing state
    assert _count(index) == 160


def test_two_scans_of_one_index_do_not_corrupt_it(many: Path, tmp_path: Path) -> None:
    index = tmp_path / "x.duckdb"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCAN, str(many), str(index), "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    con = duckdb.connect(str(index), read_only=True)
    assert con.execute(
        "SELECT count(*), count(DISTINCT path), count(DISTINCT id) FROM datasets"
    ).fetchone() == (160, 160, 160)
    assert con.execute("SELECT count(*) FROM files").fetchone()[0] == 160
    assert con.execute("SELECT count(*) FROM datasets WHERE status <> 'ok'").fetchone()[0] == 0
    con.close()
    assert scan(many, index, jobs=1, progress=False)["unchanged"] == 160
