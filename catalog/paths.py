"""Paths as stored in the index.

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
