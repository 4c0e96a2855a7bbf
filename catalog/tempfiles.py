"""Temporary names that say who is writing them, so that what a killed writer left
behind can be told from work still in progress.

voxcat writes everything big (saved results, preview pyramids, Zarr conversions) under
a hidden temporary name and renames it into place when complete. The temporary name
carries its writer: the host, the process id and the process's start time
(``.vol.zarr.myhost-4242-8811234-5f2a9c1e.tmp``). A leftover is *stale* when that
writer is gone: on this host, no process with that id, or one started at another time
(the id was reused); a name written on another host (a shared disk), or by an older
voxcat without its writer in it, is stale only after ``max_age`` seconds.

>>> tmp = temp_path(Path("lab.store/pores.zarr"))              # doctest: +SKIP
>>> is_stale(tmp)                                               # doctest: +SKIP
False
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

#: how old a leftover whose writer cannot be checked must be before it is removed
MAX_AGE = 6 * 3600.0
_TAG = re.compile(r"\.(?P<host>[A-Za-z0-9]{1,24})-(?P<pid>\d+)-(?P<start>\d+)-[0-9a-f]{8}\.\w+$")
_ME: tuple[str, int, int] | None = None


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24] or "host"


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, from ``/proc``); None
    where that cannot be read (no ``/proc``, or no such process)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()  # the name may hold spaces and ')'
    try:
        return int(fields[19])  # field 22 of stat(5); fields here start at field 3
    except (IndexError, ValueError):
        return None


def owner() -> str:
    """This process as temporary names record it: ``host-pid-start``."""
    global _ME
    pid = os.getpid()
    if _ME is None or _ME[1] != pid:  # a forked child is another writer
        _ME = (_host(), pid, process_start(pid) or 0)
    return f"{_ME[0]}-{_ME[1]}-{_ME[2]}"


def temp_path(final: Path, suffix: str = ".tmp") -> Path:
    """A hidden sibling of ``final`` naming this process as its writer."""
    return final.with_name(f".{final.name}.{owner()}-{uuid.uuid4().hex[:8]}{suffix}")


@dataclasses.dataclass(frozen=True)
class Writer:
    """The writer a temporary name records."""

    host: str
    pid: int
    start: int

    def alive(self) -> bool | None:
        """Whether the writer still runs; None when it cannot be told (another host)."""
        if self.host != _host():
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # someone else's process: it exists
        now = process_start(self.pid)
        return not (self.start and now is not None and now != self.start)


def writer_of(name: str) -> Writer | None:
    """The writer recorded in a temporary name, or None if it records none."""
    m = _TAG.search(name)
    if m is None:
        return None
    return Writer(m["host"], int(m["pid"]), int(m["start"]))


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary name :func:`temp_path` made (a write in progress,
    or what a killed writer left): hidden, with its writer recorded.

    >>> is_temp_name(".pores.zarr.myhost-4242-8811234-5f2a9c1e.tmp")
    True
    """
    return name.startswith(".") and _TAG.search(name) is not None


def writer_alive(text: str) -> bool | None:
    """:meth:`Writer.alive` of an owner string as :func:`owner` writes it."""
    found = writer_of(f".x.{text}-00000000.tmp")
    return None if found is None else found.alive()


def is_stale(path: Path, max_age: float = MAX_AGE) -> bool:
    """Whether the temporary ``path`` was left by a writer that is gone (see above)."""
    found = writer_of(path.name)
    alive = found.alive() if found is not None else None
    if alive is not None:
        return not alive
    try:
        age = time.time() - os.lstat(path).st_mtime
    except OSError:
        return False
    return age > max_age


def remove(path: Path) -> None:
    """Delete a file or a folder (not following links); missing is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_stale(
    folder: Path, max_age: float = MAX_AGE, suffixes: tuple[str, ...] = (".tmp",)
) -> list[Path]:
    """Remove the stale hidden temporaries (names starting with ``.`` and ending in
    one of ``suffixes``) directly in ``folder``; returns what was removed."""
    removed = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    for name in names:
        if name.startswith(".") and name.endswith(tuple(suffixes)):
            path = folder / name
            if is_stale(path, max_age):
                remove(path)
                removed.append(path)
    return removed
