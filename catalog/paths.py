"""Paths as stored in the index.

An index stores absolute paths, except an export's index (``voxcat.duckdb`` of an
exported folder), whose paths are relative to the folder holding it so the folder can
be moved or copied elsewhere: :func:`resolve_stored` is the one rule that turns either
into a path on this machine.

File names on old drives are not always UTF-8. Python decodes such bytes to lone
surrogates (PEP 383), which DuckDB cannot store; voxcat maps each of them to a
private-use code point (U+F780 + byte - 0x80) and back, so every path round-trips
exactly and still reads well in a table.

>>> p = os.fsdecode(b"/data/scan_\\xe9t\\xe9.tif")
>>> from_db(to_db(p)) == p
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_SURROGATE_TO_PUA = {c: 0xF780 + (c - 0xDC80) for c in range(0xDC80, 0xDD00)}
_PUA_TO_SURROGATE = {v: k for k, v in _SURROGATE_TO_PUA.items()}


def to_db(path: str | os.PathLike[str]) -> str:
    """A filesystem path as the index stores it (valid UTF-8, reversible)."""
    return os.fspath(path).translate(_SURROGATE_TO_PUA)


def from_db(text: str) -> str:
    """The filesystem path for a string stored by :func:`to_db`."""
    return text.translate(_PUA_TO_SURROGATE)


def path_from_db(text: str) -> Path:
    """Like :func:`from_db`, as a ``Path``."""
    return Path(from_db(text))


def display(path: str | os.PathLike[str]) -> str:
    """A printable form of a path for messages (undecodable bytes as ``\\xNN``)."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def resolve_stored(text: str, base: str | os.PathLike[str]) -> str:
    """The filesystem path of a stored path: a relative one is relative to ``base``, the
    folder of the index that stores it.

    >>> resolve_stored("data/ab12/scan.tif", "/media/usb/export")
    '/media/usb/export/data/ab12/scan.tif'
    >>> resolve_stored("/data/scan.tif", "/media/usb/export")
    '/data/scan.tif'
    """
    path = from_db(text)
    return path if os.path.isabs(path) else os.path.join(os.fspath(base), path)


def resolve_for_db(text: str, base: str | os.PathLike[str]) -> str:
    """:func:`resolve_stored`, in the stored form (:func:`to_db`)."""
    return text if os.path.isabs(from_db(text)) else to_db(resolve_stored(text, base))


def relative_positions(paths: Any) -> Any:
    """Positions of the relative paths in an Arrow array of stored paths (usually none;
    a few milliseconds per million paths)."""
    import numpy as np
    import pyarrow.compute as pc

    absolute = pc.starts_with(paths, "/")
    if os.name == "nt":  # C:\... and \\server\share
        drive = pc.equal(pc.utf8_slice_codeunits(paths, 1, 2), ":")
        absolute = pc.or_(pc.or_(absolute, drive), pc.starts_with(paths, "\\"))
    mask = pc.invert(pc.fill_null(absolute, True)).to_numpy(zero_copy_only=False)
    return np.flatnonzero(mask)
