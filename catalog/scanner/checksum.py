"""Content checksums: BLAKE3 over the bytes, streamed in large blocks.

A dataset's checksum does not depend on where it lives: a single file hashes its
bytes; a multi-file dataset hashes the sorted list of (name inside the dataset, file
hash), so a moved or renamed folder keeps its checksum and therefore its id.

>>> file_checksum(Path("scan.tif"))          # doctest: +SKIP
'b3:5f2a...'
"""

from __future__ import annotations

import mmap
import os
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
