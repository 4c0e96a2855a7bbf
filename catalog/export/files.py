"""Moving bytes: fast copies, links, atomic renames, hashing and the resume journal.

Each payload file is written under a temporary name, hashed (SHA-256 for the BagIt
manifest and BLAKE3 to compare with the index), flushed to disk and only then renamed
into place and recorded in the journal, so an interrupted export leaves no half file
under a final name and a rerun skips every file the journal lists.

Copies run in the kernel (``sendfile``, else ``copy_file_range``, else a buffered
copy); hashing of file *n* runs in worker threads while file *n + 1* is copied.

>>> sha, b3 = hash_file(Path("scan.tif"))          # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import errno
import hashlib
import json
import mmap
import os
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import blake3

from ..errors import ExportError
from ..paths import display

TMP = ".voxcat-tmp"
STEP = 256 << 20  # bytes per copy_file_range / hashing step (progress granularity)
SMALL = 4 << 20  # files below this are read and hashed in one thread
HASH_BLOCK = 64 << 20
STATE_DIR = ".voxcat-export"
_FALLBACK_ERRNOS = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}

Progress = Callable[[int], None]


def tmp_name(path: Path) -> Path:
    return path.with_name(path.name + TMP)


def _copy_data(src: Path, dst: Path, progress: Progress | None = None) -> None:
    """Copy the bytes of ``src`` to a new file ``dst`` in the kernel: ``sendfile`` (as
    ``shutil.copyfile`` does; measured faster here than ``copy_file_range``), else
    ``copy_file_range``, else a buffered copy."""
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        size = os.fstat(fi.fileno()).st_size
        done = 0
        for fn in (_send, _copy_range):
            try:
                done = fn(fi.fileno(), fo.fileno(), size, done, progress)
                break
            except OSError as exc:
                if exc.errno not in _FALLBACK_ERRNOS:
                    raise
        else:  # pragma: no cover - neither system call works here
            os.lseek(fi.fileno(), done, 0)
            os.lseek(fo.fileno(), done, 0)
            shutil.copyfileobj(fi, fo, STEP)
            done = size
        if done != size:
            raise ExportError(f"{display(src)}: file changed while it was copied")


def _copy_range(fin: int, fout: int, size: int, done: int, progress: Progress | None) -> int:
    if not hasattr(os, "copy_file_range"):  # pragma: no cover - not Linux
        raise OSError(errno.ENOSYS, "no copy_file_range")
    while done < size:
        n = os.copy_file_range(fin, fout, min(STEP, size - done), done, done)
        if n == 0:
            break
        done += n
        if progress is not None:
            progress(n)
    return done


def _send(fin: int, fout: int, size: int, done: int, progress: Progress | None) -> int:
    os.lseek(fout, done, 0)
    while done < size:
        n = os.sendfile(fout, fin, done, min(STEP, size - done))
        if n == 0:
            break
        done += n
        if progress is not None:
            progress(n)
    return done


def place(src: Path, dst: Path, mode: str, progress: Progress | None = None) -> str:
    """Write ``src`` to ``tmp_name(dst)`` as a copy or a link; returns what was done:
    ``"copy"``, ``"hardlink"`` or ``"symlink"``."""
    tmp = tmp_name(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    if mode == "link":
        try:
            os.link(src, tmp)
            return "hardlink"
        except OSError:
            os.symlink(os.path.abspath(src), tmp)
            return "symlink"
    _copy_data(src, tmp, progress)
    st = os.stat(src)
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    return "copy"


def hash_file(path: Path, progress: Progress | None = None) -> tuple[str, str]:
    """``(sha256 hex, "b3:" + blake3 hex)`` of a file, hashed in place through a memory
    map (no copy into Python buffers); the two hashes of each block run in parallel
    threads (both release the GIL)."""
    sha, b3 = hashlib.sha256(), blake3.blake3()
    size = os.stat(path).st_size
    if size < SMALL:
        data = Path(path).read_bytes()
        sha.update(data)
        b3.update(data)
        if progress is not None:
            progress(len(data))
        return sha.hexdigest(), "b3:" + b3.hexdigest()
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        with contextlib.suppress(AttributeError, OSError):
            mm.madvise(mmap.MADV_SEQUENTIAL)
        view = memoryview(mm)
        try:
            for offset in range(0, size, HASH_BLOCK):
                part = view[offset : offset + HASH_BLOCK]
                helper = _hasher_pool().submit(b3.update, part)
                sha.update(part)
                helper.result()
                part.release()
                if progress is not None:
                    progress(min(HASH_BLOCK, size - offset))
        finally:
            view.release()
    return sha.hexdigest(), "b3:" + b3.hexdigest()


_POOL: cf.ThreadPoolExecutor | None = None


def _hasher_pool() -> cf.ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="voxcat-b3")
    return _POOL


def fsync_path(path: Path) -> None:
    """Flush a file's data (or a folder's entries) to disk."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Append-only record of payload files that are written, verified and in place.

    One JSON line per file: ``{"path", "size", "mtime_ns", "sha256", "b3", "how"}``
    (``path`` relative to the export folder). Safe to call from worker threads.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.path = dest / STATE_DIR / "done.jsonl"
        self.done: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError):  # a line cut by a crash
                    item = json.loads(line)
                    self.done[item["path"]] = item

    def finished(self, rel: str) -> dict[str, Any] | None:
        """The record of ``rel`` if it is still in place, unchanged since it was written."""
        item = self.done.get(rel)
        if item is None:
            return None
        try:
            st = os.lstat(self.dest / rel)
        except OSError:
            return None
        if item.get("how") == "symlink":
            return item if os.path.islink(self.dest / rel) else None
        same = st.st_size == item["size"] and st.st_mtime_ns == item["mtime_ns"]
        return item if same else None

    def add(self, items: Iterable[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items)
        with self._lock:
            # no fsync: a line lost in a crash only means the file is written again;
            # the file itself was flushed before it was renamed into place
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(lines)
            for i in items:
                self.done[i["path"]] = i


def record(dest: Path, path: Path, sha: str, b3: str, how: str) -> dict[str, Any]:
    st = os.lstat(path)
    return {
        "path": path.relative_to(dest).as_posix(),
        "size": os.stat(path).st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": sha,
        "b3": b3,
        "how": how,
    }


class Writer:
    """Copies (or links) files one after another while two worker threads hash and
    check the previous ones and a third flushes them to disk (it waits for the disk,
    not the CPU), renames them into place and records them in the journal.

    >>> with Writer(dest, journal, mode="copy") as w:          # doctest: +SKIP
    ...     w.put(src, dest / "data/id/a.tif", expected="b3:...")
    """

    def __init__(
        self, dest: Path, journal: Journal, mode: str, progress: Progress | None = None
    ) -> None:
        self.dest, self.journal, self.mode, self.progress = dest, journal, mode, progress
        self._pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="voxcat-verify")
        self._flusher = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="voxcat-flush")
        self._pending: list[cf.Future] = []
        self._flushing: list[cf.Future] = []
        self._lock = threading.Lock()
        self.skipped = 0
        self.bytes_written = 0

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
            self._flusher.shutdown(wait=True)

    def put(self, src: Path, dst: Path, expected: str | None) -> None:
        """Write ``src`` to ``dst`` unless the journal has it already."""
        rel = dst.relative_to(self.dest).as_posix()
        if self.journal.finished(rel) is not None:
            self.skipped += 1
            return
        if len(self._pending) >= 3:
            self._pending.pop(0).result()
        copy_progress = None if self.mode == "link" else self._half
        how = place(src, dst, self.mode, copy_progress)
        self._pending.append(self._pool.submit(self._verify, src, dst, expected, how))

    def _half(self, n: int) -> None:  # copying is half the work, verifying the other
        if self.progress is not None:
            self.progress(n // 2)

    def _verify(self, src: Path, dst: Path, expected: str | None, how: str) -> None:
        tmp = tmp_name(dst)
        step = self._half if how == "copy" else self.progress
        sha, b3 = hash_file(tmp, step)
        if expected is not None and b3 != expected:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ExportError(
                f"{display(src)} does not match the index (checksum {b3[:15]}... != "
                f"{expected[:15]}...): it changed since it was scanned or the copy is "
                "damaged; rescan it (voxcat scan) or check the disk, then rerun the export"
            )
        future = self._flusher.submit(self._flush, tmp, dst, sha, b3, how)
        with self._lock:
            self._flushing.append(future)

    def _flush(self, tmp: Path, dst: Path, sha: str, b3: str, how: str) -> None:
        if how == "copy":
            fsync_path(tmp)
        os.replace(tmp, dst)
        self.bytes_written += os.stat(dst).st_size
        self.journal.add([record(self.dest, dst, sha, b3, how)])

    def wait(self) -> None:
        """Wait for every file handed to :meth:`put` (re-raises the first failure)."""
        pending, self._pending = self._pending, []
        errors = _results(pending)
        with self._lock:
            flushing, self._flushing = self._flushing, []
        errors += _results(flushing)
        if errors:
            raise errors[0]


def _results(futures: list[cf.Future]) -> list[BaseException]:
    errors = []
    for fut in futures:
        try:
            fut.result()
        except BaseException as exc:
            errors.append(exc)
    return errors
