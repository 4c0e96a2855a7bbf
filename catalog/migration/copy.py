"""Copying a batch of datasets with the export's copy engine, and recording the copies.

One :class:`catalog.export.files.Writer` copies every file of a batch (so the flush
and read-back of one file overlap the copy of the next, across datasets too). A
dataset is complete when every one of its files is in the journal, in place and (with
``deep``) read back; only complete datasets are recorded, in one transaction per
batch (:func:`record`), as replica locations of their datasets.

>>> copied, failed = copy_batch(dest, items, journal, step, deep=True)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from .. import replicas
from ..errors import Cancelled, ExportError, MigrationError, SourceChanged
from ..export.files import REREAD, WRITTEN, Journal, Writer, hash_file
from ..export.files import record as journal_record
from ..export.run import _Step
from ..index import Connection
from ..index.store import now
from ..paths import display, to_db
from ..scanner.checksum import is_sampled
from .plan import Item


def full(expected: str | None) -> bool:
    """Whether ``expected`` is a full content checksum (not a sampled one)."""
    return bool(expected) and not is_sampled(expected)


def rel_of(dest: Path, dst: Path) -> str:
    return dst.relative_to(dest).as_posix()


def ready(dest: Path, item: Item, journal: Journal, deep: bool) -> None:
    """Before copying: a journaled copy whose source changed since (rescanned) is
    removed to be copied again; a file in the way that no run journaled is adopted if
    it is this very copy (a run killed between its rename and its journal line), else
    the dataset is refused."""
    for src, dst, f in item.files:
        rel = rel_of(dest, dst)
        expected = f.get("checksum")
        st = os.stat(src)
        done = journal.finished(rel)
        if done is not None:
            stale = (done["size"], done["mtime_ns"]) != (st.st_size, st.st_mtime_ns) or (
                full(expected) and done["b3"] != expected
            )
            if stale:
                os.unlink(dst)
            continue
        if not os.path.lexists(dst):
            continue
        if full(expected) and os.path.isfile(dst) and not os.path.islink(dst):
            there = os.stat(dst)
            if (there.st_size, there.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                sha, b3 = hash_file(dst, uncached=deep, sha256=False)
                if b3 == expected:
                    how = REREAD if deep else WRITTEN
                    journal.add([journal_record(dest, dst, sha, b3, "copy", how)])
                    continue
        raise MigrationError(
            f"{item.ident} ({item.name}): {display(dst)} is in the way (a file this "
            "migration did not write); move it away or migrate to another folder"
        )


def engine_error(item: Item, exc: ExportError) -> MigrationError:
    """The copy engine's refusal, as a migration's: a source that does not match the
    index (or changed while copied) is :class:`SourceChanged`, naming the file."""
    text = str(exc)
    if "does not match the index" in text or "changed while it was copied" in text:
        for src, _, _ in item.files:
            if text.startswith(display(src)):
                return SourceChanged(f"{item.ident} ({item.name}): {text}", str(src))
        return SourceChanged(f"{item.ident} ({item.name}): {text}")
    return MigrationError(f"{item.ident} ({item.name}): {text}")


def _owner(exc: BaseException, items: list[Item], default: Item | None) -> Item | None:
    """The dataset a copy engine error is about (its message names the source file)."""
    text = str(exc)
    for item in items:
        if any(display(src) in text for src, _, _ in item.files):
            return item
    return default


def complete(dest: Path, item: Item, journal: Journal, deep: bool) -> bool:
    """Every file of ``item`` is journaled, in place, and (``deep``) was read back."""
    for _, dst, _ in item.files:
        done = journal.finished(rel_of(dest, dst))
        if done is None or (deep and done.get("verified") != REREAD):
            return False
    return True


def copy_batch(
    dest: Path,
    items: list[Item],
    journal: Journal,
    step: _Step,
    *,
    deep: bool,
) -> tuple[dict[str, dict[str, Any]], dict[str, Exception]]:
    """Copy the files of ``items`` with one writer; returns ``({id: facts}, {id:
    error})`` for the datasets copied completely and those refused. On a cancel the
    datasets already complete are returned through the exception's ``copied``."""
    facts: dict[str, dict[str, Any]] = {}
    failed: dict[str, Exception] = {}

    def fail(item: Item | None, exc: Exception) -> None:
        if item is None or item.ident in failed:
            return
        error = engine_error(item, exc) if isinstance(exc, ExportError) else exc
        failed[item.ident] = error
        if isinstance(error, SourceChanged):  # what was copied of it is not a copy of it
            for _, dst, _ in item.files:
                if journal.finished(rel_of(dest, dst)) is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(dst)

    try:
        with Writer(dest, journal, "copy", step, deep=deep, sha256=False) as writer:
            try:
                for item in items:
                    try:
                        ready(dest, item, journal, deep)
                    except MigrationError as exc:
                        fail(item, exc)
                        continue
                    resumed = written = 0
                    for src, dst, f in sorted(
                        item.files, key=lambda x: -int(x[2].get("size") or 0)
                    ):
                        step.check()
                        before = writer.skipped
                        try:
                            writer.put(src, dst, f.get("checksum"))
                        except ExportError as exc:  # this file, or an earlier one's flush
                            owner = _owner(exc, items, item)
                            fail(owner, exc)
                            if owner is item:
                                break
                            continue
                        if writer.skipped > before:
                            resumed += 1
                        else:
                            written += int(f.get("size") or 0)
                    facts[item.ident] = {"resumed": resumed, "written": written}
            finally:
                try:
                    writer.wait()
                except ExportError as exc:
                    fail(_owner(exc, items, None), exc)
    except Cancelled as exc:
        exc.copied = _complete(dest, items, journal, deep, facts, failed)  # type: ignore[attr-defined]
        raise
    copied = _complete(dest, items, journal, deep, facts, failed)
    for item in items:
        if item.ident not in copied and item.ident not in failed:
            failed[item.ident] = MigrationError(
                f"{item.ident} ({item.name}): its copy could not be verified; check the "
                "target disk and migrate again"
            )
    return copied, failed


