"""``migrate``: copy datasets to a new folder with the export copy engine, record the
copies as replicas, and (only when asked, with enough verified copies) retire the
sources. See :mod:`catalog.migration` for the whole story."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .. import replicas
from ..errors import (
    Cancelled,
    ExportError,
    IndexNotRecordedWarning,
    MigrationCancelled,
    MigrationError,
    SourceChanged,
)
from ..export.files import REREAD, WRITTEN, Journal, Writer, hash_file, record
from ..export.run import _Step
from ..index import connect, resolve_index, transaction
from ..index.store import append_audit, current_user, now
from ..paths import display, from_db, to_db
from ..progress import CancelFlag, ProgressArg, Reporter, bar_of, callback_of
from ..progress import check as check_cancel
from ..scanner.checksum import is_sampled
from ..testhooks import pause
from .plan import Item, check_place, check_unchanged, measure_read_rate, plan_item

STATE_DIR = ".voxcat-migrate"  # the journal of copies done, in the target folder
CONVERSIONS = ("ome-zarr",)
CANCELLED = (
    "the migration was cancelled; the copies verified so far are recorded: run the same "
    "migration again to finish it"
)
CONVERT_STEP = "migrate --convert ome-zarr"


@dataclasses.dataclass
class MigrationReport:
    """What :func:`migrate` did (or, ``dry_run``, would do), dataset by dataset."""

    to: Path
    index: Path
    dry_run: bool
    #: id -> name, how ("copied", "converted"), path (the new location), files, bytes,
    #: resumed (files an earlier, interrupted run had copied), derived (converted: the id)
    datasets: dict[str, dict[str, Any]]
    refused: dict[str, dict[str, str]]  # id -> name, path, cause (nothing recorded)
    retired: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    retire_refused: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> cause
    seconds: float = 0.0
    bytes_written: int = 0
    #: dry run: the read rate measured on the sources (bytes/s) and the time estimated
    rate: float | None = None
    estimated_seconds: float | None = None

    @property
    def files(self) -> int:
        return sum(d["files"] for d in self.datasets.values())

    @property
    def bytes(self) -> int:
        return sum(d["bytes"] for d in self.datasets.values())

    @property
    def resumed_files(self) -> int:
        return sum(d.get("resumed", 0) for d in self.datasets.values())

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(to=str(self.to), index=str(self.index), files=self.files, bytes=self.bytes)
        return out

    def __str__(self) -> str:
        if self.dry_run:
            lines = [
                f"Dry run: would migrate {len(self.datasets)} datasets ({self.files} files, "
                f"{self.bytes / 1e9:.3f} GB) to {display(self.to)}; nothing was written"
            ]
            if self.estimated_seconds is not None and self.rate:
                lines.append(
                    f"Estimated time: {_duration(self.estimated_seconds)} (sources read at "
                    f"{self.rate / 1e6:.0f} MB/s, measured now; the target assumed as fast; "
                    "copy plus read-back verification)"
                )
        else:
            rate = self.bytes_written / 1e6 / self.seconds if self.seconds else 0.0
            lines = [
                f"Migrated {len(self.datasets)} datasets ({self.files} files, "
                f"{self.bytes / 1e9:.3f} GB) to {display(self.to)} in {self.seconds:.1f} s "
                f"({rate:.0f} MB/s written)"
                + (
                    f"; {self.resumed_files} files copied by an earlier run were kept"
                    if self.resumed_files
                    else ""
                )
            ]
        for ident, d in self.datasets.items():
            extra = f" -> derived {d['derived']}" if d.get("derived") else ""
            lines.append(f"  {ident}  {d['name'][:40]:40}  {d['how']}{extra}  {d['path']}")
        if self.refused:
            lines.append(f"Refused {len(self.refused)} datasets (nothing recorded for them):")
            for ident, r in self.refused.items():
                lines.append(f"  {ident}  {r['cause']}")
        if self.retired:
            lines.append(f"Retired the source of {len(self.retired)} datasets:")
            for ident, r in self.retired.items():
                lines.append(f"  {ident}  deleted {r['from']}; now read from {r['primary']}")
        if self.retire_refused:
            lines.append(f"Kept the source of {len(self.retire_refused)} datasets:")
            for ident, cause in self.retire_refused.items():
                lines.append(f"  {ident}  {cause}")
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


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

    if isinstance(source, DuckDBCatalog):
        cat = source
    else:
        cat = open_catalog(resolve_index(source))
    if ids is not None:
        wanted = [ids] if isinstance(ids, str) else list(ids)
        unknown = [i for i in wanted if i not in cat]
        if unknown:
            raise MigrationError(f"no dataset with id {', '.join(unknown[:20])} in {cat.index}")
        if project is None and where is None:
            return cat.index, list(dict.fromkeys(wanted))
    filters: dict[str, Any] = dict(where) if isinstance(where, Mapping) else {}
    if project is not None:
        filters["project"] = project
    text = where if isinstance(where, str) else None
    sub = cat.search(text, **filters) if (text or filters) else cat
    chosen = list(sub)
    if ids is not None:
        keep = set(chosen)
        chosen = [i for i in dict.fromkeys(wanted) if i in keep]
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
    from ..export.select import select

    try:
        sel = select(index, chosen, allow_restricted=True)
    except ExportError as exc:
        raise MigrationError(str(exc)) from None
    items: list[Item] = []
    refused: dict[str, dict[str, str]] = {}
    with connect(index, read_only=True) as con:
        for ident, row in sel.rows.items():
            try:
                item = plan_item(con, dest, row, sel.files.get(ident) or [])
                check_place(con, item)
                items.append(item)
            except MigrationError as exc:
                refused[ident] = _refusal(row, exc)
    if dry_run:
        return _dry_run(dest, index, items, refused, t0)
    return _run(
        sel, index, dest, items, refused, convert=convert, retire_source=retire_source,
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
    dest: Path, index: Path, items: list[Item], refused: dict[str, dict[str, str]], t0: float
) -> MigrationReport:
    """Counts and an estimate; reads a little of the sources, writes nothing."""
    datasets: dict[str, dict[str, Any]] = {}
    for item in items:
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
    kept = [i for i in items if i.ident in datasets]
    rate = measure_read_rate([src for i in kept for src, _, _ in i.files])
    total = sum(i.bytes for i in kept)
    # one pass copying (read and write side by side), one reading the copy back
    estimate = 2 * total / rate if rate else None
    return MigrationReport(
        dest, index, True, datasets, refused, seconds=time.perf_counter() - t0,
        rate=rate, estimated_seconds=estimate,
    )  # fmt: skip


def _audit(index: Path, entries: list[tuple[str, str | None, dict[str, Any]]]) -> None:
    try:
        with transaction(index) as con:
            append_audit(con, entries, current_user())
    except Exception as exc:  # the copies are made; say the log could not record it
        warnings.warn(
            f"{display(index)} could not record {entries[0][0]} in its audit log: {exc}",
            IndexNotRecordedWarning,
            stacklevel=3,
        )


def _run(
    sel: Any,
    index: Path,
    dest: Path,
    items: list[Item],
    refused: dict[str, dict[str, str]],
    *,
    convert: str | None,
    retire_source: bool,
    min_copies: int,
    deep: bool,
    progress: ProgressArg,
    cancel: CancelFlag | None,
    t0: float,
) -> MigrationReport:
    from ..drives import record as record_drive
    from ..volumes import volume_of

    dest.mkdir(parents=True, exist_ok=True)
    (dest / STATE_DIR).mkdir(exist_ok=True)
    journal = Journal(dest, STATE_DIR)
    vol = volume_of(dest)
    drive = vol.id if vol is not None else None
    user = current_user()
    detail = {"to": str(dest), "datasets": len(items), "convert": convert}
    with transaction(index) as con:
        if vol is not None:
            record_drive(con, to_db(dest), vol)
        append_audit(con, [("migrate.begin", None, detail)], user)
    total = sum(i.bytes for i in items)
    bar = None
    if bar_of(progress) or (bar_of(progress) is None and os.isatty(2)):
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="migrate")
    step = _Progress(bar, Reporter(callback_of(progress)), cancel, total, len(items))
    step.send("copying")
    report = MigrationReport(dest, index, False, {}, refused)
    done: list[Item] = []
    try:
        for item in items:
            step.check()
            try:
                there = _already_there(index, dest, item, journal)
                if there is not None and not (convert and item.row.get("reader")):
                    report.datasets[item.ident] = there
                    done.append(item)
                    step.items += 1
                    continue
                check_unchanged(item)
                _audit(
                    index, [("migrate.start", item.ident, {"from": str(item.source), **detail})]
                )
                if convert and item.row.get("reader"):
                    report.datasets[item.ident] = _convert_one(
                        sel, index, dest, item, journal, step, drive
                    )
                else:
                    report.datasets[item.ident] = _copy_one(
                        index, dest, item, journal, step, drive, deep
                    )
                    done.append(item)
            except (MigrationError, ExportError) as exc:
                refused[item.ident] = _refusal(item.row, exc)
                _audit(index, [("migrate.refused", item.ident, {**detail, "cause": str(exc)})])
            step.items += 1
            step.send(force=True)
        step.finish()
    except Cancelled:
        _audit(index, [("migrate.cancelled", None, detail)])
        raise
    finally:
        if bar is not None:
            bar.close()
    report.bytes_written = sum(d.get("written", 0) for d in report.datasets.values())
    if retire_source:
        step.send("retiring")
        for item in done:
            _retire(index, item, min_copies, report)
    _audit(
        index,
        [
            (
                "migrate.end",
                None,
                {
                    **detail,
                    "migrated": len(report.datasets),
                    "refused": len(refused),
                    "retired": len(report.retired),
                },
            )
        ],
    )
    step.send("done")
    report.seconds = time.perf_counter() - t0
    return report


def _already_there(index: Path, dest: Path, item: Item, journal: Journal) -> dict[str, Any] | None:
    """The report line of a dataset an earlier run migrated (its location at the target
    recorded and verified, every file journaled and in place), else ``None``. Its
    source is not read: it may be unplugged by now."""
    with connect(index, read_only=True) as con:
        row = con.execute(
            "SELECT 1 FROM locations WHERE dataset_id = ? AND path = ? AND status = 'ok' "
            "AND last_verified IS NOT NULL",
            [item.ident, to_db(item.target)],
        ).fetchone()
    if row is None:
        return None
    if any(journal.finished(d.relative_to(dest).as_posix()) is None for _, d, _ in item.files):
        return None
    return {
        "name": item.name,
        "how": "already there",
        "path": display(item.target),
        "files": len(item.files),
        "bytes": item.bytes,
        "resumed": len(item.files),
    }


def _full(expected: str | None) -> bool:
    return bool(expected) and not is_sampled(expected)


def _ready(dest: Path, item: Item, journal: Journal, deep: bool) -> None:
    """Before copying: a journaled copy whose source changed since (rescanned) is
    removed to be copied again; a file in the way that no run journaled is adopted if
    it is this very copy (a run killed between its rename and its journal line), else
    the dataset is refused."""
    for src, dst, f in item.files:
        rel = dst.relative_to(dest).as_posix()
        expected = f.get("checksum")
        st = os.stat(src)
        done = journal.finished(rel)
        if done is not None:
            stale = (done["size"], done["mtime_ns"]) != (st.st_size, st.st_mtime_ns) or (
                _full(expected) and done["b3"] != expected
            )
            if stale:
                os.unlink(dst)
            continue
        if not os.path.lexists(dst):
            continue
        if _full(expected) and os.path.isfile(dst) and not os.path.islink(dst):
            there = os.stat(dst)
            if (there.st_size, there.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                sha, b3 = hash_file(dst, uncached=deep)
                if b3 == expected:
                    journal.add([record(dest, dst, sha, b3, "copy", REREAD if deep else WRITTEN)])
                    continue
        raise MigrationError(
            f"{item.ident} ({item.name}): {display(dst)} is in the way (a file this "
            "migration did not write); move it away or migrate to another folder"
        )


def _engine_error(item: Item, exc: ExportError) -> MigrationError:
    """The copy engine's refusal, as a migration's: a source that does not match the
    index (or changed while copied) is :class:`SourceChanged`, naming the file."""
    text = str(exc)
    if "does not match the index" in text or "changed while it was copied" in text:
        for src, _, _ in item.files:
            if text.startswith(display(src)):
                return SourceChanged(f"{item.ident} ({item.name}): {text}", str(src))
        return SourceChanged(f"{item.ident} ({item.name}): {text}")
    return MigrationError(f"{item.ident} ({item.name}): {text}")


def _copy_one(
    index: Path,
    dest: Path,
    item: Item,
    journal: Journal,
    step: _Progress,
    drive: str | None,
    deep: bool,
) -> dict[str, Any]:
    """Copy, verify and record one dataset; returns its line of the report."""
    _ready(dest, item, journal, deep)
    written = 0
    try:
        with Writer(dest, journal, "copy", step, deep=deep) as writer:
            for src, dst, f in sorted(item.files, key=lambda x: -int(x[2].get("size") or 0)):
                step.check()
                writer.put(src, dst, f.get("checksum"))
        written = writer.bytes_written
    except ExportError as exc:
        error = _engine_error(item, exc)
        if isinstance(error, SourceChanged):  # what was copied of it is not a copy of it
            for _, dst, _ in item.files:
                if journal.finished(dst.relative_to(dest).as_posix()) is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(dst)
        raise error from None
    pause("migrate.copied")
    verified = {
        journal.done[d.relative_to(dest).as_posix()].get("verified") for _, d, _ in item.files
    }
    how = REREAD if verified == {REREAD} else WRITTEN
    signature = _signature(item)
    source_checked = all(_full(f.get("checksum")) for _, _, f in item.files)
    target = to_db(item.target)
    t = now()
    with transaction(index) as con:
        primary = con.execute("SELECT path FROM datasets WHERE id = ?", [item.ident]).fetchone()
        there = con.execute(
            "SELECT 1 FROM locations WHERE dataset_id = ? AND path = ?", [item.ident, target]
        ).fetchone()
        if there is None:
            replicas.add(con, item.ident, target, drive, signature)
        con.execute(
            "UPDATE locations SET status = 'ok', drive = ?, last_seen = ?, last_verified = ?, "
            "signature = ? WHERE dataset_id = ? AND path = ?",
            [drive, t, t, signature, item.ident, target],
        )
        if source_checked and primary is not None and primary[0] != target:
            # every source file was read and matched the index checksum: verified too
            con.execute(
                "UPDATE locations SET last_verified = ? WHERE dataset_id = ? AND path = ?",
                [t, item.ident, item.row["path"]],
            )
        replicas.settle(con, [item.ident])
        append_audit(
            con,
            [
                (
                    "migrate",
                    item.ident,
                    {
                        "from": str(item.source),
                        "to": str(item.target),
                        "files": len(item.files),
                        "bytes": item.bytes,
                        "verified": "read back" if how == REREAD else "written",
                        "resumed": writer.skipped,
                    },
                )
            ],
            current_user(),
        )
    return {
        "name": item.name,
        "how": "copied",
        "path": display(item.target),
        "files": len(item.files),
        "bytes": item.bytes,
        "resumed": writer.skipped,
        "written": written,
        "verified": how,
    }


def _signature(item: Item) -> str:
    """The copy's change signature, as a scan of the target would compute it (so a
    rescan there finds the replica unchanged without reading it)."""
    from ..scanner.known import signature

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
    return signature(item.row.get("reader"), options, stats)


def _convert_one(
    sel: Any,
    index: Path,
    dest: Path,
    item: Item,
    journal: Journal,
    step: _Progress,
    drive: str | None,
) -> dict[str, Any]:
    """Convert one dataset to OME-Zarr (the export's conversion, verified against the
    source) and record it as a new dataset derived from it."""
    from ..catalogue import open_catalog
    from ..catalogue.annotate import set_fields
    from ..catalogue.lineage import link
    from ..catalogue.save import inherited_fields, package_versions
    from ..export.run import _conversion_source, _convert, _stem
    from ..scanner.single import read_path, record_path

    row = item.row
    zpath = item.target.parent / f"{_stem(item.name)}.ome.zarr"
    zrel = zpath.relative_to(dest).as_posix()
    zdb = to_db(zpath)
    with connect(index, read_only=True) as con:
        known = con.execute("SELECT id FROM datasets WHERE path = ?", [zdb]).fetchone()
    if known is not None:  # converted and recorded by an earlier run
        derived = str(known[0])
        files = [f for p, f in journal.done.items() if p.startswith(zrel + "/")]
    else:
        src = open_catalog(index, files=True)[item.ident].read()
        image = row.get("kind") != "container"
        data, levels, _ = _conversion_source(sel, item.ident, src, image)
        try:
            files, shapes = _convert(data, levels, row, dest, zrel, journal, step, None)
        except ExportError as exc:
            raise _engine_error(item, exc) from None
        res = read_path(zpath, index)
        if not res.ok:
            raise MigrationError(
                f"{item.ident} ({item.name}): the OME-Zarr written to {display(zpath)} "
                f"could not be indexed: {res.error}"
            )
        params = {
            "convert": "ome-zarr",
            "source": str(item.source),
            "to": str(dest),
            "levels": [list(s) for s in shapes],
        }
        user = current_user()
        with transaction(index) as con:
            derived = record_path(con, index, res)
            fields = {k: v for k, v in inherited_fields(index, [item.ident], con=con).items() if v}
            if fields:
                set_fields(index, [derived], fields, con=con)
            provenance = {
                "step": CONVERT_STEP,
                "params": params,
                "parents": [item.ident],
                "versions": package_versions(),
                "user": user,
            }
            link(
                index, derived, [item.ident], step=CONVERT_STEP, params=params,
                provenance=provenance, con=con,
            )  # fmt: skip
            if drive is not None:
                con.execute("UPDATE datasets SET drive = ? WHERE id = ?", [drive, derived])
                con.execute(
                    "UPDATE locations SET drive = ? WHERE dataset_id = ?", [drive, derived]
                )
            append_audit(
                con,
                [("migrate.convert", item.ident, {**params, "derived": derived})],
                user,
            )
    return {
        "name": item.name,
        "how": "converted to OME-Zarr",
        "path": display(zpath),
        "files": len(files),
        "bytes": sum(int(f.get("size") or 0) for f in files),
        "derived": derived,
    }


def _retire(index: Path, item: Item, min_copies: int, report: MigrationReport) -> None:
    """Delete the source of a migrated dataset if ``min_copies`` verified copies remain
    without it: the index first (primary path moved to the new copy, old location
    ``retired``, audited), then the files; otherwise nothing is deleted."""
    from ..index.writer import DatasetWriter

    source, target = item.row["path"], to_db(item.target)
    user = current_user()
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
    failed = _delete_source(item)
    report.retired[item.ident] = {
        "from": display(item.source),
        "primary": display(item.target),
        "copies": len(verified),
    }
    if failed:
        report.retired[item.ident]["not_deleted"] = failed
        _audit(index, [("retire.incomplete", item.ident, {"not_deleted": failed[:100]})])


def _delete_source(item: Item) -> list[str]:
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
