"""Walk a tree and group its files into datasets.

The walk is a chain of walkers, as in tiled's ``register``: at every folder each
reader may first claim the whole folder (a Zarr store, a DICOMDIR tree); then each
reader's ``group`` takes the files it recognises (DICOM series, numbered slice stacks,
header + data pairs) and hands back the rest; every file left over becomes a
single-file dataset of the first reader that recognises its magic bytes, or a
non-image file. Nothing on the drive is invisible.

Directory symlinks are followed with loop detection; loops, dangling links and
unreadable folders become recorded issues and the walk goes on.

On a rescan, a folder whose files are exactly those of datasets the index already
holds, unchanged, is not grouped again: the walk yields them as
:class:`~catalog.scanner.known.Known` (see ``known.py``).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat as stat_mod
from collections.abc import Callable, Iterator
from pathlib import Path

from ..paths import display, to_db
from ..readers import Reader, Source
from .known import GROUP_FAILED, STAT_FAILED, Known, KnownTree, signature

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
        return signature(
            self.reader, self.source.options, ((f.rel, f.size, f.mtime_ns) for f in self.files)
        )


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


def _claims(reader: Reader) -> bool:
    """Whether ``reader`` overrides :meth:`Reader.claim_directory` (the base claims nothing)."""
    return getattr(type(reader), "claim_directory", None) is not Reader.claim_directory


def walk(
    root: Path,
    readers: list[Reader],
    *,
    issue: Issue,
    exclude: frozenset[Path] = frozenset(),
    known: KnownTree | None = None,
) -> Iterator[Candidate | Known]:
    """Yield every dataset under ``root`` (a folder or a single file).

    With ``known`` (a rescan), folders whose files all belong, unchanged, to datasets
    the index holds yield those as :class:`Known` instead of grouping them again.
    """
    suffix_readers = [(r, r.suffixes) for r in readers if r.suffixes]
    if root.is_file():
        yield from _files_to_candidates(root.parent, [root], readers, suffix_readers, issue)
        return
    claimers = [r for r in readers if _claims(r)]
    excluded = {os.fspath(p) for p in exclude}
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
        claimed = _claim(folder, claimers, issue)
        if claimed is not None:
            yield claimed
            continue
        listed = _list(folder, excluded, issue)
        if listed is None:
            continue
        files, subdirs, stats = listed
        found = known.match(to_db(folder), stats) if known is not None and files else None
        if found is not None:
            yield from found
        else:
            yield from _files_to_candidates(
                folder, [Path(f) for f in files], readers, suffix_readers, issue
            )
        stack.extend(reversed(subdirs))


def _list(
    folder: Path, excluded: set[str], issue: Issue
) -> tuple[list[str], list[Path], dict[str, tuple[int, int]]] | None:
    """The regular files (paths, and ``name -> (size, mtime_ns)`` with names in index
    form) and subfolders of ``folder``, sorted by name; ``None`` if it cannot be listed."""
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        issue(str(folder), "error", f"cannot list folder: {exc.strerror}")
        return None
    files: list[str] = []
    subdirs: list[Path] = []
    stats: dict[str, tuple[int, int]] = {}
    for entry in entries:
        name, path = entry.name, entry.path
        if name in IGNORED_NAMES or name.startswith("._") or path in excluded:
            continue
        try:
            if entry.is_symlink():
                problem = _link_problem(Path(path))
                if problem:
                    issue(path, "error", problem)
                    continue
            st = os.stat(path)
        except OSError as exc:
            issue(path, "error", f"cannot stat: {exc.strerror}")
            continue
        if stat_mod.S_ISDIR(st.st_mode):
            subdirs.append(Path(path))
        elif stat_mod.S_ISREG(st.st_mode):
            files.append(path)
            stats[name if name.isascii() else to_db(name)] = (st.st_size, st.st_mtime_ns)
        else:
            issue(path, "warning", "not a regular file (device, socket or pipe); skipped")
    return files, subdirs, stats


def regroup(
    folder: Path, readers: list[Reader], *, issue: Issue, exclude: frozenset[Path] = frozenset()
) -> Iterator[Candidate]:
    """The datasets of the files of ``folder`` alone, grouped as a full walk would."""
    listed = _list(folder, {os.fspath(p) for p in exclude}, lambda *_: None)
    if listed is None:
        return
    suffix_readers = [(r, r.suffixes) for r in readers if r.suffixes]
    files = [Path(f) for f in listed[0]]
    yield from _files_to_candidates(folder, files, readers, suffix_readers, issue)


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
            str(source.path),
            "error",
            f"{STAT_FAILED}{display(exc.filename or '')}: {exc.strerror}",
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
            issue(str(folder), "error", f"{reader.name} {GROUP_FAILED}: {exc}")
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
        elif by_suffix is not None and not _holds_no_image(by_suffix, path):
            # magic bytes disagree with the name: let that reader explain what is wrong
            cand = _candidate(Source.single(path), by_suffix.name, issue, forced=True)
        else:
            cand = _candidate(Source.single(path), None, issue)
        if cand is not None:
            yield cand


def _holds_no_image(reader: Reader, path: Path) -> bool:
    """A sound file of the reader's format without an image (FITS of tables only)."""
    try:
        return bool(reader.holds_no_image(path))
    except Exception:
        return False


def _ends(path: Path, suffixes: tuple[str, ...]) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in suffixes)
