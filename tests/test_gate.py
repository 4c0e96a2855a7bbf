"""Threads of one process reading an index while another writes it (a server's request
threads): every write succeeds, no read fails (``catalog.index.gate``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import tifffile

from catalog import open_catalog, scan
from catalog.index import gate


def test_reads_and_writes_in_one_process_never_collide(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    (tmp_path / "d").mkdir()
    for name in ("vala", "vbeta", "vgamma"):  # volumes, not slices of one stack
        vol = rng.integers(0, 255, (4, 16, 16), dtype=np.uint8)
        tifffile.imwrite(
            tmp_path / "d" / f"{name}.tif", vol, imagej=True, metadata={"axes": "ZYX"}
        )
    index = tmp_path / "lab.duckdb"
    scan(tmp_path / "d", index, jobs=1, progress=False)
    ids = list(open_catalog(index))
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                cat = open_catalog(index)
                assert len(cat.search(name="v*")) == 3
                cat[ids[0]].metadata  # noqa: B018
            except BaseException as exc:
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(6)]
    for t in readers:
        t.start()
    try:
        cat = open_catalog(index)
        for i in range(15):
            cat.tag(ids[i % 3], f"t{i}")
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert errors == []
    assert sum(len(open_catalog(index)[i].metadata["tags"]) for i in ids) == 15


def test_a_waiting_writer_goes_before_new_readers(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    order: list[str] = []
    first_read = threading.Event()

    def long_read() -> None:
        with gate.shared(path):
            first_read.set()
            time.sleep(0.3)
            order.append("read 1 done")

    def write() -> None:
        with gate.exclusive(path):
            order.append("write")

    def late_read() -> None:
        with gate.shared(path):
            order.append("read 2")

    t1 = threading.Thread(target=long_read)
    t1.start()
    first_read.wait(5)
    t2 = threading.Thread(target=write)
    t2.start()
    time.sleep(0.05)  # the writer is waiting now
    t3 = threading.Thread(target=late_read)
    t3.start()
    for t in (t1, t2, t3):
        t.join(5)
    assert order == ["read 1 done", "write", "read 2"]
    # nested reads and reads inside a write of the same thread pass at once
    with gate.exclusive(path), gate.shared(path), gate.exclusive(path), gate.shared(path):
        pass
