"""Detached headers: a text header that keeps its pixels in other files (MetaImage's
``.mhd`` + ``.raw``, NRRD's ``.nhdr`` + data files), shared by both readers.

A header names its data as one file, a list (``LIST``, one name a line after the
header) or a file pattern ``<printf format> <first> <last> <step>`` such as
``slice%03d.raw 1 10 1`` (``last`` included; a negative step counts down:
``slice%03d.raw 10 1 -1``). Uncompressed data opens through ``np.memmap`` in dask
chunks (:class:`RawBlocks`). A data file is read only when it is one of the dataset's
files (:func:`check_data_files`), so a header naming ``/etc/passwd`` or ``../../x.raw``
never turns someone else's bytes into pixels.

>>> pattern_names("s%02d.raw 3 1 -1")
['s03.raw', 's02.raw', 's01.raw']
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..confine import normal, open_binary, sidecar_problem
from ..errors import ReaderError
from .arrays import auto_chunks, dask_name, lazy_array
from .base import Source, read_magic, reader_errors

#: ``<format> <first> <last> <step>`` (NRRD may add a sub-dimension after the step).
FILE_PATTERN = re.compile(
    r"^(?P<fmt>\S*%\S+)\s+(?P<start>-?\d+)\s+(?P<stop>-?\d+)\s+(?P<step>-?\d+)"
)


# -- what a header names -------------------------------------------------------------


def is_list(spec: str) -> bool:
    """Whether a data-file field says ``LIST`` (the names follow the header).

    >>> is_list("LIST"), is_list("list 2"), is_list("listing.raw")
    (True, True, False)
    """
    words = spec.split(maxsplit=1)
    return bool(words) and words[0].upper() == "LIST"


def pattern_names(spec: str) -> list[str] | None:
    """The file names a pattern ``fmt first last step`` stands for (``last`` included,
    counting down for a negative step); ``None`` if ``spec`` is not a pattern.

    Raises ``ValueError`` when the step never leads from ``first`` to ``last``.

    >>> pattern_names("img%d.raw 1 3 1"), pattern_names("img.raw")
    (['img1.raw', 'img2.raw', 'img3.raw'], None)
    """
    m = FILE_PATTERN.match(spec.strip())
    if m is None:
        return None
    start, stop, step = int(m["start"]), int(m["stop"]), int(m["step"]) or 1
    if (stop - start) * step < 0:
        raise ValueError(f"file pattern {spec.strip()!r}: a step of {step} never reaches {stop}")
    end = stop + (1 if step > 0 else -1)
    return [m["fmt"] % k for k in range(start, end, step)]


def listed_names(lines: Sequence[bytes], *, comments: bool = False) -> list[str]:
    """The non-empty lines after ``LIST`` as names (``#`` lines skipped if ``comments``)."""
    names = [ln.decode("latin-1").strip() for ln in lines]
    return [n for n in names if n and not (comments and n.startswith("#"))]


def data_files(header: Path, spec: str, listed: Sequence[str]) -> list[Path]:
    """The data files a header's field ``spec`` names (a list, a pattern or one name),
    absolute and normalised (``..`` resolved as text) relative to the header's folder.

    >>> [p.name for p in data_files(Path("/d/a.mhd"), "a%d.raw 2 1 -1", [])]
    ['a2.raw', 'a1.raw']
    """
    spec = spec.strip()
    if is_list(spec):
        names = list(listed)
    else:
        names = pattern_names(spec) or [spec]
    return [Path(normal(header.parent / n)) for n in names]


def read_header(path: Path, limit: int, complete: Callable[[bytes], bool]) -> bytes:
    """The leading bytes of ``path`` up to ``limit``, read in growing blocks until
    ``complete(head)`` says the header is whole: describing a file reads its header,
    not the pixels after it. ``b""`` if the file cannot be read."""
    first = min(limit, 1024)
    head = read_magic(path, first)  # cached while a folder is grouped
    if len(head) < first or complete(head):
        return head
    try:
        with open_binary(path, buffering=0) as fh:
            fh.seek(len(head))
            block = 4096
            while len(head) < limit:
                more = fh.read(min(block, limit - len(head)))
                if not more:
                    break
                head += more
                if complete(head):
                    break
                block = min(block * 2, 1 << 20)
    except OSError:
        return b""
    return head


# -- grouping --------------------------------------------------------------------------


def header_members(header: Path, data_files: list[Path], by_name: dict[str, Path]) -> list[Path]:
    """The data files of a header to put in its dataset: those the folder listed, and
    any other that exists (elsewhere, or not listed); the scan checks the others lie
    inside the scanned folder and are regular files before the dataset is read."""
    members = []
    h = Path(normal(header))
    for f in data_files:
        if f == h:
            continue
        if f.parent == h.parent and f.name in by_name:
            members.append(by_name[f.name])
        elif os.path.lexists(f):
            members.append(f)
    return members


def group_headers(
    files: list[Path],
    data_files_of: Callable[[Path], list[Path] | None],
    name_of: Callable[[Path], str],
) -> tuple[list[Source], list[Path]]:
    """Pair every detached header among ``files`` with the data files it names.

    ``data_files_of(path)`` gives a header's data files, or ``None`` for a file that is
    not a detached header (another format, unreadable, or data inside the header).
    Returns the datasets and the files left for other readers.
    """
    by_name = {p.name: p for p in files}
    sources: list[Source] = []
    taken: set[Path] = set()
    for path in files:
        data = data_files_of(path)
        if data is None:
            continue
        members = header_members(path, data, by_name)
        taken.update([path, *members])
        sources.append(Source(path=path, files=(path, *members), name=name_of(path)))
    return sources, [p for p in files if p not in taken]


# -- checks ----------------------------------------------------------------------------


def check_data_files(
    header: Path, data_files: list[Path], files: Iterable[Any], what: str
) -> None:
    """Raise ReaderError naming ``header`` when a data file it names does not exist, is
    not a regular file, or is not one of the dataset's ``files`` (outside the scanned
    folder): see :func:`~catalog.confine.sidecar_problem`."""
    listed = frozenset(normal(f) for f in files)
    for f in data_files:
        if not os.path.lexists(f):
            raise ReaderError(header, f"data file {f.name!r} ({what}) does not exist")
        label = "data file" if what.startswith("data file") else f"data file ({what})"
        problem = sidecar_problem(header, f, listed, label)
        if problem:
            raise ReaderError(header, problem)


def check_extent(parts: list[tuple[Path, int]], nbytes: int, header: Path) -> None:
    """Raise ReaderError when a data file is missing or shorter than its pixel data."""
    for path, offset in parts:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ReaderError(
                header, f"data file {path.name!r} cannot be read: {exc.strerror or exc}"
            ) from exc
        if offset < 0 or offset + nbytes > size:
            raise ReaderError(
                path,
                f"truncated file: pixel data needs {nbytes} bytes at offset {offset}, "
                f"the file has {size}",
            )


# -- raw pixels ------------------------------------------------------------------------


class RawBlocks:
    """Blocks of an uncompressed C-order array at byte ``offset`` of ``path``.

    Each read maps the file (``np.memmap``) and copies the block out in native byte
    order; nothing stays open, so the object pickles.
    """

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...], dtype: Any) -> None:
        self.path, self.offset = Path(path), int(offset)
        self.shape, self.ndim = tuple(int(n) for n in shape), len(shape)
        self.file_dtype = np.dtype(dtype)
        self.dtype = self.file_dtype.newbyteorder("=")

    def __getitem__(self, index: Any) -> np.ndarray:
        with reader_errors(self.path, "cannot read pixel data (truncated or unreadable?)"):
            with open_binary(self.path) as fh:  # regular files only: a pipe never blocks
                mm = np.memmap(
                    fh, dtype=self.file_dtype, mode="r", offset=self.offset, shape=self.shape
                )
            return np.array(mm[index], dtype=self.dtype)


def raw_array(
    parts: list[tuple[Path, int]], shape: tuple[int, ...], dtype: Any, prefix: str
) -> Any:
    """A lazy dask array over uncompressed data split into equal files along axis 0."""
    import dask.array as da

    n = len(parts)
    per = (shape[0] // n, *shape[1:])
    arrays = []
    for path, offset in parts:
        blocks = RawBlocks(path, offset, per, dtype)
        chunks = auto_chunks(per, blocks.dtype.itemsize)
        arrays.append(lazy_array(blocks, chunks, dask_name(prefix, path, offset, per)))
    return arrays[0] if n == 1 else da.concatenate(arrays, axis=0)
