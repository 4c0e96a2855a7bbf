"""Moving bytes: one-pass hashed copies, links, atomic renames and the resume journal.

A copy reads each block of the source once and hands the same buffer to three
threads: SHA-256 (the BagIt manifest), BLAKE3 (compared with the index) and the writer
(both hashes release the GIL on large buffers), while the next block is read. No file
is read a second time, and the hashes are of exactly the bytes handed to ``write``:
the BLAKE3 equal to the index checksum shows that the source is unchanged since it was
scanned, and that those are the bytes written. Big files are written with
``O_DIRECT`` where the file system allows it (straight from that buffer to the device,
without a second copy into the page cache; here more than twice as fast as buffered
writes), their last partial 4 KiB block and small files through the page cache.

The destination is confirmed by every ``write`` having taken all its bytes, ``fsync``
succeeding (the kernel reports write-back errors there) and the file having the size
written. Only then is it renamed into place and recorded in the journal, so an
interrupted export leaves no half file under a final name and a rerun skips every file
the journal lists. Deep verification (``Writer(..., deep=True)``) also reads every copy
back after its ``fsync``, its cached pages dropped first so the bytes come from the
device, and compares both hashes (a re-read that hits the page cache only reads the
copy's own pages back from memory and proves little about the disk).

A kernel copy (``sendfile``, ``copy_file_range``) is not used: the hashes would need a
second read of the source, and bytes read twice need not be the bytes written.

>>> sha, b3 = hash_file(Path("scan.tif"))          # doctest: +SKIP
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import errno
import hashlib
import io
import itertools
import json
import mmap
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import blake3

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no O_DIRECT either
    fcntl = None  # type: ignore[assignment]

from ..confine import check_regular, open_binary
from ..errors import ExportError
from ..paths import display
from ..scanner.checksum import is_sampled, sampled_checksum

TMP = ".voxcat-tmp"
BLOCK = 8 << 20  # bytes read, written and hashed at a time (at most)
MIN_BLOCK = 256 << 10
ALIGN = 4096  # direct writes: offsets and lengths in whole 4 KiB blocks
DIRECT_ABOVE = 1 << 20  # smaller files go through the page cache
DEPTH = 4  # blocks in flight: one being read while the others are hashed and written
MAX_FLUSHING = 64  # files copied but not yet flushed and renamed, before put() waits
STATE_DIR = ".voxcat-export"
WRITTEN, REREAD = "written", "reread"  # how a journal record's file was verified

Progress = Callable[[int], None]


def tmp_name(path: Path) -> Path:
    return path.with_name(path.name + TMP)


_THREADS: dict[str, cf.ThreadPoolExecutor] = {}
_THREADS_LOCK = threading.Lock()
_LOCAL = threading.local()


def _thread(name: str) -> cf.ThreadPoolExecutor:
    """A single worker thread (``sha256``, ``b3`` or ``write``) shared by all copies: it
    takes blocks in the order given, so each hash and each file sees its blocks in order."""
    with _THREADS_LOCK:
        if name not in _THREADS:
            _THREADS[name] = cf.ThreadPoolExecutor(1, thread_name_prefix=f"voxcat-{name}")
        return _THREADS[name]


def _forget_threads() -> None:  # a forked child has none of its parent's threads
    global _THREADS_LOCK
    _THREADS.clear()
    _THREADS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_threads)


def _buffers() -> list[mmap.mmap]:
    """This thread's reusable block buffers: anonymous maps, so page-aligned as direct
    writes need (and allocating 24 MiB per file would cost more than a small copy)."""
    bufs = getattr(_LOCAL, "buffers", None)
    if bufs is None or len(bufs[0]) != BLOCK:
        bufs = _LOCAL.buffers = [mmap.mmap(-1, BLOCK) for _ in range(DEPTH)]
    return bufs


def _advise(fd: int, advice: str) -> None:
    with contextlib.suppress(AttributeError, OSError):  # a hint only; absent off Linux
        os.posix_fadvise(fd, 0, 0, getattr(os, advice))


class _Output:
    """The destination file, written at increasing offsets; ``O_DIRECT`` (straight from
    the hashed buffer to the device, no copy into the page cache) while blocks are
    aligned and the file system takes it, buffered otherwise and for the tail."""

    def __init__(self, path: Path, size: int) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        direct = getattr(os, "O_DIRECT", 0) if size >= DIRECT_ABOVE else 0
        self.direct = False
        if direct:
            try:
                self.fd = os.open(path, flags | direct, 0o666)
                self.direct = True
            except OSError as exc:  # tmpfs and some network file systems refuse it
                if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                    raise
        if not self.direct:
            self.fd = os.open(path, flags, 0o666)
        self.offset = 0

    def _buffered(self) -> None:
        if self.direct:
            fl = fcntl.fcntl(self.fd, fcntl.F_GETFL)
            fcntl.fcntl(self.fd, fcntl.F_SETFL, fl & ~os.O_DIRECT)
            self.direct = False

    def write(self, view: memoryview) -> None:
        if self.direct and len(view) % ALIGN and not self.offset % ALIGN:
            head = len(view) - len(view) % ALIGN  # the file's last block: its whole
            if head:  # 4 KiB blocks directly, the rest through the page cache
                self._write(view[:head])
            view = view[head:]
            self._buffered()
        self._write(view)

    def _write(self, view: memoryview) -> None:
        if self.direct and self.offset % ALIGN:
            self._buffered()
        while view:
            try:
                n = os.pwrite(self.fd, view, self.offset)
            except OSError as exc:
                if not self.direct or exc.errno != errno.EINVAL:
                    raise
                self._buffered()  # the file system wants another alignment
                continue
            if n <= 0:  # pragma: no cover - write(2) reports an error rather than 0
                raise OSError(errno.EIO, "write wrote nothing")
            self.offset += n
            view = view[n:]
            if view and self.direct:
                self._buffered()

    def close(self) -> None:
        os.close(self.fd)


def _block(size: int) -> int:
    """Block size for a file of ``size`` bytes: whole 4 KiB blocks, small enough that a
    small file still spans every buffer (its reading, hashing and writing overlap)."""
    per = -(-size // DEPTH)
    return min(BLOCK, max(MIN_BLOCK, -(-per // ALIGN) * ALIGN))


def _pump(
    fi: io.RawIOBase | io.BufferedIOBase,
    out: _Output | None,
    progress: Progress | None,
    size: int,
    sha256: bool = True,
) -> tuple[str, str, int]:
    """Read the first ``size`` bytes of ``fi`` (fewer if it ends sooner; a file that
    grows is not followed) once; every block read is handed to three threads at once:
    SHA-256, BLAKE3 and (if ``out``) the writer, while this thread reads the next block.
    Returns ``(sha256 hex, "b3:" + blake3 hex, bytes read)``; without ``sha256`` no
    SHA-256 is computed and its hex is ``""``."""
    block = _block(size)
    sha, b3 = hashlib.sha256(), blake3.blake3()
    workers: list[tuple[cf.ThreadPoolExecutor, Callable[[memoryview], object]]] = [
        (_thread("b3"), b3.update),
    ]
    if sha256:
        workers.insert(0, (_thread("sha256"), sha.update))
    if out is not None:
        workers.append((_thread("write"), out.write))
    bufs = _buffers()
    inflight: collections.deque[list[cf.Future]] = collections.deque()
    total = 0
    try:
        for k in itertools.count():
            if len(inflight) == len(bufs):  # the buffer about to be reused is done with
                for fut in inflight.popleft():
                    fut.result()
            view = memoryview(bufs[k % len(bufs)])[: min(block, size - total)]
            n = fi.readinto(view) if view else 0
            if not n:
                break
            view = view[:n]
            inflight.append([pool.submit(fn, view) for pool, fn in workers])
            total += n
            if progress is not None:
                progress(n)
    finally:  # never hand a buffer back (or close the file) while a worker still uses it
        cf.wait([f for futs in inflight for f in futs])
    for futs in inflight:
        for fut in futs:
            fut.result()
    return (sha.hexdigest() if sha256 else ""), "b3:" + b3.hexdigest(), total


def copy_file(
    src: Path, dst: Path, progress: Progress | None = None, *, sha256: bool = True
) -> tuple[str, str, int]:
    """Copy ``src`` to a new file ``dst`` in one pass and return the SHA-256 and BLAKE3
    of the bytes written and their number. The copy keeps the source's mtime; a source
    whose size or mtime changed while it was read is refused. ``sha256=False``: BLAKE3
    only (the SHA-256 returned is ``""``)."""
    with open_binary(src, buffering=0) as fi:  # a named pipe would block forever
        before = os.fstat(fi.fileno())
        _advise(fi.fileno(), "POSIX_FADV_SEQUENTIAL")
        out = _Output(dst, before.st_size)
        try:
            sha, b3, n = _pump(fi, out, progress, before.st_size, sha256)
        finally:
            out.close()
        after = os.fstat(fi.fileno())
    if n != before.st_size or (after.st_size, after.st_mtime_ns) != (
        before.st_size,
        before.st_mtime_ns,
    ):
        raise ExportError(f"{display(src)}: the file changed while it was copied; rerun")
    os.utime(dst, ns=(before.st_atime_ns, before.st_mtime_ns))
    return sha, b3, n


def hash_file(
    path: Path, progress: Progress | None = None, *, uncached: bool = False, sha256: bool = True
) -> tuple[str, str]:
    """``(sha256 hex, "b3:" + blake3 hex)`` of a file, read once in blocks that two
    threads hash side by side. ``uncached``: drop the file's (clean) cached pages first,
    so the bytes come from the storage device rather than from memory. ``sha256=False``:
    BLAKE3 only (the SHA-256 returned is ``""``)."""
    with open_binary(path, buffering=0) as fh:
        if uncached:
            _advise(fh.fileno(), "POSIX_FADV_DONTNEED")
        _advise(fh.fileno(), "POSIX_FADV_SEQUENTIAL")
        sha, b3, _ = _pump(fh, None, progress, os.fstat(fh.fileno()).st_size, sha256)
    return sha, b3


def hash_files(paths: Iterable[Path], jobs: int = 2) -> list[tuple[str, str]]:
    """:func:`hash_file` of many files, in order; small files (the chunks of a Zarr
    store) are hashed whole, several at once, as handing each block to the hashing
    threads would cost more than hashing it."""

    def one(path: Path) -> tuple[str, str]:
        with open_binary(path, buffering=0) as fh:
            if os.fstat(fh.fileno()).st_size > BLOCK:
                return hash_file(path)
            data = fh.read()
        return hashlib.sha256(data).hexdigest(), "b3:" + blake3.blake3(data).hexdigest()

    with cf.ThreadPoolExecutor(jobs, thread_name_prefix="voxcat-hash") as pool:
        return list(pool.map(one, paths))


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

    One JSON line per file: ``{"path", "size", "mtime_ns", "sha256", "b3", "how",
    "verified"}`` (``path`` relative to the export folder; ``verified`` is ``"written"``
    or ``"reread"``, see :class:`Writer`). Safe to call from worker threads.
    ``state_dir``: the folder of ``dest`` the journal lives in (a migration keeps its
    own, ``.voxcat-migrate``).
    """

    def __init__(self, dest: Path, state_dir: str = STATE_DIR) -> None:
        self.dest = dest
        self.path = dest / state_dir / "done.jsonl"
        self.done: dict[str, dict[str, Any]] = {}
        self.kept_chunks = 0  # chunks of Zarr conversions resumed by this run (not logged)
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
        items = list(items)
        lines = "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items)
        with self._lock:
            # no fsync: a line lost in a crash only means the file is written again;
            # the file itself was flushed before it was renamed into place
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(lines)
            for i in items:
                self.done[i["path"]] = i


