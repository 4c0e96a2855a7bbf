"""Reading the ``scans`` table: how far a scan running in another process has got.

A scan records itself in ``scans`` (with the pid and host of the process running it)
and its datasets with its ``scan_id`` as it goes, so another process can follow it by
reading the index between the scan's short write transactions.

>>> scan_progress("lab.duckdb", pid=4242)             # doctest: +SKIP
ScanCount(scan_id=7, datasets=120, bytes=3489660928)
"""

from __future__ import annotations

import dataclasses
import os
import socket

from .connection import connect


@dataclasses.dataclass(frozen=True)
class ScanCount:
    """What a scan has recorded so far: its id, datasets and their total bytes."""

    scan_id: int
    datasets: int
    bytes: int


def scan_progress(
    index: str | os.PathLike[str],
    pid: int,
    host: str | None = None,
    *,
    timeout: float | None = None,
) -> ScanCount | None:
    """The datasets and bytes recorded so far by the latest scan that process ``pid``
    on ``host`` (default: this machine) runs or ran on ``index``; ``None`` when it has
    recorded no scan yet.

    Raises :class:`~catalog.errors.IndexLockedError` when the index stays locked for
    ``timeout`` seconds (the scan is writing) and ``FileNotFoundError`` before the scan
    has created the index.

    >>> scan_progress("lab.duckdb", pid=4242, timeout=0.2)   # doctest: +SKIP
    ScanCount(scan_id=7, datasets=120, bytes=3489660928)
    """
    host = socket.gethostname() if host is None else host
    with connect(index, read_only=True, timeout=timeout) as con:
        row = con.execute(
            "SELECT scan_id FROM scans WHERE pid = ? AND host = ? ORDER BY scan_id DESC LIMIT 1",
            [pid, host],
        ).fetchone()
        if row is None:
            return None
        n, done = con.execute(
            "SELECT count(*), coalesce(sum(size), 0) FROM datasets WHERE scan_id = ?",
            [row[0]],
        ).fetchone()
    return ScanCount(int(row[0]), int(n), int(done))
