"""``--retire-source``: delete a migrated dataset's source, only when enough verified
copies remain without it.

The index is changed first, in one transaction (the dataset's primary path and files
moved to the new copy, the old location marked ``retired``, a ``retire`` audit row);
only then are the source files deleted (the dataset's own files, and the folders of a
folder dataset they leave empty: never anything else). A copy counts as verified when
its location is ``ok``, was verified (``last_verified``: by a migration, which reads
every copy back, or by ``voxcat verify``) and is there now.

>>> retire(index, item, 2, report)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import replicas
from ..errors import IndexNotRecordedWarning
from ..index import transaction
from ..index.store import append_audit, current_user, now
from ..paths import display, from_db, to_db
from .plan import Item

if TYPE_CHECKING:
    from .report import MigrationReport


def audit(index: Path, entries: list[tuple[str, str | None, dict[str, Any]]]) -> None:
    """Append ``entries`` to the audit log in their own transaction; a failure to do
    so is a warning (what they record is done)."""
    try:
        with transaction(index) as con:
            append_audit(con, entries, current_user())
    except Exception as exc:
        warnings.warn(
            f"{display(index)} could not record {entries[0][0]} in its audit log: {exc}",
            IndexNotRecordedWarning,
            stacklevel=3,
        )


def retire(index: Path, item: Item, min_copies: int, report: MigrationReport) -> None:
    """Delete the source of a migrated dataset if ``min_copies`` verified copies remain
    without it: the index first (primary path moved to the new copy, old location
    ``retired``, audited), then the files; otherwise nothing is deleted."""
    from ..index.writer import DatasetWriter

    source, target = item.row["path"], to_db(item.target)
    user = current_user()
    if not item.primary:
        cause = (
            f"copied from a replica ({display(item.source)}): the primary copy "
            f"{display(from_db(source))} is not here (its drive unplugged?), nothing deleted"
        )
        report.retire_refused[item.ident] = cause
        audit(index, [("retire.refused", item.ident, {"from": source, "cause": cause})])
        return
    with transaction(index) as con:
        row = con.execute("SELECT path FROM datasets WHERE id = ?", [item.ident]).fetchone()
        if row is None or row[0] != source:
            return  # moved since (retired by an earlier run): nothing of it to delete
        others = con.execute(
            "SELECT path, drive FROM locations WHERE dataset_id = ? AND path <> ? "
            "AND status = 'ok' AND last_verified IS NOT NULL ORDER BY last_verified DESC",
            [item.ident, source],
        ).fetchall()
        verified = [(p, d) for p, d in others if os.path.lexists(from_db(p))]
        if len(verified) < min_copies or not any(p == target for p, _ in verified):
            cause = (
                f"{len(verified)} verified copies would remain without the source, "
                f"--min-copies is {min_copies}: nothing deleted"
            )
            report.retire_refused[item.ident] = cause
            append_audit(
                con,
                [("retire.refused", item.ident, {"from": str(item.source), "cause": cause})],
                user,
            )
            return
        drive = next(d for p, d in verified if p == target)
        moves = [(to_db(src), to_db(dst)) for src, dst, _ in item.files]
        con.execute(
            "UPDATE datasets SET path = ?, drive = ?, root = ? WHERE id = ?",
            [target, drive, to_db(report.to), item.ident],
        )
        con.execute(
            "UPDATE files f SET path = m.new FROM (SELECT unnest(?) AS old, unnest(?) AS new) m "
            "WHERE f.path = m.old AND f.dataset_id = ?",
            [[a for a, _ in moves], [b for _, b in moves], item.ident],
        )
        con.execute(
            "UPDATE locations SET status = 'retired', last_seen = ? "
            "WHERE dataset_id = ? AND path = ?",
            [now(), item.ident, source],
        )
        replicas.settle(con, [item.ident])
        out = DatasetWriter(con, user)
        out.written([item.ident])  # the search text holds the path
        out.audit(
            [
                (
                    "retire",
                    item.ident,
                    {
                        "from": str(item.source),
                        "primary": str(item.target),
                        "files": len(item.files),
                        "verified_copies": len(verified),
                        "min_copies": min_copies,
                    },
                )
            ]
        )
        out.commit()
    failed = delete_source(item)
    report.retired[item.ident] = {
        "from": display(item.source),
        "primary": display(item.target),
        "copies": len(verified),
    }
    if failed:
        report.retired[item.ident]["not_deleted"] = failed
        audit(index, [("retire.incomplete", item.ident, {"not_deleted": failed[:100]})])


def delete_source(item: Item) -> list[str]:
    """Delete the dataset's own files at its old place, then the folders they leave
    empty inside a folder dataset (never a file that is not the dataset's). Returns
    the paths that could not be deleted."""
    failed = []
    for src, _, _ in item.files:
        try:
            os.unlink(src)
        except FileNotFoundError:
            pass
        except OSError as exc:
            failed.append(f"{display(src)}: {exc.strerror or exc}")
    if item.source.is_dir() and not item.source.is_symlink():
        for folder, _, _ in sorted(os.walk(item.source), key=lambda w: -len(w[0])):
            with contextlib.suppress(OSError):  # not empty: something else lives there
                os.rmdir(folder)
    return failed