def record(
    dest: Path, path: Path, sha: str, b3: str, how: str, verified: str = WRITTEN
) -> dict[str, Any]:
    st = os.lstat(path)
    return {
        "path": path.relative_to(dest).as_posix(),
        "size": os.stat(path).st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": sha,
        "b3": b3,
        "how": how,
        "verified": verified,
    }


class Writer:
    """Copies (or links) files one after another, hashing each while it is copied; a
    worker thread flushes each copy to disk (it waits for the disk, not the CPU) while
    the next one is copied, then renames it into place and records it in the journal.

    Verification: the BLAKE3 of the bytes read and written must equal the index
    checksum (``expected``; a sampled one is compared with the same samples of the
    copy, whose full hashes are what the manifests and the exported index hold), else
    the file is refused; the copy must then be ``fsync``-ed without error and have
    the size written. ``deep=True`` also reads each
    copy back from the device after its ``fsync`` (cached pages dropped) and compares
    both hashes, and re-reads files that an earlier, interrupted run wrote without it.
    ``sha256=False`` computes BLAKE3 only (a migration, which writes no BagIt
    manifest); the journal then records ``""`` as the SHA-256.

    >>> with Writer(dest, journal, mode="copy") as w:          # doctest: +SKIP
    ...     w.put(src, dest / "data/id/a.tif", expected="b3:...")
    """

    def __init__(
        self,
        dest: Path,
        journal: Journal,
        mode: str,
        progress: Progress | None = None,
        *,
        deep: bool = False,
        sha256: bool = True,
    ) -> None:
        self.dest, self.journal, self.mode, self.progress = dest, journal, mode, progress
        self.deep = deep
        self.sha256 = sha256
        # passed on only when off: the copy and hash calls of an export are unchanged
        self._hashes: dict[str, bool] = {} if sha256 else {"sha256": False}
        self._flusher = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="voxcat-flush")
        self._flushing: collections.deque[cf.Future] = collections.deque()
        self.skipped = 0
        self.bytes_written = 0

    def _hash(
        self, path: Path, progress: Progress | None = None, *, uncached: bool = False
    ) -> tuple[str, str]:
        """:func:`hash_file`, without SHA-256 when the writer computes none."""
        if not self.sha256:
            return hash_file(path, progress, uncached=uncached, sha256=False)
        if uncached:
            return hash_file(path, uncached=True)
        return hash_file(path, progress)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.wait()
        finally:
            self._flusher.shutdown(wait=True)

    def put(self, src: Path, dst: Path, expected: str | None) -> None:
        """Write ``src`` to ``dst`` unless the journal has it already."""
        rel = dst.relative_to(self.dest).as_posix()
        item = self.journal.finished(rel)
        if item is not None and self._still_good(dst, item):
            self.skipped += 1
            return
        tmp = tmp_name(dst)
        dst.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if self.mode == "link":
            check_regular(src)  # a link to a named pipe would block when hashed
            how = _link(src, tmp)
            sha, b3 = self._hash(tmp, self.progress)  # the source's bytes, read once
            size = None
        else:
            how = "copy"
            # cut short (Ctrl-C, a crash), the half file stays under its temporary name
            try:  # until a rerun
                sha, b3, size = copy_file(src, tmp, self.progress, **self._hashes)
            except ExportError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        found = b3
        if is_sampled(expected):  # only sampled at scan time: sample the bytes written
            found = sampled_checksum(tmp, mtime_ns=os.stat(src).st_mtime_ns)
        if expected is not None and found != expected:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ExportError(
                f"{display(src)} does not match the index (checksum {found[:15]}... != "
                f"{expected[:15]}...): it changed since it was scanned or could not be read "
                "back correctly; rescan it (voxcat scan) or check the disk, then rerun the "
                "export"
            )
        while len(self._flushing) >= MAX_FLUSHING:
            self._flushing.popleft().result()
        self._flushing.append(
            self._flusher.submit(self._finish, src, tmp, dst, sha, b3, how, size)
        )

    def _still_good(self, dst: Path, item: dict[str, Any]) -> bool:
        """With ``deep``, a file an earlier run wrote without re-reading it is read back
        now; ``False`` (write it again) if it no longer has its hashes."""
        if not self.deep or item.get("how") != "copy" or item.get("verified") == REREAD:
            return True
        sha, b3 = self._hash(dst, uncached=True)
        if (sha, b3) != (item["sha256"], item["b3"]):
            return False
        self.journal.add([{**item, "verified": REREAD}])
        return True

    def _finish(
        self, src: Path, tmp: Path, dst: Path, sha: str, b3: str, how: str, size: int | None
    ) -> None:
        verified = WRITTEN
        if how == "copy":
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
                on_disk = os.fstat(fd).st_size
            finally:
                os.close(fd)
            problem = None
            if on_disk != size:
                problem = f"it has {on_disk} bytes, not the {size} written"
            elif self.deep:
                again = self._hash(tmp, uncached=True)
                if again != (sha, b3):
                    problem = "it reads back with other bytes than were written"
                verified = REREAD
            if problem is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise ExportError(
                    f"the copy of {display(src)} at {display(dst)} is damaged ({problem}); "
                    "check the disk and rerun the export"
                )
        os.replace(tmp, dst)
        self.bytes_written += os.stat(dst).st_size
        self.journal.add([record(self.dest, dst, sha, b3, how, verified)])

    def wait(self) -> None:
        """Wait for every file handed to :meth:`put` (re-raises the first failure)."""
        flushing, self._flushing = list(self._flushing), collections.deque()
        errors = _results(flushing)
        if errors:
            raise errors[0]


def _link(src: Path, tmp: Path) -> str:
    """Hard-link ``src`` at ``tmp``, else symlink it; returns which."""
    try:
        os.link(src, tmp)
        return "hardlink"
    except OSError:
        os.symlink(os.path.abspath(src), tmp)
        return "symlink"


def _results(futures: list[cf.Future]) -> list[BaseException]:
    errors = []
    for fut in futures:
        try:
            fut.result()
        except BaseException as exc:
            errors.append(exc)
    return errors
