"""Content checksums: BLAKE3 over the bytes, streamed in large blocks.

A dataset's checksum does not depend on where it lives: a single file hashes its
bytes; a multi-file dataset hashes the sorted list of (name inside the dataset, file
hash), so a moved or renamed folder keeps its checksum and therefore its id.

Big files no reader claims get a :func:`sampled_checksum` instead (``"sampled:..."``:
size, mtime and a few blocks), unless a full one is asked for; such a value is a change
signature, never a content checksum: ``verify`` samples again, and an export hashes
the bytes it copies.

>>> file_checksum(Path("scan.tif"))          # doctest: +SKIP
'b3:5f2a...'
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
from collections.abc import Callable
from pathlib import Path

import blake3

from ..confine import check_regular, open_binary

BLOCK = 8 << 20  # 8 MiB reads keep the hasher fed without a big buffer
THREADED_ABOVE = 64 << 20  # multi-threaded BLAKE3 for big files
PREFIX = "b3:"


def _hasher(size: int) -> blake3.blake3:
    if size >= THREADED_ABOVE:
        return blake3.blake3(max_threads=blake3.blake3.AUTO)
    return blake3.blake3()


def file_checksum(path: Path, *, progress: Callable[[int], None] | None = None) -> str:
    """BLAKE3 of one file's bytes, as ``"b3:<64 hex digits>"``.

    ``progress(n)`` is called with the number of bytes hashed after every block. Only a
    regular file is read: anything else raises :class:`~catalog.errors.NotRegularFileError`.
    """
    size = check_regular(path).st_size
    h = _hasher(size)
    if size >= THREADED_ABOVE:
        try:
            return _mapped(path, h, progress)
        except (OSError, ValueError):  # a file system without mmap: stream it below
            h = _hasher(size)
    buf = bytearray(min(BLOCK, max(size, 1)))
    view = memoryview(buf)
    with open_binary(path, buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            if progress is not None:
                progress(n)
    return PREFIX + h.hexdigest()


MAPPED_STEP = 256 << 20


def _mapped(path: Path, h: blake3.blake3, progress: Callable[[int], None] | None) -> str:
    """Hash a big file through a read-only memory map: no copy into Python buffers, so
    the multi-threaded hasher runs near its in-memory speed."""
    with open_binary(path) as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        try:
            for off in range(0, len(mm), MAPPED_STEP):
                part = view[off : off + MAPPED_STEP]
                h.update(part)
                part.release()
                if progress is not None:
                    progress(min(MAPPED_STEP, len(mm) - off))
        finally:
            view.release()
    return PREFIX + h.hexdigest()


def combine(parts: list[tuple[str, str]]) -> str:
    """Checksum of a multi-file dataset from ``(name inside dataset, file checksum)``."""
    if len(parts) == 1:
        return parts[0][1]
    h = blake3.blake3()
    for rel, digest in sorted(parts):
        h.update(os.fsencode(rel) + b"\0" + digest.encode() + b"\n")
    return PREFIX + h.hexdigest()


#: Files no reader claims that are bigger than this get a sampled checksum unless a
#: full one is asked for (``scan(..., full_checksums=True)``): hashing a 20 GB archive
#: or sparse file in full costs tens of seconds and tells little more for a file that
#: is only listed.
SAMPLED_ABOVE = 64 << 20
SAMPLED_PREFIX = "sampled:"
SAMPLE_BLOCK = 64 << 10
SAMPLES = 16  # blocks read: the first, the last and evenly spaced ones between
SAMPLED_READ = SAMPLE_BLOCK * SAMPLES  # bytes a sampled checksum reads at most


def is_sampled(checksum: str | None) -> bool:
    """Whether ``checksum`` is a :func:`sampled_checksum` (not a content checksum)."""
    return checksum is not None and checksum.startswith(SAMPLED_PREFIX)


def sampled_checksum(path: Path, *, mtime_ns: int | None = None) -> str:
    """A cheap signature of a big file: BLAKE3 of its size, its modification time (whole
    seconds) and ``SAMPLES`` blocks of ``SAMPLE_BLOCK`` bytes (the first, the last and
    evenly spaced ones), as ``"sampled:<64 hex digits>"``. It reads about 1 MiB
    whatever the size; it changes when the size or the mtime does, or bytes in a
    sampled block, but not always when other bytes change: it is never presented as
    a content checksum. ``mtime_ns`` replaces the file's own (a copy of another file).

    >>> sampled_checksum(Path("backup.tar"))          # doctest: +SKIP
    'sampled:0c4e...'
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", os.fspath(path))
        size = st.st_size
        mtime = (st.st_mtime_ns if mtime_ns is None else mtime_ns) // 1_000_000_000
        h = blake3.blake3(f"voxcat sampled 1\0{size}\0{mtime}\0".encode())
        last = max(0, size - SAMPLE_BLOCK)
        for off in sorted({last * k // (SAMPLES - 1) for k in range(SAMPLES)}):
            block = os.pread(fd, SAMPLE_BLOCK, off)
            h.update(f"{off}\0{len(block)}\0".encode())
            h.update(block)
    finally:
        os.close(fd)
    return SAMPLED_PREFIX + h.hexdigest()


def same_kind(path: Path, expected: str | None) -> str:
    """The checksum of ``path`` computed as ``expected`` was: sampled or full."""
    return sampled_checksum(path) if is_sampled(expected) else file_checksum(path)
