"""Readers do not wait longer than a writer holds the index: a blocked opener watches
DuckDB's lock in the lock table and gets in as soon as it is let go; a scan's workers
give the cores to the readers. (Latencies are measured by ``benchmarks.contention``.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from catalog.index import connect, locks
from catalog.index import connection as connection_mod
from catalog.scanner.pool import NICE, guarded_pool

pytestmark = pytest.mark.skipif(
    not Path(locks.PROC_LOCKS).exists(), reason="no /proc/locks on this system"
)

HOLD = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
    print("held", flush=True)
    sys.stdin.readline()   # hold the lock until told to let go
    con.close()
    print("released", flush=True)
    time.sleep(30)         # stay alive: only the lock is gone
    """
)


class Holder:
    """Another process holding DuckDB's lock on ``index`` until :meth:`release`."""

    def __init__(self, index: Path, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(index), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def index(tmp_path: Path) -> Path:
    path = tmp_path / "lab.duckdb"
    with connect(path) as con:  # creates the schema
        con.execute("SELECT 1")
    return path


def test_the_lock_table_tells_who_keeps_whom_out(index: Path) -> None:
    assert locks.conflicting(index, write=False) is False
    assert locks.conflicting(index, write=True) is False
    reader = Holder(index, "ro")
    try:  # a read-only holder keeps writers out, not readers
        assert locks.conflicting(index, write=False) is False
        assert locks.conflicting(index, write=True) is True
    finally:
        reader.close()
    writer = Holder(index, "rw")
    try:  # a read-write holder keeps everybody out
        assert locks.conflicting(index, write=False) is True
        assert locks.conflicting(index, write=True) is True
        writer.release()
        assert locks.conflicting(index, write=False) is False
    finally:
        writer.close()
    assert locks.conflicting(index.with_name("absent.duckdb"), write=True) is False


def test_a_blocked_reader_gets_in_right_after_the_writer_lets_go(
    index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[float] = []
    real = duckdb.connect

    def counting(*args, **kwargs):
        attempts.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(connection_mod.duckdb, "connect", counting)
    writer = Holder(index, "rw")
    try:
        import threading

        threading.Timer(0.8, writer.release).start()
        with connect(index, read_only=True, cached=False, timeout=30) as con:
            assert con.execute("SELECT count(*) FROM datasets").fetchone() == (0,)
    finally:
        writer.close()
    # one refused try while the lock was held, then one that got in: the wait was
    # spent watching the lock table, not retrying (backoff made ~8 tries in 0.8 s)
    assert len(attempts) == 2


def test_without_a_lock_table_openers_back_off_and_still_get_in(
    index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "PROC_LOCKS", str(index.with_name("no-such-table")))
    assert locks.conflicting(index, write=False) is None
    writer = Holder(index, "rw")
    try:
        import threading

        threading.Timer(0.5, writer.release).start()
        with connect(index, read_only=True, cached=False, timeout=30) as con:
            assert con.execute("SELECT count(*) FROM datasets").fetchone() == (0,)
    finally:
        writer.close()


def test_a_lock_never_let_go_still_times_out_with_the_reason(index: Path) -> None:
    from catalog.errors import IndexLockedError

    writer = Holder(index, "rw")
    try:
        with (
            pytest.raises(IndexLockedError, match="locked by another process"),
            connect(index, read_only=True, cached=False, timeout=0.5),
        ):
            pass
    finally:
        writer.close()


def test_workers_run_at_a_lower_priority_than_the_scan() -> None:
    mine = os.nice(0)
    with guarded_pool(1) as pool:
        theirs = pool.submit(os.nice, 0).result(timeout=60)
    assert NICE > 0
    assert theirs == min(mine + NICE, 19)


def test_workers_see_the_environment_of_now(monkeypatch: pytest.MonkeyPatch) -> None:
    # the fork server keeps the environment it started with; a credential set since
    # (in a notebook, a server) must still reach the workers of a new pool
    with guarded_pool(1) as pool:
        assert pool.submit(os.getpid).result(timeout=60) != os.getpid()
    monkeypatch.setenv("VOXCAT_TEST_SET_LATER", "yes")
    monkeypatch.delenv("VOXCAT_WORKER_NICE", raising=False)
    with guarded_pool(1) as pool:
        assert pool.submit(os.getenv, "VOXCAT_TEST_SET_LATER").result(timeout=60) == "yes"
