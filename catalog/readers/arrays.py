"""Helpers readers share to build lazy arrays: axis names, dask chunking, block
readers, and parsing of dates and text attributes.

>>> auto_chunks((100, 1024, 1024), 2)
(4, 1024, 1024)
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ReaderError
from .base import AXES_ORDER

CHUNK_BYTES = 8 << 20  # aim of a dask chunk: one slice, or several up to a few MB
SLICE_BYTES = 64 << 20  # a 2-D slice of a volume larger than this is split into rows
MAX_LISTED = 256  # datasets summarised in meta

#: Dimension names (lower case) that say which axis they are.
AXIS_ALIASES = {
    **dict.fromkeys(("t", "time", "frame", "frames", "timepoint"), "t"),
    **dict.fromkeys(("c", "ch", "channel", "channels", "band", "wavelength"), "c"),
    **dict.fromkeys(("z", "depth", "slice", "slices", "plane", "planes"), "z"),
    **dict.fromkeys(("y", "height", "row", "rows"), "y"),
    **dict.fromkeys(("x", "width", "col", "cols", "column", "columns"), "x"),
}


def check_size(path: Path) -> int:
    """The file's size; raises ReaderError for a missing or empty file."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ReaderError(path, f"cannot read file: {exc.strerror or exc}") from exc
    if size == 0:
        raise ReaderError(path, "empty file (0 bytes)")
    return size


def axes_from_names(names: Sequence[str]) -> str | None:
    """Axis letters when every name says its axis (``("depth", "row", "col")`` -> ``"zyx"``)."""
    letters = [AXIS_ALIASES.get(str(n).strip().lower()) for n in names]
    if not letters or None in letters or len(set(letters)) != len(letters):
        return None
    return "".join(letters)  # type: ignore[arg-type]


def positional_axes(shape: Sequence[int], dtype: Any) -> str:
    """Axes from position alone: last two ``yx``, then ``z``, ``c``, ``t``.

    A trailing dimension of 3 or 4 in an 8-bit array is taken as colour channels.

    >>> positional_axes((5, 64, 64), "uint16"), positional_axes((64, 64, 3), "uint8")
    ('zyx', 'yxc')
    """
    ndim = len(shape)
    if ndim == 0 or ndim > len(AXES_ORDER):
        raise ValueError(f"cannot map a {ndim}-dimensional array {tuple(shape)} to tczyx axes")
    if ndim in (3, 4) and shape[-1] in (3, 4) and np.dtype(dtype) == np.uint8:
        return "zyxc"[-ndim:]
    return AXES_ORDER[-ndim:]


def file_axes(names: Sequence[str] | None, shape: Sequence[int], dtype: Any) -> str:
    """Axis letters in the file's order: from dimension names, else by position."""
    return (axes_from_names(names) if names else None) or positional_axes(shape, dtype)


def auto_chunks(
    shape: Sequence[int],
    itemsize: int,
    storage: Sequence[int] | None = None,
    target: int = CHUNK_BYTES,
) -> tuple[int, ...]:
    """Dask chunks of one 2-D slice or several up to ``target`` bytes.

    Leading axes are split first; a slice of a 3-D or larger array is split only when
    it exceeds ``SLICE_BYTES``, a 2-D image when it exceeds ``target``. Chunks are
    rounded up to whole storage chunks when the file has them.

    >>> auto_chunks((100, 1024, 1024), 2), auto_chunks((100, 4096, 4096), 2)
    ((4, 1024, 1024), (1, 4096, 4096))
    """
    dims = [int(n) for n in shape]
    chunks = list(dims)
    for i in range(len(dims)):
        limit = SLICE_BYTES if len(dims) >= 3 and i >= len(dims) - 2 else target
        rest = math.prod(chunks[i + 1 :]) * itemsize
        if rest * chunks[i] <= limit:
            break
        chunks[i] = max(1, target // rest) if rest else 1
    if storage and len(storage) == len(dims):
        chunks = [
            min(n, -(-c // int(s)) * int(s)) if s else c for c, s, n in zip(chunks, storage, dims)
        ]
    return tuple(max(1, c) for c in chunks)


def dask_name(prefix: str, path: Path, *parts: Any) -> str:
    """A deterministic dask key for data of ``path`` (changes when the file does)."""
    from dask.base import tokenize

    try:
        st = os.stat(path)
        stamp: tuple[int, int] = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = (0, 0)
    return f"{prefix}-{tokenize(str(path), stamp, *parts)}"


def parse_datetime(value: Any) -> dt.datetime | None:
    """An ISO 8601 date/time from text or bytes, ``None`` when it is not one."""
    text = as_text(value)
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        return None


def as_text(value: Any) -> str | None:
    """Text from a str, bytes or one-element array attribute/dataset value."""
    if isinstance(value, np.ndarray):
        if value.size != 1:
            return None
        value = value.reshape(-1)[0]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    return value.rstrip("\x00").strip() if isinstance(value, str) else None


def lazy_array(blocks: Any, chunks: Sequence[int | tuple[int, ...]], name: str) -> Any:
    """``da.from_array`` over a block reader, without touching the file to build it;
    ``chunks`` per axis: a chunk size, or the sizes of its chunks."""
    import dask.array as da

    meta = np.empty((0,) * len(blocks.shape), dtype=blocks.dtype)
    return da.from_array(blocks, chunks=tuple(chunks), name=name, lock=False, meta=meta)


def side_dims(name: str, shape: Sequence[int], first_axis: str, first_len: int) -> tuple[str, ...]:
    """Dimension names of a container's array besides the primary: a 1-D array with one
    value per step of the primary's first axis (an angle per projection, an orientation
    per EBSD pattern) shares that axis; any other gets ``<name>_dim<i>``.

    >>> side_dims("exchange/theta", (180,), "z", 180)
    ('z',)
    >>> side_dims("exchange/data_dark", (10, 64, 64), "z", 180)
    ('exchange_data_dark_dim0', 'exchange_data_dark_dim1', 'exchange_data_dark_dim2')
    """
    if len(shape) == 1 and shape[0] == first_len:
        return (first_axis,)
    stem = name.replace("/", "_")
    return tuple(f"{stem}_dim{i}" for i in range(len(shape)))
