"""An I/O spy: how many bytes the current thread reads from files while a block runs.

It reads the kernel's own count of bytes the calling thread received from ``read``
system calls (``rchar`` in ``/proc/thread-self/io``), so it sees every library, C ones
(HDF5, NetCDF, ITK) as well as Python's ``open``, and nothing another thread reads.
It does not see bytes reached through ``mmap`` (a reader that maps a file to read its
header would go unnoticed; none of voxcat's does). Linux only: :func:`spy_available`.

>>> with ReadSpy() as spy, open(__file__, "rb", buffering=0) as fh:  # doctest: +SKIP
...     _ = fh.read(100)
>>> spy.bytes_read                                                 # doctest: +SKIP
100
"""

from __future__ import annotations

import os
from types import TracebackType

_PROC = "/proc/thread-self/io"


def spy_available() -> bool:
    """Whether this system counts the bytes a thread reads (Linux 3.17 and later)."""
    return os.path.exists(_PROC)


def _rchar() -> int:
    with open(_PROC, "rb", buffering=0) as fh:
        for line in fh.read().splitlines():
            if line.startswith(b"rchar:"):
                return int(line.split()[1])
    raise RuntimeError(f"{_PROC} has no rchar line")  # pragma: no cover


class ReadSpy:
    """Counts the bytes this thread reads (from files, pipes, sockets) inside ``with``.

    ``bytes_read`` excludes what the spy itself reads to take the count (measured when
    the spy starts: ``noise``). Work that a reader hands to other threads is not
    counted: run it in the calling thread (dask's ``scheduler="sync"``).
    """

    def __init__(self) -> None:
        if not spy_available():
            raise RuntimeError(f"no per-thread I/O counts on this system ({_PROC})")
        self.bytes_read = 0
        self.noise = 0
        self._start = 0

    def __enter__(self) -> ReadSpy:
        a = _rchar()
        b = _rchar()
        self.noise = b - a  # what one look at the counter costs
        self._start = _rchar()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end = _rchar()
        self.bytes_read = max(0, end - self._start - self.noise)
