"""In one process, a write to an index waits for the reads of it in progress, and new
reads wait for a waiting write.

DuckDB refuses a read-write instance of a file while the same process has a read-only
instance of it open ("different configuration"), so a server whose threads read the
index (searches, thumbnails) while another writes it (a tag, a preview record) must
keep them apart. :func:`shared` wraps each read connection and :func:`exclusive` each
write connection (:func:`catalog.index.connect` does both): readers share the gate, a
writer has it alone, and a waiting writer goes before new readers, so it waits only for
the reads already running. Reads nested in a read of the same thread, and anything in
a write of the same thread, pass at once (never a deadlock with oneself); after
:data:`WAIT` seconds a writer goes ahead regardless (and DuckDB says why if it fails).
Other processes are kept apart by DuckDB's file lock, as before.

>>> with exclusive(Path("lab.duckdb")):    # doctest: +SKIP
...     pass                               # no read of lab.duckdb runs in this process
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

#: the longest a writer waits for this process's reads before going ahead
WAIT = 60.0


class _Gate:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.readers = 0
        self.writer: int | None = None
        self.depth = 0
        self.waiting = 0


_gates: dict[Path, _Gate] = {}
_gates_lock = threading.Lock()
_local = threading.local()


def _gate(path: Path) -> _Gate:
    with _gates_lock:
        gate = _gates.get(path)
        if gate is None:
            gate = _gates[path] = _Gate()
        return gate


def _reads() -> dict[Path, int]:
    counts = getattr(_local, "reads", None)
    if counts is None:
        counts = _local.reads = {}
    return counts


@contextlib.contextmanager
def shared(path: Path) -> Iterator[None]:
    """Inside: a read of ``path`` that no write of this process overlaps."""
    gate, me, reads = _gate(path), threading.get_ident(), _reads()
    with gate.cond:
        if gate.writer != me and not reads.get(path):
            deadline = time.monotonic() + WAIT
            while gate.writer is not None or gate.waiting:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                gate.cond.wait(left)
        gate.readers += 1
    reads[path] = reads.get(path, 0) + 1
    try:
        yield
    finally:
        reads[path] -= 1
        with gate.cond:
            gate.readers -= 1
            gate.cond.notify_all()


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Inside: the only read or write of ``path`` in this process (see the module)."""
    gate, me = _gate(path), threading.get_ident()
    mine = _reads().get(path, 0)
    owned = False
    with gate.cond:
        if gate.writer == me:
            gate.depth += 1
            owned = True
        else:
            gate.waiting += 1
            deadline = time.monotonic() + WAIT
            try:
                while gate.writer is not None or gate.readers > mine:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    gate.cond.wait(left)
            finally:
                gate.waiting -= 1
            if gate.writer is None:
                gate.writer, gate.depth, owned = me, 1, True
    try:
        yield
    finally:
        with gate.cond:
            if owned:
                gate.depth -= 1
                if gate.depth == 0:
                    gate.writer = None
            gate.cond.notify_all()
