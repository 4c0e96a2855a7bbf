"""The refresher lock of the listing snapshot is an ``fcntl.flock``: held while its
holder lives, free the moment it is killed (no waiting for a lock file to age), and
the read cache and the snapshots share one idle thread.

Real processes, killed with SIGKILL; a real index and real snapshot files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import catalog
from catalog import import_table, open_catalog
from catalog.index import listing
from catalog.index.listing import refresher

from .test_listing import random_table

HOME = str(Path(catalog.__file__).resolve().parents[1])

HOLDER = """
import sys, time
from pathlib import Path
from catalog.index.listing.refresher import try_lock
fd = try_lock(Path(sys.argv[1]))
print("held" if fd is not None else "busy", flush=True)
time.sleep(120)
"""


def _holder(lock: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [HOME, os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_held_lock_keeps_others_out_and_a_killed_holders_lock_is_free_at_once(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "lab.voxcat" / listing.LOCK_FILE
    proc = _holder(lock)
    try:
        assert refresher.try_lock(lock) is None  # held by a live process
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert lock.exists()  # the killed holder left its file behind ...
    t = time.monotonic()
    fd = refresher.try_lock(lock)  # ... and its lock is free at once
    assert fd is not None and time.monotonic() - t < 1
    other = subprocess.run(  # held by this process now: another one is kept out
        [sys.executable, "-c", HOLDER.replace("time.sleep(120)", ""), str(lock)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": HOME},
        timeout=60,
    )
    assert other.stdout.strip() == "busy", other.stderr
    refresher.unlock(fd, lock)
    assert not lock.exists()  # removed by the holder as it lets go
    fd = refresher.try_lock(lock)
    assert fd is not None
    refresher.unlock(fd, lock)


def test_a_killed_refresher_does_not_keep_the_next_one_out(tmp_path: Path, monkeypatch) -> None:
    index = tmp_path / "lab.duckdb"
    monkeypatch.setattr(listing, "MIN_ROWS", 100)
    import_table(random_table(np.random.default_rng(6), 150), index)
    assert listing.current(index) is not None
    cat = open_catalog(index)
    first = next(iter(cat))
    monkeypatch.setattr(listing, "_spawn_refresh", lambda source: None)
    cat.tag(first, "before-kill")  # stale now, no refresher yet
    monkeypatch.undo()
    assert listing.current(index) is None
    lock = refresher.lock_path(index)
    proc = listing._spawn_refresh(index.resolve())  # the real refresher, holding the lock
    assert proc is not None
    assert refresher.try_lock(lock) is None  # its lock keeps a second one out
    proc.send_signal(signal.SIGKILL)  # killed before it could rebuild or let go
    proc.wait(timeout=30)
    assert lock.exists() and listing.current(index) is None
    cat.tag(first, "after-kill")  # the next write starts a refresher at once
    deadline = time.monotonic() + 60
    while listing.current(index) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listing.current(index) is not None, "no refresh after a killed refresher"
    assert not lock.exists()
    assert list(cat.search(tags="after-kill")) == [first]


def test_the_read_cache_and_the_snapshots_share_one_idle_thread(tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    import_table(random_table(np.random.default_rng(3), 50), index)
    assert listing.refresh(index, force=True)
    len(open_catalog(index))  # a cached DuckDB instance
    assert listing.current(index) is not None  # a mapped snapshot
    names = [t.name for t in threading.enumerate()]
    assert names.count("voxcat-idle") == 1
    assert "voxcat-read-cache" not in names and "voxcat-listing" not in names
