"""The read cache never serves stale data and never blocks writers for long."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from catalog import open_catalog
from catalog.index import connect, readcache

from .catalogue_rows import write_rows


@pytest.fixture
def index(tmp_path: Path) -> Path:
    path = tmp_path / "lab.duckdb"
    write_rows(path)
    return path


def _tag_elsewhere(index: Path, ident: str, tag: str) -> float:
    code = (
        "import sys, time; from catalog import open_catalog; t = time.perf_counter(); "
        "open_catalog(sys.argv[1]).tag(sys.argv[2], sys.argv[3]); "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(index), ident, tag],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return float(out.stdout.split()[-1])


def test_reads_reuse_one_instance(index: Path) -> None:
    cat = open_catalog(index)
    len(cat)
    key = index.resolve()
    first = readcache._anchors[key]
    cat.facets("modality")
    assert readcache._anchors[key] is first  # no reopening between reads


def test_writes_in_this_process_and_elsewhere_are_seen(index: Path) -> None:
    cat = open_catalog(index)
    ident = next(iter(cat))
    assert cat.search(tags="fresh").keys() == []  # the instance is now cached
    cat.tag(ident, "fresh")  # a write in this process drops it first
    assert cat.search(tags="fresh").keys() == [ident]
    other = list(cat)[1]
    _tag_elsewhere(index, other, "remote")  # another process writes
    assert cat.search(tags="remote").keys() == [other]  # the file changed: reopened


def test_a_busy_reader_does_not_starve_a_writer(index: Path) -> None:
    cat = open_catalog(index)
    ident = next(iter(cat))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from catalog import open_catalog; "
            "open_catalog(sys.argv[1]).tag(sys.argv[2], 'late'); print('ok')",
            str(index),
            ident,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # keep reading in a tight loop: the writer's wait flag makes us let go
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        len(cat)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "ok" in out, err
    assert cat.search(tags="late").keys() == [ident]
    assert not readcache.wait_flag(index).exists()


def test_idle_instances_are_closed(index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    len(open_catalog(index))
    key = index.resolve()
    assert key in readcache._anchors
    deadline = time.monotonic() + readcache.IDLE * 4 + 2
    while key in readcache._anchors and time.monotonic() < deadline:
        time.sleep(0.1)
    assert key not in readcache._anchors
    with connect(index) as con:  # and the file is free for a writer again
        con.execute("SELECT 1")


def test_a_wait_for_one_index_holds_up_no_other_reader(index: Path, tmp_path: Path) -> None:
    """A thread waiting (with backoff) for another process's write lock on one index
    holds no process-wide lock: reads of another index go on meanwhile, as in the
    request threads of one Jupyter server."""
    import threading

    other = tmp_path / "other" / "lab.duckdb"
    write_rows(other)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; con = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "sys.stdin.readline()",
            str(index),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        readcache.drop(index.resolve())
        waited: list[object] = []
        waiting = threading.Thread(target=lambda: waited.append(len(open_catalog(index))))
        waiting.start()
        time.sleep(0.3)  # the thread is now in its retry loop
        assert waiting.is_alive()
        assert len(open_catalog(other)) > 0  # not held up by the other thread's wait
        assert waiting.is_alive()  # ...which is still waiting for the lock
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    waiting.join(timeout=60)
    assert waited and waited[0] > 0
