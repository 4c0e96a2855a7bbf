"""A plain-text overview of an index, for ``voxcat summary`` and ``voxcat demo``."""

from __future__ import annotations

import os

from .formatting import VOXEL_UNITS, human_bytes, human_length
from .index import connect, listing, resolve_index
from .paths import display, from_db


def _size(n: float | None) -> str:
    return human_bytes(n or 0, largest="TB")


def plural(n: int, word: str) -> str:
    """``"1 dataset"``, ``"3 datasets"``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _voxel(v: float | None) -> str:
    return human_length(v, units=VOXEL_UNITS, missing="-")


#: rows of the dataset table (the rest: ``voxcat search``)
TABLE_ROWS = 40


def summary_text(index: str | os.PathLike[str] | None = None, *, failed: bool = False) -> str:
    """Counts by status, format and modality, a table of datasets, and failures.

    Datasets are what ``len(cat)``, search and the sidebar count (images and
    containers, whatever their status); other files (logs, tables, notes) are
    counted apart, as ``open_catalog(files=True)`` lists them.

    >>> print(summary_text("lab.duckdb"))          # doctest: +SKIP
    """
    with connect(index, read_only=True) as con:
        total, size, others, other_size = con.execute(
            "SELECT count(*) FILTER (kind <> 'file'), sum(size) FILTER (kind <> 'file'), "
            "count(*) FILTER (kind = 'file'), sum(size) FILTER (kind = 'file') FROM datasets"
        ).fetchone() or (0, None, 0, None)
        by_status = con.execute(
            "SELECT status, count(*) FROM datasets WHERE kind <> 'file' "
            "GROUP BY ALL ORDER BY 2 DESC, 1"
        ).fetchall()
        by_format = con.execute(
            "SELECT coalesce(format, '?'), count(*), sum(size) FROM datasets "
            "WHERE kind <> 'file' GROUP BY ALL ORDER BY 2 DESC, 1"
        ).fetchall()
        rows = con.execute(
            "SELECT id, name, format, shape, dtype, voxel_size, modality, data_level, size, "
            f"status FROM datasets WHERE kind <> 'file' ORDER BY path LIMIT {TABLE_ROWS}"
        ).fetchall()
        bad = con.execute(
            "SELECT path, error FROM datasets WHERE status = 'failed' ORDER BY path"
        ).fetchall()
        issues = con.execute(
            "SELECT path, severity, message FROM scan_issues WHERE scan_id = "
            "(SELECT max(scan_id) FROM scans) ORDER BY severity, path"
        ).fetchall()
    states = ", ".join(f"{n} {s}" for s, n in by_status)
    lines = [
        f"{plural(total, 'dataset')} ({states or 'none'}), {_size(size)}; "
        f"{plural(others, 'other file')}, {_size(other_size)}",
        "formats: " + (", ".join(f"{f} {n}" for f, n, _ in by_format) or "none"),
        "",
        f"{'id':13} {'name':34} {'format':9} {'shape':16} {'dtype':8} {'voxel':9} {'mod':4} {'level':13} size",
    ]
    for ident, name, fmt, shape, dtype, vox, mod, level, sz, status in rows:
        shp = "x".join(str(s) for s in shape or []) if status == "ok" else status.upper()
        lines.append(
            f"{ident:13} {name[:34]:34} {fmt or '':9} {shp[:16]:16} {dtype or '':8} "
            f"{_voxel(vox):9} {mod or '-':4} {level or '-':13} {'-' if sz is None else _size(sz)}"
        )
    if total > len(rows):
        lines.append(
            f"... and {plural(total - len(rows), 'more dataset')} (voxcat search lists them all)"
        )
    snap = listing.path_for(resolve_index(index))
    if snap.exists():
        state = (
            "current"
            if listing.current(resolve_index(index)) is not None
            else "out of date (a background refresh rebuilds it; DuckDB answers meanwhile)"
        )
        lines[1] += f"; listing snapshot {_size(snap.stat().st_size)}: {state}"
    if bad:
        lines += ["", f"{len(bad)} failed:"]
        lines += [f"  {err or display(from_db(p))}" for p, err in (bad if failed else bad[:10])]
    if failed and issues:
        lines += ["", "issues of the last scan:"]
        for p, sev, msg in issues:
            where = display(from_db(p))
            msg = msg.removeprefix(f"{where}: ")  # a failure's cause names its file already
            lines.append(f"  {sev:7} {where}: {msg}")
    return "\n".join(lines)