def _complete(
    dest: Path,
    items: list[Item],
    journal: Journal,
    deep: bool,
    facts: dict[str, dict[str, Any]],
    failed: dict[str, Exception],
) -> dict[str, dict[str, Any]]:
    return {
        item.ident: facts.get(item.ident, {"resumed": len(item.files), "written": 0})
        for item in items
        if item.ident not in failed and complete(dest, item, journal, deep)
    }


def signature(item: Item) -> str:
    """The copy's change signature, as a scan of the target would compute it (so a
    rescan there finds the replica unchanged without reading it)."""
    from ..scanner.known import signature as of_files

    raw = item.row.get("options")
    options = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
    stats = []
    for _, dst, _f in sorted(item.files, key=lambda x: int(x[2].get("position") or 0)):
        st = os.stat(dst)
        if dst == item.target:
            rel = dst.name
        else:
            try:
                rel = os.fspath(dst.relative_to(item.target))
            except ValueError:
                rel = dst.name
        stats.append((rel, st.st_size, st.st_mtime_ns))
    return of_files(item.row.get("reader"), options, stats)


def record(
    con: Connection, item: Item, drive: str | None, deep: bool, facts: dict[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    """Record the verified copy of ``item`` as a location of its dataset (inside the
    caller's transaction); returns its ``migrate`` audit entry."""
    target = to_db(item.target)
    sig = signature(item)
    t = now()
    primary = con.execute("SELECT path FROM datasets WHERE id = ?", [item.ident]).fetchone()
    there = con.execute(
        "SELECT 1 FROM locations WHERE dataset_id = ? AND path = ?", [item.ident, target]
    ).fetchone()
    if there is None:
        replicas.add(con, item.ident, target, drive, sig)
    con.execute(
        "UPDATE locations SET status = 'ok', drive = ?, last_seen = ?, last_verified = ?, "
        "signature = ? WHERE dataset_id = ? AND path = ?",
        [drive, t, t, sig, item.ident, target],
    )
    checked = all(full(f.get("checksum")) for _, _, f in item.files)
    if checked and primary is not None and primary[0] != target:
        # every source file was read and matched the index checksum: verified too
        con.execute(
            "UPDATE locations SET last_verified = ? WHERE dataset_id = ? AND path = ?",
            [t, item.ident, item.origin],
        )
    replicas.settle(con, [item.ident])
    detail = {
        "from": str(item.source),
        "to": str(item.target),
        "files": len(item.files),
        "bytes": item.bytes,
        "verified": "read back" if deep else "written",
        "resumed": facts.get("resumed", 0),
    }
    return ("migrate", item.ident, detail)
