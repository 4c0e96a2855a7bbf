"""Who holds DuckDB's lock on an index file, read without touching the file.

DuckDB locks the whole database file with a POSIX ``fcntl`` lock: ``WRITE`` for a
read-write instance, ``READ`` for a read-only one. A process that finds the index
locked used to sleep with exponential backoff (up to 250 ms a try), so it came in
well after the lock was let go: a reader arriving during one of a scan's 100 ms
batches waited 0.3-0.7 s. Instead it now watches the lock table and tries again the
moment no conflicting lock is left.

The lock table is read from ``/proc/locks`` (Linux), never by opening the index: closing
any descriptor of a file drops every POSIX lock this process holds on it, DuckDB's
own included. Where ``/proc/locks`` cannot be read, :func:`conflicting` answers
``None`` and callers fall back to backoff.

>>> conflicting("lab.duckdb", write=False)       # doctest: +SKIP
False
"""

from __future__ import annotations

import os

PROC_LOCKS = "/proc/locks"


def _key(path: str | os.PathLike[str]) -> str | None:
    """``MAJOR:MINOR:INODE`` of ``path`` as ``/proc/locks`` writes it."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"


def conflicting(
    path: str | os.PathLike[str], *, write: bool, others_only: bool = False
) -> bool | None:
    """Whether a lock on ``path`` keeps out a read-write (``write=True``) or read-only
    opener; ``None`` when the lock table cannot be read here. With ``others_only``,
    this process's own locks do not count.

    A read-only opener is kept out by a ``WRITE`` lock, a read-write one by any.
    """
    key = _key(path)
    if key is None:
        return False
    try:
        with open(PROC_LOCKS, "rb") as f:
            table = f.read()
    except OSError:
        return None
    needle = (" " + key + " ").encode()
    for line in table.splitlines():
        if needle not in line:
            continue
        fields = line.split()
        # "1: POSIX  ADVISORY  WRITE 4242 fe:00:2155628 0 EOF" ("->" marks a waiter)
        if len(fields) > 1 and fields[1] == b"->":
            continue
        if others_only and len(fields) > 4 and fields[4] == str(os.getpid()).encode():
            continue
        if write or b"WRITE" in fields[:5]:
            return True
    return False
