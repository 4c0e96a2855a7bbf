"""One path indexed inside the caller's transaction (``cat.save``).

:func:`read_path` does the slow part outside any transaction (metadata, checksum and
thumbnail, in this process); :func:`record_path` writes the dataset, its files and
metadata, the scan that found it and its audit rows with the caller's connection, so
the caller can add lineage, provenance and annotations in the same transaction and a
crash leaves either all of it or none.

>>> res = read_path(Path("lab.store/x/pores.zarr"), Path("lab.duckdb"))  # doctest: +SKIP
>>> with transaction("lab.duckdb") as con:                              # doctest: +SKIP
...     ident = record_path(con, Path("lab.duckdb"), res)
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ..errors import ScanError
from ..index import Connection, cache_dir
from ..index.store import current_user, now
from ..paths import display, to_db
from ..readers import load_readers
from . import known as known_mod
from .run import _finish, _Writer
from .walk import Candidate, walk
from .worker import Result, process


def read_path(path: Path, index: Path) -> Result:
    """Describe, checksum and draw the one dataset at ``path``."""
    problems: list[str] = []

    def issue(where: str, severity: str, message: str) -> None:
        if severity == "error":
            problems.append(f"{where}: {message}")

    found = [c for c in walk(path, load_readers(), issue=issue) if isinstance(c, Candidate)]
    mine = [c for c in found if c.source.path == path]
    if len(mine) != 1 or problems:
        raise ScanError(
            f"{display(path)} is not one dataset voxcat reads "
            f"({len(found)} found{': ' + '; '.join(problems) if problems else ''})"
        )
    return process(mine[0], cache_dir(index), thumbnails=True)


def record_path(con: Connection, index: Path, res: Result) -> str:
    """Write ``res`` as a finished scan of its path with ``con`` (inside the caller's
    transaction); returns the dataset id."""
    root = res.candidate.source.path
    seq = con.execute("SELECT nextval('scan_seq')").fetchone()
    assert seq is not None  # a SELECT without FROM returns exactly one row
    scan_id = seq[0]
    con.execute(
        "INSERT INTO scans VALUES (?, ?, ?, ?, ?, ?, NULL, 'running', NULL)",
        [scan_id, to_db(root), current_user(), socket.gethostname(), os.getpid(), now()],
    )
    writer = _Writer(index, root, scan_id, None)
    writer._write(con, [res])
    _finish(con, scan_id, writer, [], [], known_mod.fingerprint(load_readers()))
    row = con.execute(
        "SELECT id FROM datasets WHERE path = ? AND scan_id = ?", [to_db(root), scan_id]
    ).fetchone()
    if row is None:  # pragma: no cover - the row was written just above
        raise ScanError(f"{display(root)} is not in the index after recording it")
    return str(row[0])
