"""Before an export writes anything: can every selected dataset be read?

Each dataset is checked cheaply: its status in the index (``missing``, ``failed``),
that its files are still there, and that its reader opens it (lazily: headers and
metadata, no pixels). The export then refuses with the list of datasets and causes, or
(``skip_unreadable=True``) leaves them out and lists them in its README and report,
rather than stopping half-way with a traceback.

>>> opened, problems = preflight(sel)                     # doctest: +SKIP
>>> problems                                              # doctest: +SKIP
{'k2x9q4m1abcd': {'name': 'scan.nc', 'path': '/data/scan.nc', 'cause': 'truncated ...'}}
"""

from __future__ import annotations

import os
from typing import Any

from ..paths import display, from_db
from ..remote import is_remote, protocol_of
from .select import MAX_NAMED, Selection

MAX_FILES_CHECKED = 100_000  # per dataset; beyond that only the first and last are


def _files_gone(sel: Selection, ident: str) -> list[str]:
    files = [f["path"] for f in sel.files.get(ident) or []]
    if len(files) > MAX_FILES_CHECKED:
        files = [files[0], files[-1]]
    return [p for p in files if not os.path.lexists(from_db(p))]


def _cause(sel: Selection, ident: str, cat: Any, mode: str = "copy") -> tuple[Any, str | None]:
    """``(what the reader opened, None)`` or ``(None, why it cannot be exported)``."""
    row = sel.rows[ident]
    status = row.get("status")
    if status == "missing":
        return None, "missing: not found on the last scan (reconnect the drive or rescan)"
    if status == "offline":
        return None, row.get("error") or "on a drive that is offline: plug it in"
    if status == "failed":
        return None, f"failed when it was scanned: {row.get('error') or 'no reason recorded'}"
    if is_remote(row["path"]):
        if mode != "zarr" or not row.get("reader"):
            return None, (
                f"in object storage ({protocol_of(row['path'])}://): exports copy local "
                "files and do not copy objects yet; export it with mode='zarr' "
                "(--mode zarr), which converts what its reader reads"
            )
        try:
            return cat[ident].read(), None
        except Exception as exc:
            return None, f"its reader cannot open it: {type(exc).__name__}: {exc}"
    if not os.path.lexists(from_db(row["path"])):
        return None, "no such file or folder any more (moved or deleted since the last scan)"
    gone = _files_gone(sel, ident)
    if gone:
        more = f" and {len(gone) - 1} more" if len(gone) > 1 else ""
        return None, f"{len(gone)} of its files are gone: {display(from_db(gone[0]))}{more}"
    if not row.get("reader"):
        return None, None  # copied as a file; nothing to open
    try:
        return cat[ident].read(), None
    except Exception as exc:
        return None, f"its reader cannot open it: {type(exc).__name__}: {exc}"


def preflight(
    sel: Selection, mode: str = "copy"
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """Open every dataset of ``sel``: ``({id: opened data}, {id: {name, path, cause}})``
    (datasets without a reader are in neither). Datasets in object storage pass only in
    ``mode="zarr"``, which converts what their reader reads."""
    from ..catalogue import open_catalog

    cat = open_catalog(sel.index, files=True)
    opened: dict[str, Any] = {}
    problems: dict[str, dict[str, str]] = {}
    for ident, row in sel.rows.items():
        data, cause = _cause(sel, ident, cat, mode)
        if cause is not None:
            problems[ident] = {
                "name": row["name"],
                "path": display(from_db(row["path"])),
                "cause": cause,
            }
        elif data is not None:
            opened[ident] = data
    return opened, problems


def refusal(problems: dict[str, dict[str, str]]) -> str:
    """The message of an export refused for ``problems``."""
    lines = [f"cannot export: {len(problems)} dataset(s) cannot be read, and nothing was written:"]
    for ident, p in list(problems.items())[:MAX_NAMED]:
        lines.append(f"  {ident} ({p['name']}) {p['path']}: {p['cause']}")
    if len(problems) > MAX_NAMED:
        lines.append(f"  and {len(problems) - MAX_NAMED} more")
    lines.append(
        "Fix or rescan them (voxcat scan), leave them out (e.g. cat.search(status='ok')), "
        "or pass skip_unreadable=True (--skip-unreadable) to export the others and list "
        "these in the export's README"
    )
    return "\n".join(lines)
