"""Walk a tree and group its files into datasets.

The walk is a chain of walkers, as in tiled's ``register``: at every folder each
reader may first claim the whole folder (a Zarr store, a DICOMDIR tree); then each
reader's ``group`` takes the files it recognises (DICOM series, numbered slice stacks,
header + data pairs) and hands back the rest; every file left over becomes a
single-file dataset of the first reader that recognises its magic bytes, or a
non-image file. Nothing on the drive is invisible.

Directory symlinks are followed with loop detection; loops, dangling links and
unreadable folders become recorded issues and the walk goes on.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat as stat_mod
from collections.abc import Callable, Iterator
from pathlib import Path

import blake3

from ..paths import display
from ..readers import Reader, Source

#: Names that are never datasets: OS and file-manager litter found on external drives.
IGNORED_NAMES = frozenset(
    {
        ".DS_Store",
        "Thumbs.db",
        "desktop.ini",
        ".Trashes",
        ".Spotlight-V100",
        ".fseventsd",
        ".TemporaryItems",
        "$RECYCLE.BIN",
        "System Volume Information",
        ".ipynb_checkpoints",
        "__pycache__",
        ".git",
    }
)

Issue = Callable[[str, str, str], None]  # (path, severity, message)


@dataclasses.dataclass
class FileStat:
    path: Path
    rel: str  # relative to the dataset location (its name for single files)
    size: int
    mtime_ns: int


@dataclasses.dataclass
class Candidate:
    """A dataset found by the walk, before any of its content is read."""

    source: Source
    reader: str | None  # None: a non-image file
    files: list[FileStat]
    forced: bool = False  # the reader was chosen by suffix only (magic bytes disagreed)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def mtime(self) -> float:
        return max((f.mtime_ns for f in self.files), default=0) / 1e9

    @property
    def signature(self) -> str:
        """Changes whenever a file is added, removed, resized or touched."""
        h = blake3.blake3()
        h.update(f"{self.reader}\0{sorted(self.source.options.items())}\n".encode())
        for f in self.files:
            h.update(os.fsencode(f.rel) + f"\0{f.size}\0{f.mtime_ns}\n".encode())
        return h.hexdigest()[:32]


def _rel(path: Path, location: Path) -> str:
    if path == location:
        return path.name
    try:
        return os.fspath(path.relative_to(location))
    except ValueError:
        return path.name


def stat_files(source: Source) -> list[FileStat]:
    """Stat every file of ``source`` (following links); raises ``OSError``."""
    out = []
    for p in source.files:
        st = os.stat(p)
        out.append(FileStat(p, _rel(p, source.path), st.st_size, st.st_mtime_ns))
    return out


def _link_problem(path: Path) -> str | None:
    """Why a symlink cannot be followed, or None if it can."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (the link points back to itself)"
        if exc.errno == errno.ENOENT:
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return f"dangling symlink (its target {display(target)} does not exist)"
        return f"cannot follow symlink: {exc.strerror}"
    return None


def walk(
    root: Path,
    readers: list[Reader],
    *,
    issue: Issue,
    exclude: frozenset[Path] = frozenset(),
) -> Iterator[Candidate]:
    """Yield every dataset under ``root`` (a folder or a single file)."""
    suffix_readers = [(r, r.suffixes) for r in readers if r.suffixes]
    if root.is_file():
        yield from _files_to_candidates(root.parent, [root], readers, suffix_readers, issue)
        return
    visited: dict[tuple[int, int], Path] = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            issue(str(folder), "error", f"cannot open folder: {exc.strerror}")
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:
            issue(
                str(folder),
                "warning",
                f"symlink loop: this folder is {display(visited[key])} again; not scanned twice",
            )
            continue
        visited[key] = folder
        claimed = _claim(folder, readers, issue)
        if claimed is not None:
            yield claimed
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            issue(str(folder), "error", f"cannot list folder: {exc.strerror}")
            continue
        files: list[Path] = []
        subdirs: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name in IGNORED_NAMES or entry.name.startswith("._") or path in exclude:
                continue
            try:
                if entry.is_symlink():
                    problem = _link_problem(path)
                    if problem:
                        issue(str(path), "error", problem)
                        continue
                mode = os.stat(path).st_mode
            except OSError as exc:
                issue(str(path), "error", f"cannot stat: {exc.strerror}")
                continue
            if stat_mod.S_ISDIR(mode):
                subdirs.append(path)
            elif stat_mod.S_ISREG(mode):
                files.append(path)
            else:
                issue(str(path), "warning", "not a regular file (device, socket or pipe); skipped")
        yield from _files_to_candidates(folder, files, readers, suffix_readers, issue)
        stack.extend(reversed(subdirs))


def _claim(folder: Path, readers: list[Reader], issue: Issue) -> Candidate | None:
    for reader in readers:
        try:
            source = reader.claim_directory(folder)
        except OSError:
            return None  # unreadable folder: the listing below records why, once
        except Exception as exc:  # a reader bug must not stop the walk
            issue(str(folder), "error", f"{reader.name} reader failed to inspect folder: {exc}")
            continue
        if source is not None:
            return _candidate(source, reader.name, issue)
    return None


def _candidate(
    source: Source, reader: str | None, issue: Issue, forced: bool = False
) -> Candidate | None:
    try:
        stats = stat_files(source)
    except OSError as exc:
        issue(
            str(source.path), "error", f"cannot stat {display(exc.filename or '')}: {exc.strerror}"
        )
        return None
    return Candidate(source=source, reader=reader, files=stats, forced=forced)


def _files_to_candidates(
    folder: Path,
    files: list[Path],
    readers: list[Reader],
    suffix_readers: list[tuple[Reader, tuple[str, ...]]],
    issue: Issue,
) -> Iterator[Candidate]:
    for reader in readers:
        if not files:
            break
        try:
            sources, files = reader.group(folder, files)
        except Exception as exc:
            issue(str(folder), "error", f"{reader.name} reader failed to group files: {exc}")
            continue
        for source in sources:
            cand = _candidate(source, reader.name, issue)
            if cand is not None:
                yield cand
    for path in files:
        reader = None
        for r in readers:
            try:
                if r.guess_can_open(path):
                    reader = r
                    break
            except Exception:
                continue
        by_suffix = next((r for r, sfx in suffix_readers if _ends(path, sfx)), None)
        cand = None
        if reader is not None:
            cand = _candidate(Source.single(path), reader.name, issue)
            if cand and by_suffix is not None and by_suffix.name != reader.name:
                cand.warnings.append(
                    f"{display(path)}: the name says {by_suffix.name} but the content is "
                    f"{reader.name}; read as {reader.name}"
                )
        elif by_suffix is not None:
            # magic bytes disagree with the name: let that reader explain what is wrong
            cand = _candidate(Source.single(path), by_suffix.name, issue, forced=True)
        else:
            cand = _candidate(Source.single(path), None, issue)
        if cand is not None:
            yield cand


def _ends(path: Path, suffixes: tuple[str, ...]) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)
