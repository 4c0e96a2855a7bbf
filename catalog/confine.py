"""What voxcat may open: regular files only, inside the folders it was pointed at.

A named pipe blocks whoever opens it for reading, a link to ``/dev/zero`` streams
forever, a link or a header naming ``../../etc/passwd`` leads out of the scanned tree.
Everything that reads a file a tree names (the scanner's checksums, readers' headers,
chunks and detached data files, previews, exports, verify) goes through here:

- :func:`open_regular` stats the path, refuses anything but a regular file, opens it
  without blocking and checks the opened file again (it may have been swapped);
- :class:`Confined` also refuses paths that lead, links followed, out of the folders it
  allows (a dataset's own folder), unless they are among the files it was told of (the
  files a scan recorded for the dataset, which the scan checked against its root).

>>> fd = open_regular("/data/scan.tif")                         # doctest: +SKIP
>>> Confined(["/data/cells.zarr"]).open("/data/cells.zarr/0/0.0")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterable

from .errors import NotRegularFileError, OutsideRootError
from .paths import display

_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_FLAGS |= getattr(os, "O_BINARY", 0)


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, for messages: ``"a named pipe (FIFO)"``, ``"a socket"``...

    >>> file_kind(stat.S_IFIFO)
    'a named pipe (FIFO)'
    """
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a file"


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """``os.stat(path)`` if it is a regular file; :class:`NotRegularFileError` if it is
    something else, ``OSError`` if it cannot be stat'ed."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFileError(os.fspath(path), file_kind(st.st_mode))
    return st


def open_regular(path: str | os.PathLike[str]) -> int:
    """A read-only file descriptor of the regular file ``path``.

    Anything else (pipe, socket, device, folder) raises :class:`NotRegularFileError`
    before it is opened; the open itself never blocks, and the opened file is checked
    again in case the path was replaced meanwhile.
    """
    check_regular(path)
    fd = os.open(path, _FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(os.fspath(path), file_kind(mode))
        # O_NONBLOCK changes nothing for a regular file's reads: left as it is
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_binary(
    path: str | os.PathLike[str], buffering: int = -1
) -> io.BufferedIOBase | io.RawIOBase:
    """``open(path, "rb")`` for regular files only (see :func:`open_regular`)."""
    raw = io.FileIO(open_regular(path), "r", closefd=True)
    if buffering == 0:
        return raw
    return io.BufferedReader(raw, buffering if buffering > 0 else io.DEFAULT_BUFFER_SIZE)


def inside(path: str, folder: str) -> bool:
    """Whether the normalised absolute ``path`` is ``folder`` or lies below it.

    >>> inside("/data/a/b", "/data/a"), inside("/data/ab", "/data/a")
    (True, False)
    """
    if path == folder:
        return True
    base = folder if folder.endswith(os.sep) else folder + os.sep
    return path.startswith(base)


def normal(path: str | os.PathLike[str]) -> str:
    """``path`` absolute and normalised (``..`` removed as text, links not followed)."""
    return os.path.normpath(os.path.abspath(os.fspath(path)))


class Confined:
    """Opens files only when they are regular and lie, links followed, inside
    ``folders``, or are one of ``files`` (paths a scan already checked).

    >>> store = Confined(["/data/cells.zarr"], files=["/data/cells.zarr/zarr.json"])
    >>> fd = store.open("/data/cells.zarr/c/0/0")                    # doctest: +SKIP
    """

    def __init__(
        self,
        folders: Iterable[str | os.PathLike[str]],
        files: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        self.folders = tuple(normal(f) for f in folders)
        self.real = tuple(os.path.realpath(f) for f in self.folders)
        self.files = tuple(files)  # normalised on first need: a store may list 100,000
        self._listed: frozenset[str] | None = None
        self._dirs: dict[str, bool] = {}

    def _in(self, real: str) -> bool:
        return any(inside(real, r) for r in self.real)

    def _is_listed(self, p: str) -> bool:
        if self._listed is None:
            self._listed = frozenset(normal(f) for f in self.files)
        return p in self._listed

    def check(self, path: str | os.PathLike[str]) -> str:
        """The normalised ``path`` if it may be read; else :class:`OutsideRootError`
        (:class:`NotRegularFileError` is raised when it is opened)."""
        p = normal(path)
        if not any(inside(p, f) for f in self.folders):
            if self._is_listed(p):
                return p
            raise OutsideRootError(p, f"outside {_names(self.folders)}; not read")
        parent = os.path.dirname(p)
        ok = self._dirs.get(parent)
        if ok is None:
            ok = self._dirs[parent] = self._in(os.path.realpath(parent))
        try:
            if ok and not os.path.islink(p):
                return p
        except (OSError, ValueError):
            return p
        real = os.path.realpath(p)
        if self._in(real) or self._is_listed(p):
            return p
        raise OutsideRootError(
            p, f"leads to {display(real)}, outside {_names(self.folders)}; not read"
        )

    def open(self, path: str | os.PathLike[str]) -> int:
        """A read-only file descriptor of ``path`` (see :meth:`check`, :func:`open_regular`)."""
        return open_regular(self.check(path))

    def read_bytes(self, path: str | os.PathLike[str]) -> bytes:
        """The whole content of ``path``."""
        with os.fdopen(self.open(path), "rb") as fh:
            return fh.read()


def folder_files(folder: str | os.PathLike[str]) -> list[str]:
    """The regular files of ``folder`` (sorted paths) that stay inside it, links
    followed: what a reader may look at beside a file when the dataset lists nothing
    else (a partner file, a scanner log). Raises ``OSError`` if it cannot be listed."""
    guard = Confined([folder])
    out = []
    with os.scandir(folder) as it:
        for entry in it:
            try:
                if entry.is_symlink():
                    guard.check(entry.path)
                if entry.is_file() and stat.S_ISREG(entry.stat().st_mode):
                    out.append(entry.path)
            except OSError:
                continue
    return sorted(out)


def _names(folders: tuple[str, ...]) -> str:
    return " and ".join(display(f) for f in folders) or "the allowed folders"


def sidecar_problem(
    header: str | os.PathLike[str],
    data: str | os.PathLike[str],
    files: Iterable[str | os.PathLike[str]],
    what: str,
) -> str | None:
    """Why ``data``, a file ``header`` names (a detached data file, a partner file), must
    not be read, or ``None``. It may be read when it is one of the dataset's ``files``
    (a scan put it there after checking it lies inside the scanned folder) or, when the
    dataset lists no file but its header (a reader called directly), when it is a file
    of the header's own folder and not a link; in both cases only a regular file.

    ``files`` given as a ``frozenset`` are taken as normalised already (see
    :func:`normal`), so a header naming many files checks them in linear time.

    >>> print(sidecar_problem("/d/ct.mhd", "/etc/passwd", ["/d/ct.mhd"], "data file"))
    data file /etc/passwd lies outside the header's folder and is not one of the dataset's files; not read
    """
    d, h = normal(data), normal(header)
    listed = files if isinstance(files, frozenset) else frozenset(normal(f) for f in files)
    if d != h and d not in listed:
        own = os.path.dirname(d) == os.path.dirname(h)
        why = None
        if not own:
            why = "lies outside the header's folder"
        elif os.path.islink(d):
            why = "is a symbolic link"
        elif listed - {h}:  # the dataset lists its files, and not this one
            why = "is in the header's folder"
        if why is not None:
            return f"{what} {display(data)} {why} and is not one of the dataset's files; not read"
    try:
        mode = os.stat(d).st_mode
    except OSError as exc:
        return f"{what} {display(data)} cannot be read: {exc.strerror}"
    if not stat.S_ISREG(mode):
        return f"{what} {display(data)} is {file_kind(mode)}, not a regular file; not read"
    return None
