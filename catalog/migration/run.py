"""``migrate``: copy datasets to a new folder with the export copy engine, record the
copies as replicas, and (only when asked, with enough verified copies) retire the
sources. See :mod:`catalog.migration` for the whole story.

Datasets go in batches (up to :data:`BATCH_BYTES` or :data:`BATCH_DATASETS`): one
transaction before each batch records the copies the batch before completed and logs
``migrate.start`` for the datasets of this one; the copy engine then copies the whole
batch (flushes and read-backs overlapping the next copies). A kill between two
commits loses no copy: the journal holds them, and the next run records them
without copying them again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import Cancelled, ExportError, MigrationCancelled, MigrationError, SourceChanged
from ..export.files import Journal
from ..export.run import _Step
from ..index import connect, resolve_index, transaction
from ..index.store import append_audit, current_user
from ..paths import display, from_db, to_db
from ..progress import CancelFlag, ProgressArg, Reporter, bar_of, callback_of
from ..progress import check as check_cancel
from ..testhooks import pause
from . import copy
from .convert import convert_one
from .plan import (
    Item,
    check_place,
    check_unchanged,
    load,
    measure_read_rate,
    plan_item,
    verified_there,
)
from .report import MigrationReport
from .retire import retire

STATE_DIR = ".voxcat-migrate"  # the journal of copies done, in the target folder
CONVERSIONS = ("ome-zarr",)
BATCH_BYTES = 1 << 30  # a batch of datasets copied between two commits: at most this
BATCH_DATASETS = 64  # many bytes (or one dataset, if bigger) or this many datasets
CANCELLED = (
    "the migration was cancelled; the copies verified so far are recorded: run the same "
    "migration again to finish it"
)


class _Progress(_Step):
    """The export's progress and cancel checkpoint, cancelling as a migration; every
    block copied is a pause point for the crash tests (``migrate.block``)."""

    def check(self) -> None:
        check_cancel(self.cancel, MigrationCancelled, CANCELLED)

    def __call__(self, n: int) -> None:
        super().__call__(n)
        pause("migrate.block")


def _resolve(
    source: Any, ids: Iterable[str] | None, project: str | None, where: Any
) -> tuple[Path, list[str]]:
    """The index and the ids selected by ``source`` (a catalogue, or an index path with
    ``ids``) narrowed by ``project`` and ``where`` (query text, or search keywords)."""
    from ..catalogue import DuckDBCatalog, open_catalog

    wanted = list(dict.fromkeys([ids] if isinstance(ids, str) else ids)) if ids else []
    if isinstance(source, DuckDBCatalog):
        cat = source
    elif ids is not None and project is None and where is None:
        return Path(resolve_index(source)), wanted  # checked when their rows are read
    else:
        cat = open_catalog(resolve_index(source))
    if ids is not None:
        known = set(cat.visible(wanted))  # one query
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise MigrationError(f"no dataset with id {', '.join(unknown[:20])} in {cat.index}")
        everything = cat._query.sql()[0] == "TRUE"
        if project is None and where is None and everything:
            return cat.index, wanted
    filters: dict[str, Any] = dict(where) if isinstance(where, Mapping) else {}
    if project is not None:
        filters["project"] = project
    text = where if isinstance(where, str) else None
    sub = cat.search(text, **filters) if (text or filters) else cat
    chosen = list(sub)
    if ids is not None:
        keep = set(chosen)
        chosen = [i for i in wanted if i in keep]
    return cat.index, chosen


def migrate(
    source: Any,
    to: str | os.PathLike[str],
    ids: Iterable[str] | None = None,
    *,
    project: str | None = None,
    where: str | Mapping[str, Any] | None = None,
    convert: str | None = None,
    dry_run: bool = False,
    retire_source: bool = False,
    min_copies: int = 2,
    deep_verify: bool = True,
    progress: ProgressArg = None,
    cancel: CancelFlag | None = None,
) -> MigrationReport:
    """Copy the datasets of ``source`` (a catalogue such as ``cat.search(...)``, or an
    index path; ``ids``, ``project`` and ``where`` narrow it) into the folder ``to``
    and record each copy as a replica of its dataset (same id, tags, notes and lineage;
    ``copies`` goes up, ``cat.locations(id)`` lists it).

    The copy is the export's (:class:`catalog.export.files.Writer`): every file read
    once, hashed (BLAKE3) while it is written and compared with the index checksum,
    flushed, then (``deep_verify``, the default) read back from the device and compared
    again, and only then renamed into place and journaled (``to/.voxcat-migrate``). A
    migration killed at any point (``kill -9`` included) is finished by running it
    again: journaled files are not copied twice, a half-written file is never counted
    and a dataset is recorded only once all its files are verified. A source file
    whose size, modification time or checksum differs from the index refuses its
    dataset (:class:`~catalog.errors.SourceChanged`, naming the file; nothing is
    recorded for it) and the others go on. Layout under ``to``: see
    :mod:`catalog.migration.plan`.

    ``dry_run``: count datasets, files and bytes and estimate the time from a short
    read of the sources; nothing is written. ``convert="ome-zarr"``: write OME-Zarr
    (the export's Zarr conversion) and record it as a new dataset derived from the
    source (lineage: step, parameters, user), not a replica. ``retire_source``: after
    the copy, delete the source files of each dataset that still has ``min_copies``
    verified copies without its source (the new one, and others verified by earlier
    migrations); its primary path moves to the new copy and the old location is marked
    ``retired``. Nothing is deleted otherwise. Each step is in the audit log:
    ``migrate.start``, ``migrate`` (or ``migrate.refused``, ``migrate.convert``),
    ``retire`` (or ``retire.refused``).

    >>> report = migrate("lab.duckdb", "/srv/lab-data", project="rocks")  # doctest: +SKIP
    >>> report.datasets["k2x9q4m1abcd"]["how"], open_catalog("lab.duckdb").locations(
    ...     "k2x9q4m1abcd")[1]["path"]                                  # doctest: +SKIP
    ('copied', '/srv/lab-data/WD-2019/rocks/granite.tif')
    """
    t0 = time.perf_counter()
    if convert is not None and convert not in CONVERSIONS:
        raise MigrationError(f"convert={convert!r} is not one of {', '.join(CONVERSIONS)}")
    if not isinstance(min_copies, int) or isinstance(min_copies, bool) or min_copies < 1:
        raise MigrationError(f"min_copies must be a whole number >= 1, not {min_copies!r}")
    index, chosen = _resolve(source, ids, project, where)
    index = Path(os.path.abspath(index))
    if not chosen:
        raise MigrationError("nothing to migrate: the selection is empty")
    dest = Path(os.path.abspath(to))
    if dest.exists() and not dest.is_dir():
        raise MigrationError(f"{display(dest)} is a file, not a folder to migrate into")
    items: list[Item] = []
    refused: dict[str, dict[str, str]] = {}
    with connect(index, read_only=True) as con:  # one read of the index
        rows, files = load(con, index, chosen)
        unknown = [i for i in chosen if i not in rows]
        if unknown:
            raise MigrationError(f"no dataset with id {', '.join(unknown[:20])} in {index}")
        for ident, row in rows.items():
            try:
                item = plan_item(con, dest, row, files.get(ident) or [])
                check_place(con, item)
                items.append(item)
            except MigrationError as exc:
                refused[ident] = _refusal(row, exc)
        there = verified_there(con, items)
    if dry_run:
        return _dry_run(dest, index, items, refused, there, t0)
    return _run(
        index, dest, items, refused, there, convert=convert, retire_source=retire_source,
        min_copies=min_copies, deep=deep_verify, progress=progress, cancel=cancel, t0=t0,
    )  # fmt: skip


def _refusal(row: dict[str, Any], exc: Exception) -> dict[str, str]:
    return {
        "name": row["name"],
        "path": display(from_db(row["path"])),
        "cause": str(exc),
        "error": type(exc).__name__,
    }


def _dry_run(
    dest: Path,
    index: Path,
    items: list[Item],
    refused: dict[str, dict[str, str]],
    there: set[str],
    t0: float,
) -> MigrationReport:
    """Counts and an estimate; reads a little of the sources, writes nothing. Datasets
    an earlier run migrated are listed as ``already there`` and not counted."""
    journal = Journal(dest, STATE_DIR)  # read only: nothing is created
    datasets: dict[str, dict[str, Any]] = {}
    todo = []
    for item in items:
        if item.ident in there and copy.complete(dest, item, journal, False):
            line = _line(item, "already there", {"resumed": len(item.files)})
            datasets[item.ident] = {**line, "files": 0, "bytes": 0}
            continue
        try:
            check_unchanged(item)
        except SourceChanged as exc:
            refused[item.ident] = _refusal(item.row, exc)
            continue
        datasets[item.ident] = {
            "name": item.name,
            "how": "would copy",
            "path": display(item.target),
            "files": len(item.files),
            "bytes": item.bytes,
        }
        todo.append(item)
    rate = measure_read_rate([src for i in todo for src, _, _ in i.files])
    total = sum(i.bytes for i in todo)
    # one pass copying (read and write side by side), one reading the copy back
    estimate = 2 * total / rate if rate else (0.0 if not total else None)
    return MigrationReport(
        dest, index, True, datasets, refused, seconds=time.perf_counter() - t0,
        rate=rate, estimated_seconds=estimate,
    )  # fmt: skip


def _batches(items: list[Item]) -> list[list[Item]]:
    out: list[list[Item]] = []
    batch: list[Item] = []
    size = 0
    for item in items:
        batch.append(item)
        size += item.bytes
        if size >= BATCH_BYTES or len(batch) >= BATCH_DATASETS:
            out.append(batch)
            batch, size = [], 0
    if batch:
        out.append(batch)
    return out


def _selection(index: Path, ids: list[str]) -> Any:
    from ..export.select import select

    try:
        return select(index, ids, allow_restricted=True)
    except ExportError as exc:
        raise MigrationError(str(exc)) from None


class _Run:
    """One migration's state between commits: copies to record, audit rows to write."""

    def __init__(self, index: Path, dest: Path, deep: bool, detail: dict[str, Any]) -> None:
        from ..volumes import volume_of

        self.index, self.dest, self.deep, self.detail = index, dest, deep, detail
        self.volume = volume_of(dest)
        self.drive = self.volume.id if self.volume is not None else None
        self.report = MigrationReport(dest, index, False, {}, {})
        self.copied: list[tuple[Item, dict[str, Any]]] = []  # verified, not yet recorded
        self.entries: list[tuple[str, str | None, dict[str, Any]]] = []
        self.done: list[Item] = []  # recorded copies (candidates for retiring)
        self.begun = False

    def refuse(self, item: Item, exc: Exception) -> None:
        self.report.refused[item.ident] = _refusal(item.row, exc)
        self.entries.append(("migrate.refused", item.ident, {**self.detail, "cause": str(exc)}))

    def commit(self, starts: Iterable[Item] = (), last: dict[str, Any] | None = None) -> None:
        """One transaction: the drive and ``migrate.begin`` (first time), the copies
        verified since the last commit, pending audit rows, ``migrate.start`` of
        ``starts`` and (``last``) ``migrate.end``."""
        from ..drives import record as record_drive

        starts = list(starts)
        if self.begun and not (starts or self.copied or self.entries or last):
            return  # nothing to write: no transaction
        pause("migrate.commit")
        entries = list(self.entries)
        with transaction(self.index) as con:
            if not self.begun:
                if self.volume is not None:
                    record_drive(con, to_db(self.dest), self.volume)
                entries.insert(0, ("migrate.begin", None, self.detail))
            for item, facts in self.copied:
                entries.append(copy.record(con, item, self.drive, self.deep, facts))
            entries += [
                ("migrate.start", i.ident, {"from": str(i.source), **self.detail}) for i in starts
            ]
            if last is not None:
                entries.append(("migrate.end", None, {**self.detail, **last}))
            if entries:
                append_audit(con, entries, current_user())
        self.begun = True
        for item, facts in self.copied:
            self.report.datasets[item.ident] = _line(item, "copied", facts)
            self.done.append(item)
        self.copied, self.entries = [], []


def _line(item: Item, how: str, facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": item.name,
        "how": how,
        "path": display(item.target),
        "files": len(item.files),
        "bytes": item.bytes,
        "resumed": facts.get("resumed", 0),
        "written": facts.get("written", 0),
    }


def _run(
    index: Path,
    dest: Path,
    items: list[Item],
    refused: dict[str, dict[str, str]],
    there: set[str],
    *,
    convert: str | None,
    retire_source: bool,
    min_copies: int,
    deep: bool,
    progress: ProgressArg,
    cancel: CancelFlag | None,
    t0: float,
) -> MigrationReport:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / STATE_DIR).mkdir(exist_ok=True)
    journal = Journal(dest, STATE_DIR)
    run = _Run(index, dest, deep, {"to": str(dest), "datasets": len(items), "convert": convert})
    run.report.refused.update(refused)
    total = sum(i.bytes for i in items)
    bar = None
    if bar_of(progress) or (bar_of(progress) is None and os.isatty(2)):
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="migrate")
    step = _Progress(bar, Reporter(callback_of(progress)), cancel, total, len(items))
    step.send("copying")
    sel = None

    def converting(item: Item) -> bool:
        return bool(convert and item.row.get("reader"))

    try:
        for batch in _batches(items):
            step.check()
            todo = []
            for item in batch:
                earlier = item.ident in there and not converting(item)
                if earlier and copy.complete(dest, item, journal, False):
                    # migrated by an earlier run: its source is not read (it may be
                    # unplugged by now)
                    facts = {"resumed": len(item.files)}
                    run.report.datasets[item.ident] = _line(item, "already there", facts)
                    run.done.append(item)
                    step.items += 1
                    continue
                try:
                    check_unchanged(item)
                except SourceChanged as exc:
                    run.refuse(item, exc)
                    step.items += 1
                    continue
                todo.append(item)
            run.commit(starts=todo)
            copies = [i for i in todo if not converting(i)]
            try:
                copied, failed = copy.copy_batch(dest, copies, journal, step, deep=deep)
            except Cancelled as exc:
                done = getattr(exc, "copied", {})
                run.copied += [(i, done[i.ident]) for i in copies if i.ident in done]
                raise
            for item in copies:
                if item.ident in copied:
                    run.copied.append((item, copied[item.ident]))
                else:
                    run.refuse(item, failed[item.ident])
                step.items += 1
                step.send(force=True)
            for item in todo:
                if not converting(item):
                    continue
                try:
                    if sel is None:  # what the export's conversion reads
                        sel = _selection(index, [i.ident for i in items if converting(i)])
                    line = convert_one(sel, index, dest, item, journal, step, run.drive)
                    run.report.datasets[item.ident] = line
                except (MigrationError, ExportError) as exc:
                    run.refuse(item, exc)
                step.items += 1
                step.send(force=True)
        step.finish()
    except Cancelled:
        run.entries.append(("migrate.cancelled", None, run.detail))
        run.commit()  # what was verified before the cancel is recorded
        raise
    finally:
        if bar is not None:
            bar.close()
    report = run.report
    run.commit(
        last={"migrated": len(report.datasets) + len(run.copied), "refused": len(report.refused)}
    )
    report.bytes_written = sum(d.get("written", 0) for d in report.datasets.values())
    if retire_source:
        step.send("retiring")
        for item in run.done:
            retire(index, item, min_copies, report)
    step.send("done")
    report.seconds = time.perf_counter() - t0
    return report
