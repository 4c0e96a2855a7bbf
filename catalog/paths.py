"""Paths as stored in the index, and as voxcat hands them back.

An index stores absolute paths, except an export's index (``voxcat.duckdb`` of an
exported folder), whose paths are relative to the folder holding it so the folder can
be moved or copied elsewhere: :func:`resolve_stored` is the one rule that turns either
into a path on this machine.

File names on old drives are not always UTF-8. Python decodes such bytes to lone
surrogates (PEP 383: byte ``0xE9`` becomes ``"\\udce9"``), which DuckDB and Arrow
cannot store. Inside the index (the DuckDB file and the listing snapshot) each of
them is a private-use code point, ``U+F780 + byte - 0x80``; a name that really holds
one of those code points, or the escape ``U+F77F``, gets ``U+F77F`` in front of it, so
the mapping is exact both ways. Every path that leaves the index through voxcat
(``cat.df``, ``cat[id].metadata``, entry arguments, ``voxcat show --json``, REST JSON,
exported catalogues) is turned back with :func:`from_db`: Python's own form, which
``open()`` and ``os.fsencode`` take as they are.

>>> p = os.fsdecode(b"/data/scan_\\xe9t\\xe9.tif")
>>> stored = to_db(p)
>>> stored == "/data/scan_\\uf7e9t\\uf7e9.tif" and from_db(stored) == p
True
>>> from_db(to_db("/data/\\uf7e9.tif")) == "/data/\\uf7e9.tif"  # a real U+F7E9
True
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

#: Stored in front of a name's own U+F77F..U+F7FF, which would otherwise read as bytes.
ESCAPE = "\uf77f"
_SURROGATE_TO_PUA = {c: 0xF780 + (c - 0xDC80) for c in range(0xDC80, 0xDD00)}
_TO_DB: dict[int, int | str] = {
    **_SURROGATE_TO_PUA,
    **{c: ESCAPE + chr(c) for c in range(0xF77F, 0xF800)},
}
_FROM_DB = re.compile("\uf77f([\uf77f-\uf7ff])|([\uf780-\uf7ff])")
_LONE = re.compile("[\ud800-\udfff]")
#: a URL (s3://, gs://, https://...): never relative to an index folder
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def to_db(path: str | os.PathLike[str]) -> str:
    """A filesystem path as the index stores it (valid UTF-8, exactly reversible).

    Apply it once, to a path as Python gives it (``os.fsdecode``, ``Path``).
    """
    text = os.fspath(path)
    return text if text.isascii() else text.translate(_TO_DB)


def from_db(text: str) -> str:
    """The filesystem path for a string stored by :func:`to_db`: what ``open()`` and
    ``os.fsencode`` take (undecodable bytes as Python's surrogate escapes)."""
    if text.isascii():
        return text
    return _FROM_DB.sub(_unescape, text)


def _unescape(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return m.group(1)
    return chr(ord(m.group(2)) - 0xF780 + 0xDC80)


def path_from_db(text: str) -> Path:
    """Like :func:`from_db`, as a ``Path``."""
    return Path(from_db(text))


def storable(text: str) -> str:
    """Any text (a name, a message, a JSON detail) made valid UTF-8 for DuckDB and
    Arrow: lone surrogates become private-use code points, nothing else changes, so
    applying it twice changes nothing. Paths use :func:`to_db` instead."""
    return text if text.isascii() else text.translate(_SURROGATE_TO_PUA)


#: what a portable name writes as ``=XX``: undecodable bytes (lone surrogates), and
#: the characters BagIt manifests must encode (validators disagree on how to decode them)
_UNPORTABLE = re.compile("[\ud800-\udfff%\r\n]")


def portable(name: str) -> str:
    """A name that is valid UTF-8 and needs no escaping anywhere (BagIt manifests,
    zip files, Windows): each undecodable byte of a file name, and ``%``, CR and LF,
    become ``=XX``; other names are unchanged. Used for the copies an export writes;
    the original path stays recorded beside them.

    >>> portable(os.fsdecode(b"scan_\\xe9t\\xe9.tif")), portable("50%.tif")
    ('scan_=E9t=E9.tif', '50=25.tif')
    """
    if not _UNPORTABLE.search(name):
        return name

    def code(m: re.Match[str]) -> str:
        c = ord(m.group())
        return f"={c - 0xDC00 if 0xDC80 <= c <= 0xDCFF else c:02X}"

    return _UNPORTABLE.sub(code, name)


def display(path: str | os.PathLike[str]) -> str:
    """A printable form of a path for messages (undecodable bytes as ``\\xNN``)."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def json_text(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that keeps text readable (``ensure_ascii=False``) and writes the
    surrogate escapes of undecodable file-name bytes as ``\\udcXX``, so the text
    encodes as UTF-8 and ``json.loads`` gives back the exact path.

    >>> json.loads(json_text({"path": os.fsdecode(b"/d/\\xe9.tif")}))["path"]
    '/d/\\udce9.tif'
    """
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    return _LONE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def resolve_stored(text: str, base: str | os.PathLike[str]) -> str:
    """The filesystem path of a stored path: a relative one is relative to ``base``, the
    folder of the index that stores it.

    >>> resolve_stored("data/ab12/scan.tif", "/media/usb/export")
    '/media/usb/export/data/ab12/scan.tif'
    >>> resolve_stored("/data/scan.tif", "/media/usb/export")
    '/data/scan.tif'
    """
    path = from_db(text)
    if os.path.isabs(path) or _URL.match(path):
        return path
    return os.path.join(os.fspath(base), path)


def resolve_for_db(text: str, base: str | os.PathLike[str]) -> str:
    """:func:`resolve_stored`, in the stored form (:func:`to_db`)."""
    path = from_db(text)
    return text if os.path.isabs(path) or _URL.match(path) else to_db(resolve_stored(text, base))


def relative_positions(paths: Any) -> Any:
    """Positions of the relative paths in an Arrow array of stored paths (usually none;
    a few milliseconds per million paths)."""
    import numpy as np
    import pyarrow.compute as pc

    absolute = pc.or_(pc.starts_with(paths, "/"), pc.match_substring_regex(paths, _URL.pattern))
    if os.name == "nt":  # C:\... and \\server\share
        drive = pc.equal(pc.utf8_slice_codeunits(paths, 1, 2), ":")
        absolute = pc.or_(pc.or_(absolute, drive), pc.starts_with(paths, "\\"))
    mask = pc.invert(pc.fill_null(absolute, True)).to_numpy(zero_copy_only=False)
    return np.flatnonzero(mask)
