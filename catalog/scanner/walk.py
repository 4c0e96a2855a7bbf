"""Walk a tree and group its files into datasets.

The walk is a chain of walkers, as in tiled's ``register``: at every folder each
reader may first claim the whole folder (a Zarr store, a DICOMDIR tree); then each
reader's ``group`` takes the files it recognises (DICOM series, numbered slice stacks,
header + data pairs) and hands back the rest; every file left over becomes a
single-file dataset of the first reader that recognises its magic bytes, or a
non-image file. Nothing on the drive is invisible.

Only regular files are ever opened, and the walk stays inside the scanned folder:

- symlinks (to folders or files) that resolve inside the root are followed, with loop
  detection; links that resolve outside it are recorded as issues (the link and its
  target: :data:`LINK_OUT`) and not followed, unless the scan asks for it
  (``follow_links=True``, or a list of folders links may lead into: :class:`Bounds`);
- named pipes, sockets and devices are recorded and skipped, at every depth: the files
  of a folder a reader claims (a Zarr store, a DICOMDIR tree) are checked one by one,
  and those that are not regular files inside the root are recorded and left out;
- a file a header names outside its own folder (a detached data file) is part of its
  dataset when it lies inside the root; otherwise the dataset fails with the header,
  the data file and the cause (:attr:`Candidate.refused`), and the file is never read.

Loops, dangling links and unreadable folders become recorded issues and the walk goes on.

On a rescan, a folder whose files are exactly those of datasets the index already
holds, unchanged, is not grouped again: the walk yields them as
:class:`~catalog.scanner.known.Known` (see ``known.py``).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import stat as stat_mod
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..confine import file_kind, inside, normal
from ..errors import ScanCancelled
from ..paths import display, to_db
from ..progress import CancelFlag, check
from ..readers import Reader, Source
from ..readers.base import magic_cache
from ..tempfiles import is_temp_name
from .known import GROUP_FAILED, STAT_FAILED, Known, KnownTree, object_etags, signature

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
        ".voxcat-migrate",  # a migration's journal (catalog/migration)
    }
)

Issue = Callable[[str, str, str], None]  # (path, severity, message)

#: How the issue of a link that leads out of the scanned folder begins; the target follows.
LINK_OUT = "symlink out of the scanned folder, not followed: -> "


def link_message(target: str) -> str:
    """The issue recorded for a link to ``target``, outside the scanned folder."""
    return f"{LINK_OUT}{display(target)} (scan with --follow-links to follow it)"


@dataclasses.dataclass
class Bounds:
    """Where a walk may go: the scan root, and the real folders links may lead into
    (``None``: anywhere, as ``follow_links=True`` asks).

    >>> b = Bounds.of(Path("/data/drive"))
    >>> b.refuse(Path("/etc/passwd"))                               # doctest: +SKIP
    'outside the scanned folder /data/drive'
    """

    root: str  # the root folder (a file root's folder), absolute and normalised
    targets: tuple[str, ...] | None
    _dirs: dict[str, bool] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def of(
        cls, root: Path, follow_links: bool | Iterable[str | os.PathLike[str]] = False
    ) -> Bounds:
        folder = normal(root)
        if not os.path.isdir(folder):
            folder = os.path.dirname(folder)
        if follow_links is True:
            return cls(folder, None)
        extra = () if follow_links is False else tuple(follow_links)
        targets = (os.path.realpath(folder), *(os.path.realpath(normal(f)) for f in extra))
        return cls(folder, targets)

    def _within(self, real: str) -> bool:
        return self.targets is None or any(inside(real, t) for t in self.targets)

    def link_out(self, path: str) -> str | None:
        """Where the link ``path`` leads when that is outside the bounds, else ``None``."""
        if self.targets is None:
            return None
        real = os.path.realpath(path)
        return None if self._within(real) else real

    def refuse(self, path: Path) -> str | None:
        """Why ``path``, a file a reader names (a file of a claimed folder, a header's
        data file), must not be read, or ``None`` when it is a regular file inside."""
        p = normal(path)
        if not inside(p, self.root):
            return f"outside the scanned folder {display(self.root)}"
        parent = os.path.dirname(p)
        ok = self._dirs.get(parent)
        if ok is None:
            ok = self._dirs[parent] = self._within(os.path.realpath(parent))
        if not ok:
            return link_message(os.path.realpath(parent))
        try:
            st = os.lstat(p)
            if stat_mod.S_ISLNK(st.st_mode):
                problem = _link_problem(Path(p))
                if problem:
                    return problem
                out = self.link_out(p)
                if out is not None:
                    return link_message(out)
                st = os.stat(p)
        except OSError as exc:
            return f"cannot stat: {exc.strerror}"
        if not stat_mod.S_ISREG(st.st_mode):
            return f"{file_kind(st.st_mode)}, not a regular file"
        return None


@dataclasses.dataclass
class FileStat:
    path: Path
    rel: str  # relative to the dataset location (its name for single files)
    size: int
    mtime_ns: int
    etag: str | None = None  # an object's ETag (object storage)


@dataclasses.dataclass
class Candidate:
    """A dataset found by the walk, before any of its content is read."""

    source: Source
    reader: str | None  # None: a non-image file
    files: list[FileStat]
    forced: bool = False  # the reader was chosen by suffix only (magic bytes disagreed)
    warnings: list[str] = dataclasses.field(default_factory=list)
    #: why the dataset must not be read (a data file outside the root): it is recorded
    #: as failed with this cause, and only its files inside the root are hashed
    refused: str | None = None

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def mtime(self) -> float:
        return max((f.mtime_ns for f in self.files), default=0) / 1e9

    @property
    def signature(self) -> str:
        """Changes whenever a file is added, removed, resized or touched, and when the
        dataset is refused (a data file outside the root) where it was read before."""
        options = self.source.options
        if self.refused:
            options = {**options, "refused": self.refused}
        if self.source.storage is not None:  # objects: their ETags and the storage too
            options = {
                **options,
                "storage": self.source.storage.public,
                "etags": object_etags((f.rel, f.etag) for f in self.files),
            }
        return signature(self.reader, options, ((f.rel, f.size, f.mtime_ns) for f in self.files))


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


def _content_reader(readers: list[Reader], path: Path) -> Reader | None:
    """The first reader that says it can open ``path`` by its content."""
    for r in readers:
        try:
            if r.guess_can_open(path):
                return r
        except Exception:
            continue
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
    bounds: Bounds | None = None,
    cancel: CancelFlag | None = None,
) -> Iterator[Candidate | Known]:
    """Yield every dataset under ``root`` (a folder or a single file).

    With ``known`` (a rescan), folders whose files all belong, unchanged, to datasets
    the index holds yield those as :class:`Known` instead of grouping them again.
    ``bounds`` (default: the root, no link followed out of it) says where links may lead.
    ``cancel`` is checked before each folder: once set, the walk raises
    :class:`~catalog.errors.ScanCancelled` (a walk cut short must not pass for a
    complete one: what it did not reach would be taken for missing).
    """
    bounds = bounds or Bounds.of(root)
    suffix_readers = [(r, r.suffixes) for r in readers if r.suffixes]
    taken: set[str] = set()  # files of datasets found in another folder (data files)
    if root.is_file():
        yield from _files_to_candidates(
            root.parent, [root], readers, suffix_readers, issue, bounds, taken
        )
        return
    claimers = [r for r in readers if _claims(r)]
    excluded = {os.fspath(p) for p in exclude}
    visited: dict[tuple[int, int], Path] = {}
    stack = [root]
    while stack:
        check(cancel, ScanCancelled, "the scan was cancelled while walking the tree")
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
        claimed = _claim(folder, claimers, issue, bounds)
        if claimed is not None:
            yield claimed
            continue
        listed = _list(folder, excluded, issue, bounds, taken)
        if listed is None:
            continue
        files, subdirs, stats = listed
        found = known.match(to_db(folder), stats) if known is not None and files else None
        if found is not None:
            yield from found
        else:
            with magic_cache():  # each file's leading bytes read once, not once per reader
                grouped = list(
                    _files_to_candidates(
                        folder,
                        [Path(f) for f in files],
                        readers,
                        suffix_readers,
                        issue,
                        bounds,
                        taken,
                    )
                )
            yield from grouped
        stack.extend(reversed(subdirs))


def _list(
    folder: Path,
    excluded: set[str] | frozenset[str],
    issue: Issue,
    bounds: Bounds,
    taken: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[str], list[Path], dict[str, tuple[int, int]]] | None:
    """The regular files (paths, and ``name -> (size, mtime_ns)`` with names in index
    form) and subfolders of ``folder``, sorted by name; ``None`` if it cannot be listed.

    Links leading out of ``bounds`` and files that are not regular are recorded and
    left out; so are files in ``taken`` (data files of a dataset found elsewhere)."""
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
        if name in IGNORED_NAMES or name.startswith("._") or path in excluded or path in taken:
            continue
        if is_temp_name(name):  # voxcat's own half-written result or preview
            issue(
                path,
                "warning",
                "a voxcat temporary name (a write in progress or left by a "
                "killed writer); not indexed",
            )
            continue
        try:
            if entry.is_symlink():
                problem = _link_problem(Path(path))
                if problem:
                    issue(path, "error", problem)
                    continue
                out = bounds.link_out(path)
                if out is not None:
                    issue(path, "warning", link_message(out))
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
            issue(path, "warning", f"{file_kind(st.st_mode)}, not a regular file; skipped")
    return files, subdirs, stats


def regroup(
    folder: Path,
    readers: list[Reader],
    *,
    issue: Issue,
    exclude: frozenset[Path] = frozenset(),
    bounds: Bounds | None = None,
) -> Iterator[Candidate]:
    """The datasets of the files of ``folder`` alone, grouped as a full walk would."""
    bounds = bounds or Bounds.of(folder)
    listed = _list(folder, {os.fspath(p) for p in exclude}, lambda *_: None, bounds)
    if listed is None:
        return
    suffix_readers = [(r, r.suffixes) for r in readers if r.suffixes]
    files = [Path(f) for f in listed[0]]
    yield from _files_to_candidates(folder, files, readers, suffix_readers, issue, bounds, set())


def _claim(folder: Path, readers: list[Reader], issue: Issue, bounds: Bounds) -> Candidate | None:
    for reader in readers:
        try:
            source = reader.claim_directory(folder)
        except OSError:
            return None  # unreadable folder: the listing below records why, once
        except Exception as exc:  # a reader bug must not stop the walk
            issue(str(folder), "error", f"{reader.name} reader failed to inspect folder: {exc}")
            continue
        if source is not None:
            return _candidate(_vet_claimed(source, issue, bounds), reader.name, issue)
    return None


def _vet_claimed(source: Source, issue: Issue, bounds: Bounds) -> Source:
    """``source`` without the files a claimed folder holds that must not be read (pipes,
    sockets, devices, links out of the root); each is recorded with its cause."""
    kept = []
    for f in source.files:
        why = bounds.refuse(f)
        if why is None:
            kept.append(f)
        else:
            issue(str(f), "warning", why if why.startswith(LINK_OUT) else f"{why}; skipped")
    if len(kept) == len(source.files):
        return source
    return dataclasses.replace(source, files=tuple(kept))


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


def _outside_files(
    source: Source, listed: set[Path], bounds: Bounds, taken: set[str]
) -> tuple[Source, str | None]:
    """Check the files of a grouped dataset that are not in the folder's listing (a
    header's data files elsewhere): inside the root they join the dataset (and ``taken``,
    so their own folder does not list them again); otherwise they are dropped and the
    reason is returned, naming the header and the file."""
    if all(f in listed for f in source.files):
        return source, None
    refused = None
    kept = []
    for f in source.files:
        if f in listed:
            kept.append(f)
        elif (why := bounds.refuse(f)) is None:
            kept.append(Path(normal(f)))
            taken.add(normal(f))
        elif refused is None:
            refused = f"{display(source.path)}: data file {display(f)}: {why}; not read"
    return dataclasses.replace(source, files=tuple(kept)), refused


def _files_to_candidates(
    folder: Path,
    files: list[Path],
    readers: list[Reader],
    suffix_readers: list[tuple[Reader, tuple[str, ...]]],
    issue: Issue,
    bounds: Bounds,
    taken: set[str],
) -> Iterator[Candidate]:
    listed = set(files)
    for reader in readers:
        if not files:
            break
        try:
            sources, files = reader.group(folder, files)
        except Exception as exc:
            issue(str(folder), "error", f"{reader.name} {GROUP_FAILED}: {exc}")
            continue
        for source in sources:
            source, refused = _outside_files(source, listed, bounds, taken)
            cand = _candidate(source, reader.name, issue)
            if cand is not None:
                cand.refused = refused
                yield cand
    for path in files:
        found = _content_reader(readers, path)
        by_suffix = next((r for r, sfx in suffix_readers if _ends(path, sfx)), None)
        cand = None
        if found is not None:
            cand = _candidate(Source.single(path), found.name, issue)
            if cand and by_suffix is not None and by_suffix.name != found.name:
                cand.warnings.append(
                    f"{display(path)}: the name says {by_suffix.name} but the content is "
                    f"{found.name}; read as {found.name}"
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
