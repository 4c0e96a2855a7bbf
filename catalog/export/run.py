"""``export_catalog``: write a curated subset as a self-contained, verifiable folder."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..cluster import cluster_client, scheduler_address
from ..errors import Cancelled, ExportCancelled, ExportError, IndexNotRecordedWarning
from ..index import resolve_index, transaction
from ..index.store import append_audit, current_user
from ..inputs import check_field_value
from ..paths import display, from_db, portable
from ..progress import CancelFlag, Progress, ProgressArg, Reporter, bar_of, callback_of
from ..progress import check as check_cancel
from ..remote import is_remote
from . import package
from .describe import write_tag_files
from .files import STATE_DIR, TMP, Journal, Writer, hash_files, record
from .objects import (
    RemoteJournal,
    RemoteWriter,
    Target,
    convert_to_objects,
    prepare,
    remove_new,
    upload_tag_files,
)
from .preflight import preflight, refusal
from .resume import NAME as RESUME_LOG
from .select import Selection, select
from .stock import NotStock, check, remote_export, stock_entry, zarr_entry

if TYPE_CHECKING:
    from distributed import Client

MODES = ("copy", "link", "zarr")
NOT_SPECIFIED = "not specified"


@dataclasses.dataclass
class ExportReport:
    """What :func:`export_catalog` wrote, dataset by dataset."""

    dest: Path | str  # a folder, or the URL of an export in object storage
    mode: str
    index: Path
    datasets: dict[str, dict[str, Any]]  # id -> name, how, path, files, bytes, note
    ancestors: list[str]
    resumed_files: int
    seconds: float
    license: str
    audited: bool
    skipped: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    # id -> name, path, cause: datasets left out because they could not be read
    resumed_chunks: int = 0  # Zarr chunks an interrupted conversion wrote, kept
    uploaded: int = 0  # bytes this run wrote to object storage (an export to a URL)

    @property
    def files(self) -> int:
        return sum(d["files"] for d in self.datasets.values())

    @property
    def bytes(self) -> int:
        return sum(d["bytes"] for d in self.datasets.values())

    @property
    def counts(self) -> dict[str, int]:
        """How many datasets each method handled."""
        out: dict[str, int] = {}
        for d in self.datasets.values():
            out[d["how"]] = out.get(d["how"], 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(dest=str(self.dest), index=str(self.index), files=self.files, bytes=self.bytes)
        return out

    def __str__(self) -> str:
        rate = self.bytes / 1e9 / self.seconds if self.seconds else 0.0
        lines = [
            f"Exported {len(self.datasets)} datasets ({self.files} files, "
            f"{self.bytes / 1e9:.3f} GB, mode {self.mode}) to {display(self.dest)} in "
            f"{self.seconds:.1f} s ({rate:.2f} GB/s)"
            + (
                f"; {self.resumed_files} files already there were kept"
                if self.resumed_files
                else ""
            )
            + (
                f"; {self.resumed_chunks} Zarr chunks of interrupted conversions were kept"
                if self.resumed_chunks
                else ""
            )
        ]
        for ident, d in self.datasets.items():
            note = f"  [{d['note']}]" if d.get("note") else ""
            lines.append(f"  {ident}  {d['name'][:40]:40}  {d['how']}{note}")
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} datasets that cannot be read:")
            for ident, d in self.skipped.items():
                lines.append(f"  {ident}  {d['name'][:40]:40}  {d['cause']}")
        if isinstance(self.dest, str):
            lines.append(
                f"Open it: intake.from_yaml_file({self.dest + '/catalog.yaml'!r}, "
                "storage_options={...})"
            )
        else:
            lines.append(f"Open it: intake.from_yaml_file({str(self.dest / 'catalog.yaml')!r})")
        return "\n".join(lines)


def _resolve(source: Any, ids: Iterable[str] | None) -> tuple[Path, list[str], str | None]:
    from ..catalogue import DuckDBCatalog

    if isinstance(source, DuckDBCatalog):
        if ids is not None:
            raise ExportError("pass either a catalogue or an index with ids, not both")
        sql, _ = source._query.sql()
        query = "all datasets" if sql == "TRUE" else repr(source._query)
        return source.index, list(source), query
    if isinstance(source, tuple) and len(source) == 2 and ids is None:
        source, ids = source
    if ids is None:
        raise ExportError("export_catalog(index, dest, ids=[...]) needs the dataset ids")
    return resolve_index(source).resolve(), [ids] if isinstance(ids, str) else list(ids), None


def _prepare(dest: Path, params: dict[str, Any]) -> Journal:
    state = dest / STATE_DIR / "params.json"
    if state.exists():
        old = json.loads(state.read_text(encoding="utf-8"))
        if {k: old.get(k) for k in params} != params:
            raise ExportError(
                f"{display(dest)} holds an export of other datasets or another mode; choose "
                "an empty folder, or delete it to start again"
            )
    elif dest.exists() and any(dest.iterdir()):
        raise ExportError(
            f"{display(dest)} is not empty and holds no voxcat export; choose an empty folder"
        )
    (dest / STATE_DIR).mkdir(parents=True, exist_ok=True)
    package.write_text(state, json.dumps({**params, "complete": False}, indent=2))
    for tmp in [*dest.glob(f"*{TMP}"), *(dest / "data").rglob(f"*{TMP}")]:  # cut short before
        if (tmp / RESUME_LOG).is_file() and not tmp.is_symlink():
            continue  # a Zarr conversion cut short: it resumes from what it logged
        shutil.rmtree(tmp) if tmp.is_dir() and not tmp.is_symlink() else tmp.unlink()
    return Journal(dest)


def _layout(sel: Selection, ident: str) -> tuple[str, list[tuple[Path, str, dict[str, Any]]]]:
    """The dataset's exported path and ``(source file, exported rel path, files row)``."""
    row = sel.rows[ident]
    top = Path(from_db(row["path"]))
    folder = top.is_dir()
    base = top if folder else top.parent
    # names as BagIt, YAML and Parquet hold them (undecodable bytes and % as =XX; the
    # original path is the entry's source_path)
    name = portable(top.name)
    prefix = f"data/{ident}/" + (f"{name}/" if folder else "")
    out = []
    for f in sel.files[ident] or [
        {"path": row["path"], "checksum": row["checksum"], "position": 0}
    ]:
        src = Path(from_db(f["path"]))
        rel = os.path.relpath(src, base)
        if rel.startswith(".."):
            rel = src.name
        out.append((src, prefix + portable(Path(rel).as_posix()), f))
    clash = {r for _, r, _ in out if sum(1 for _, o, _ in out if o == r) > 1}
    if clash:
        raise ExportError(
            f"dataset {ident}: files whose names differ only in bytes that are not UTF-8 "
            f"or in '%' would be written to one name ({', '.join(sorted(clash)[:5])}); "
            "rename them on the drive and rescan"
        )
    return f"data/{ident}/{name}", out


def _progress_bar(progress: bool | None, total: int, mode: str) -> Any:
    if not (progress or (progress is None and os.isatty(2))):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"export {mode}")


CANCELLED = (
    "the export was cancelled; what was verified is kept: run the same export again to finish it"
)


class _Step:
    """Bytes done, for the bar and the progress callback, and a cancel checkpoint:
    called for every block copied or hashed and every conversion, it raises
    :class:`~catalog.errors.ExportCancelled` once ``cancel`` is set. Safe to call from
    the copy thread and the hashing threads."""

    def __init__(
        self, bar: Any, report: Reporter, cancel: CancelFlag | None, total: int, items: int
    ) -> None:
        self.bar, self.report, self.cancel = bar, report, cancel
        self.total, self.items_total = total, items
        self.done = self.items = 0
        self.phase = "copying"
        self._lock = threading.Lock()

    def check(self) -> None:
        check_cancel(self.cancel, ExportCancelled, CANCELLED)

    def send(self, phase: str | None = None, force: bool = False) -> None:
        if phase is not None:
            self.phase, force = phase, True
        if force or self.report.wants(self.phase):
            self.report(
                Progress(self.phase, self.done, self.total, self.items, self.items_total),
                force=force,
            )

    def __call__(self, n: int) -> None:
        with self._lock:
            if self.bar is not None:
                self.bar.update(n)
            self.done += n
        self.send()
        self.check()

    def finish(self) -> None:
        """Everything is written: the bar full (sizes on disk and in memory differ)."""
        if self.bar is not None:
            self.bar.update(max(0, self.bar.total - self.bar.n))
        self.done = max(self.done, self.total)


def _stem(name: str) -> str:
    stem = re.sub(r"(\.ome)?\.(tiff?|zarr|h5|hdf5|nc|mrc|nii(\.gz)?|nrrd|mhd|png|dcm)$", "", name)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"


def _as_seen_by(source: Any, sel: Selection) -> Selection:
    """``sel`` without what the account of ``source`` (a user-bound catalogue) may not
    see: ancestors it may not see stay out, and so do lineage links naming them."""
    parents = {link["parent"] for link in sel.lineage}
    shown = set(source.visible(sorted(parents | set(sel.ancestors))))
    hidden = set(sel.ancestors) - shown
    if hidden:
        sel = sel.without(hidden)
    links = [link for link in sel.lineage if link["parent"] in shown]
    return dataclasses.replace(sel, lineage=links) if len(links) != len(sel.lineage) else sel


def export_catalog(
    source: Any,
    dest: str | os.PathLike[str],
    ids: Iterable[str] | None = None,
    *,
    mode: str = "copy",
    include_ancestors: bool = False,
    allow_restricted: bool = False,
    progress: ProgressArg = None,
    license: str | None = None,
    query: str | None = None,
    deep_verify: bool = False,
    skip_unreadable: bool = False,
    organization: str | None = None,
    cancel: CancelFlag | None = None,
    scheduler: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> ExportReport:
    """Export datasets to ``dest`` as a self-contained folder: the data under ``data/``,
    ``catalog.yaml`` (stock intake readers only), ``datasets.parquet``, a voxcat index
    of the subset, thumbnails, ``lineage.json``, ``README.md``, BagIt manifests and an
    RO-Crate. ``source`` is a catalogue (``cat.search(...)``), or an index path with
    ``ids`` (or an ``(index, ids)`` tuple).

    ``mode``: ``"copy"`` (files as they are), ``"link"`` (hard links, else symlinks) or
    ``"zarr"`` (every image converted to chunked, multiscale Zarr). Rerunning an
    interrupted export finishes it. ``license`` defaults to the index's ``license``
    setting, else ``"not specified"``. ``organization`` (a name or a URL such as a ROR
    id) is the RO-Crate's publisher and the exporter's affiliation; it defaults to the
    index's ``organization`` setting, else ``$VOXCAT_ORGANIZATION``.

    Before anything is written every dataset is opened (status, files, reader): if one
    cannot be read the export is refused with the list and causes, or, with
    ``skip_unreadable=True``, the others are exported and the skipped ones listed in
    the README and ``report.skipped``. A new export that fails leaves no folder behind
    (an interrupted one, Ctrl-C, stays to be resumed). The folder can be moved: its
    ``catalog.yaml`` and ``voxcat.duckdb`` refer to the data relative to the folder.

    Verification. A copy reads every source file once: each block read is written and
    hashed (SHA-256 for the BagIt manifest, BLAKE3 for the index) in the same pass, so
    the manifest holds the hashes of exactly the bytes written. The BLAKE3 must equal
    the index checksum, which shows that the source is unchanged since it was scanned
    (a file that differs is refused). The copy is then confirmed by every write having
    taken all its bytes, ``fsync`` succeeding (where the kernel reports write errors)
    and the file having that size; only then is it renamed into place. That does not
    detect a device that silently stores other bytes than it accepted (rare, but seen
    with failing USB bridges and disks): ``deep_verify=True`` reads every copy back from
    the device after its ``fsync`` (its cached pages dropped first, so memory is not
    what is read) and compares both hashes, at the cost of a second read of the data.
    The exported folder can also be checked at any later time, by
    ``verify(dest / "voxcat.duckdb")`` or any BagIt validator. Link mode hashes the
    linked files (a read of the sources). Zarr mode reads each converted level 0 back
    from the store and compares it with the source: block by block, by the hashes of
    each block handed to Zarr and of the same block read back to compute level 1 (so
    the source is not read twice), or value by value against the source when there is
    no level 1 or a block differs; a source's own pyramid levels and a container's
    arrays are compared value by value (shapes first; text as text).

    ``progress``: ``True`` draws a tqdm bar, ``False`` none, ``None`` (default) one on a
    terminal; a callable receives a :class:`~catalog.progress.Progress` instead (phases
    ``copying`` or ``linking``, ``checking`` or ``converting``, ``writing``, ``done``;
    bytes of the datasets, datasets finished). ``cancel`` (a ``threading.Event``, or
    anything with ``is_set()``) is checked between blocks copied and chunks converted:
    once set, the export stops as on Ctrl-C (what was verified is kept and the same
    export run again finishes it) and raises :class:`~catalog.errors.ExportCancelled`.

    ``scheduler`` (a Dask scheduler address, default ``$VOXCAT_DASK_SCHEDULER``): in
    Zarr mode the images are converted by that cluster's workers, block by block (read,
    downsample, write, hash; :mod:`catalog.export.convert`), into ``dest`` on a file
    system they share; this process logs, checks and writes the catalogue and index.
    A cancel or Ctrl-C cancels the tasks not finished (and waits for those running).

    >>> sub = open_catalog("lab.duckdb").search(project="rocks")      # doctest: +SKIP
    >>> report = export_catalog(sub, "/media/usb/rocks", mode="copy")  # doctest: +SKIP
    >>> report.counts                                                  # doctest: +SKIP
    {'reference (tifffile) to the TIFF': 12, 'converted to zarr': 1}
    >>> export_catalog(sub, "/lab/share/rocks", mode="zarr", scheduler="tcp://head:8786")  # doctest: +SKIP

    Object storage. ``dest`` may be a URL (``s3://bucket/prefix``, any fsspec protocol
    that writes) with ``storage_options`` (``endpoint_url``, ``profile``...; credentials
    also come from the environment): the same export is written there, the data
    without local staging (copies streamed and hashed on the way, Zarr written through
    ``FsspecStore``; see :mod:`catalog.export.objects`). ``mode="link"`` is refused.
    The export is complete once ``.voxcat-export/params.json`` says so (``bagit.txt``
    is written just before); a rerun keeps the objects already written. Its entries
    read with the storage options the catalogue is opened with, and no credential is
    written anywhere.

    >>> export_catalog(sub, "s3://lab-share/rocks", mode="zarr",
    ...                storage_options={"endpoint_url": "https://s3.example.org"})  # doctest: +SKIP
    >>> intake.from_yaml_file("s3://lab-share/rocks/catalog.yaml", storage_options={
    ...     "client_kwargs": {"endpoint_url": "https://s3.example.org"}})  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    if mode not in MODES:
        raise ExportError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    url = os.fspath(dest) if isinstance(dest, str) and is_remote(dest) else None
    if url is None and storage_options:
        raise ExportError(
            f"storage_options are for exports to object storage (s3://bucket/prefix), not "
            f"to the folder {display(dest)}"
        )
    if url is not None and mode == "link":
        raise ExportError(
            f"{url}: object storage holds no links; export with mode='copy' (--mode copy) "
            "or mode='zarr'"
        )
    if url is not None and scheduler is not None:
        raise ExportError(
            f"{url}: exports to object storage convert in this process; leave out "
            "scheduler= (--scheduler)"
        )
    if organization is not None:
        check_field_value("organization", organization)
    index, id_list, described = _resolve(source, ids)
    query = query or described
    sel = select(
        index, id_list, include_ancestors=include_ancestors, allow_restricted=allow_restricted
    )
    if getattr(source, "user", None) is not None:
        sel = _as_seen_by(source, sel)
    opened, skipped = preflight(sel, mode)
    if skipped and not skip_unreadable:
        raise ExportError(refusal(skipped))
    if skipped:
        if len(skipped) == len(sel.rows):
            raise ExportError(refusal(skipped).replace("cannot export:", "nothing to export:"))
        sel = sel.without(skipped)
    params = {"index": str(index), "ids": sorted(sel.rows), "mode": mode, "version": 1}
    if url is not None:
        return _to_objects(
            sel, Target.of(url, storage_options), params, opened, skipped,
            mode=mode, license=license, query=query, progress=progress, deep=deep_verify,
            t0=t0, organization=organization, cancel=cancel,
        )  # fmt: skip
    dest = Path(os.path.abspath(dest))
    address = scheduler_address(scheduler) if mode == "zarr" else None
    with contextlib.ExitStack() as stack:
        # connected before anything is written: an unreachable scheduler leaves nothing
        client = stack.enter_context(cluster_client(address)) if address else None
        created = not dest.exists()
        fresh = not (dest / STATE_DIR / "params.json").exists()
        journal = _prepare(dest, params)
        try:
            return _export(
                sel, dest, journal, params, opened, skipped,
                mode=mode, license=license, query=query, progress=progress, deep=deep_verify,
                t0=t0, organization=organization, cancel=cancel, client=client,
            )  # fmt: skip
        except Cancelled:  # as Ctrl-C: kept, to be resumed
            raise
        except Exception:
            if fresh:  # a new export that failed: leave nothing half-written behind
                _remove(dest, created)
            raise
    raise AssertionError("unreachable")  # pragma: no cover - for type checkers


def _to_objects(
    sel: Selection,
    target: Target,
    params: dict[str, Any],
    opened: dict[str, Any],
    skipped: dict[str, dict[str, str]],
    **kwargs: Any,
) -> ExportReport:
    """The export written to object storage: the data straight to its objects, the
    tag files built in a temporary folder and uploaded (see :mod:`.objects`)."""
    with tempfile.TemporaryDirectory(prefix="voxcat-export-") as tmp:
        stage = Path(tmp)
        (stage / STATE_DIR).mkdir()
        journal, fresh = prepare(target, stage, params)
        try:
            with remote_export(target.storage.options):
                return _export(sel, stage, journal, params, opened, skipped, **kwargs)
        except Cancelled:  # as Ctrl-C: kept, to be resumed
            with contextlib.suppress(Exception):
                journal.flush()
            raise
        except Exception:
            if fresh:  # a new export that failed: nothing half-written stays behind
                remove_new(target)
            else:
                with contextlib.suppress(Exception):
                    journal.flush()
            raise
        except BaseException:
            with contextlib.suppress(Exception):
                journal.flush()
            raise
    raise AssertionError("unreachable")  # pragma: no cover - for type checkers


def _remove(dest: Path, created: bool) -> None:
    """Delete what a failed new export wrote (``dest`` itself if it made it)."""
    if created:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for item in dest.iterdir():
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                item.unlink()


def _export(
    sel: Selection,
    dest: Path,
    journal: Journal | RemoteJournal,
    params: dict[str, Any],
    opened: dict[str, Any],
    skipped: dict[str, dict[str, str]],
    *,
    mode: str,
    license: str | None,
    query: str | None,
    progress: ProgressArg,
    deep: bool,
    t0: float,
    organization: str | None = None,
    cancel: CancelFlag | None = None,
    client: Client | None = None,
) -> ExportReport:
    index = sel.index
    lic = license or sel.license or NOT_SPECIFIED
    org = organization or sel.organization or os.environ.get("VOXCAT_ORGANIZATION") or None
    user, when = current_user(), dt.datetime.now().astimezone()
    total = sum(int(r["size"] or 0) for r in sel.rows.values())
    bar = _progress_bar(bar_of(progress), total, mode)
    step = _Step(bar, Reporter(callback_of(progress)), cancel, total, len(sel.rows))
    step.send("linking" if mode == "link" else "copying")
    exported: dict[str, dict[str, Any]] = {}
    entries: dict[str, tuple[Any, dict[str, Any]]] = {}
    try:
        layouts = {i: _layout(sel, i) for i in sel.rows}
        copied = [i for i in sel.rows if mode != "zarr" or not sel.rows[i]["reader"]]
        jobs = [(f.get("size") or 0, src, rel, f) for i in copied for src, rel, f in layouts[i][1]]
        jobs.sort(key=lambda j: -j[0])  # big files first: the last flush overlaps no copy
        how = "link" if mode == "link" else "copy"
        remote = isinstance(journal, RemoteJournal)
        writer: Writer | RemoteWriter
        if isinstance(journal, RemoteJournal):
            writer = RemoteWriter(journal, step, deep=deep)
        else:
            writer = Writer(dest, journal, how, step, deep=deep)
        with writer:
            for _, src, rel, f in jobs:
                step.check()
                writer.put(src, dest / rel, f.get("checksum"))
        resumed = writer.skipped
        step.send("converting" if mode == "zarr" else "checking")
        for ident in sel.rows:
            step.check()
            exported[ident], entry = _dataset(
                sel, ident, layouts[ident], dest, journal, mode, step, opened.get(ident), client
            )
            if entry is not None:
                entries[ident] = (
                    entry,
                    package.entry_metadata(sel, ident, _facts(exported[ident])),
                )
            step.items += 1
            step.send(force=True)  # one per dataset: never dropped by the throttle
        step.finish()
    finally:
        if bar is not None:
            bar.close()
    step.send("writing")
    write_tag_files(
        sel, dest, exported, entries, mode=mode, query=query, lic=lic, user=user, when=when,
        skipped=skipped, organization=org, remote=remote,
    )  # fmt: skip
    where: Path | str = dest
    if isinstance(journal, RemoteJournal):
        journal.sent += upload_tag_files(dest, journal, params)
        where = journal.base
    else:
        package.write_text(
            dest / STATE_DIR / "params.json", json.dumps({**params, "complete": True})
        )
    audited = _audit(index, where, mode, exported, lic, user, skipped)
    step.send("done")
    datasets = {
        i: {
            "name": sel.rows[i]["name"],
            "how": e["how"],
            "path": e["path"],
            "files": len(e["files"]),
            "bytes": sum(f["size"] for f in e["files"]),
            "note": e.get("note"),
        }
        for i, e in exported.items()
    }
    return ExportReport(
        where, mode, index, datasets, sel.ancestors, resumed, time.perf_counter() - t0, lic,
        audited, skipped, journal.kept_chunks, getattr(journal, "sent", 0),
    )  # fmt: skip


def _facts(e: dict[str, Any]) -> dict[str, Any]:
    return {"how": e["how"], "path": e["path"], "files": len(e["files"]), "note": e.get("note")}


def _dataset(
    sel: Selection,
    ident: str,
    layout: tuple[str, list[tuple[Path, str, dict[str, Any]]]],
    dest: Path,
    journal: Journal | RemoteJournal,
    mode: str,
    step: _Step,
    src: Any = None,
    client: Client | None = None,
) -> tuple[dict[str, Any], Any]:
    """Finish one dataset: its stock entry, or a conversion; returns (facts, entry).
    ``src``: the dataset as voxcat reads it (opened by the pre-flight check)."""
    row = sel.rows[ident]
    top, placed = layout
    files = []
    if mode != "zarr" or not row["reader"]:
        for pos, (_, rel, f) in enumerate(placed):
            item = journal.done[rel]
            files.append({**item, "position": f.get("position", pos)})
    facts: dict[str, Any] = {"path": top, "files": files, "source": display(from_db(row["path"]))}
    if not row["reader"]:
        return {**facts, "how": "file (no reader)"}, None
    if src is None:
        from ..catalogue import open_catalog

        src = open_catalog(sel.index, files=True)[ident].read()
    rel_dir = f"data/{ident}"
    if mode != "zarr":
        try:
            make, how = stock_entry(
                row, src, [dest / rel for _, rel, _ in placed], rel_dir, dest, dest / top
            )
            check(make(str(dest)).read(), src, row)
            return {**facts, "how": how}, make("{CATALOG_DIR}")
        except NotStock as exc:
            note = str(exc)
        except Exception as exc:  # a reader that fails on this file is not stock either
            note = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(FileNotFoundError):
            (dest / rel_dir / f"{ident}.refs.json").unlink()
        zrel = f"{rel_dir}/converted/{_stem(row['name'])}.zarr"
    else:
        note = None
        zrel = f"{rel_dir}/{_stem(row['name'])}.zarr"
    image = row["kind"] != "container"
    data, levels, group = _conversion_source(sel, ident, src, image)
    try:
        zfiles, shapes = _convert(data, levels, row, dest, zrel, journal, step, client)
    except (ExportError, Cancelled):
        raise
    except Exception:
        if not isinstance(data, dict):
            raise
        data, group = src, None  # the file as xarray reads it does not convert: voxcat's
        zfiles, shapes = _convert(data, levels, row, dest, zrel, journal, step, client)
    if image:
        make, reference = zarr_entry(zrel, "0", "image"), src
    else:
        make, reference = zarr_entry(zrel, group, None), _reference(data)
    # read where the Zarr went: the folder, or (an export to object storage) its URL
    check(make(getattr(journal, "base", str(dest))).read(), reference, row)
    how = "converted to zarr"
    if mode == "zarr":
        how = "zarr (OME-Zarr 0.4 + xarray levels)" if image else "zarr (group of its arrays)"
    if mode != "zarr":
        facts["extra"] = zfiles
        return {**facts, "how": how, "note": note}, make("{CATALOG_DIR}")
    overrides = {
        "format": "zarr",
        "reader": "zarr",
        "options": "{}",
        "n_files": len(zfiles),
        "size": sum(f["size"] for f in zfiles),
        "levels": len(shapes),
        "level_shapes": json.dumps([list(s) for s in shapes]),
        "checksum": None,
        "signature": None,
    }
    facts.update(path=zrel, files=zfiles, row=overrides)
    return {**facts, "how": how}, make("{CATALOG_DIR}")


def _conversion_source(
    sel: Selection, ident: str, src: Any, image: bool
) -> tuple[Any, list[Any], str | None]:
    """What to convert: ``(data, the source's own levels 1.., catalogue group)``. An
    image with a pyramid keeps every level; a container is converted as xarray reads
    the file (its groups and names, as the stock reader of a copy gives them) when it
    can, else as voxcat reads it."""
    from .layout import file_groups, primary_of

    row = sel.rows[ident]
    if image:
        count = int(row.get("levels") or 1)
        if count <= 1:
            return src, [], None
        from ..catalogue import open_catalog

        entry = open_catalog(sel.index, files=True)[ident]
        return src, [entry.read(level=k) for k in range(1, count)], None
    groups = file_groups(row, src)
    if groups is None:
        return src, [], None
    group, _ = primary_of(groups)
    return groups, [], group or None


def _reference(data: Any) -> Any:
    """The converted container's part its catalogue entry opens, as the source holds it."""
    from .layout import primary_of

    if not isinstance(data, dict):
        return data
    group, name = primary_of(data)
    ref = data[group].copy()
    ref.attrs = {"primary": name}
    return ref


def _convert(
    data: Any,
    levels: list[Any],
    row: dict[str, Any],
    dest: Path,
    zrel: str,
    journal: Journal | RemoteJournal,
    step: _Step,
    client: Client | None = None,
) -> tuple[list[dict[str, Any]], list[tuple[int, ...]]]:
    """Convert (or find converted by an earlier run) ``data`` into ``dest/zrel`` (on
    the cluster of ``client`` if given), or into the object storage of ``journal``."""
    from .convert import convert

    if isinstance(journal, RemoteJournal):
        return convert_to_objects(data, levels, row, journal, zrel, step)

    marker = f"@{zrel}"
    done = journal.done.get(marker)
    target = dest / zrel
    if done is None or not target.is_dir():
        shapes = convert(
            data, target, name=row["name"], segmentation=row["data_level"] == "segmentation",
            progress=step, levels=levels, resume=_resume_key(row, data, levels),
            check=step.check, client=client,
        )  # fmt: skip
        journal.kept_chunks += shapes.kept
        if not getattr(shapes, "verified", False):  # level 0 was not all read back for level 1
            try:
                _verify_conversion(data, target, row, levels)
            except BaseException:
                shutil.rmtree(target, ignore_errors=True)
                raise
        paths = sorted(p for p in target.rglob("*") if p.is_file())
        items = [
            record(dest, path, sha, b3, "zarr")
            for path, (sha, b3) in zip(paths, hash_files(paths))
        ]
        journal.add(items)
        done = {"path": marker, "shapes": [list(s) for s in shapes], "files": len(items)}
        journal.add([done])
    prefix = zrel + "/"
    files = [
        {**journal.done[p], "position": k}
        for k, p in enumerate(sorted(p for p in journal.done if p.startswith(prefix)))
    ]
    return files, [tuple(s) for s in done["shapes"]]


def _resume_key(row: dict[str, Any], data: Any, levels: list[Any]) -> str:
    """What a resumed conversion must find unchanged: the dataset's content checksum
    and what is converted (shapes and dtypes of every level)."""
    parts = [f"{getattr(a, 'dtype', '')}{list(getattr(a, 'shape', ()))}" for a in [data, *levels]]
    return f"{row.get('checksum') or row['id']}|{'|'.join(parts)}"


def _pairs(data: Any, target: Path, levels: list[Any]) -> list[tuple[str, Any, Any]]:
    """``(what, source array, written array)`` for every array of a conversion."""
    import xarray as xr

    if isinstance(data, dict | xr.Dataset):
        groups = data if isinstance(data, dict) else {"": data}
        out = []
        for group, ds in groups.items():
            written = xr.open_zarr(target, group=group or None, consolidated=False)
            for key, var in ds.data_vars.items():
                name = str(key).replace("/", "_")
                out.append((f"{group}/{key}".lstrip("/"), var, written.get(name)))
        return out
    return [
        (f"level {k}", level, xr.open_zarr(target, group=str(k), consolidated=False)["image"])
        for k, level in enumerate([data, *levels])
    ]


def _text(values: Any) -> list[str]:
    import numpy as np

    flat = np.asarray(values).ravel().tolist()
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]


def _verify_conversion(
    data: Any, target: Path, row: dict[str, Any], levels: list[Any] | None = None
) -> None:
    """Every value of every array written equals the source (read back from disk):
    shapes first, then values (text as text)."""
    import dask.array as da
    import numpy as np

    for what, a, b in _pairs(data, target, levels or []):
        problem = None
        if b is None:
            problem = "is missing"
        elif tuple(a.shape) != tuple(b.shape):
            problem = f"has shape {tuple(b.shape)}, the source {tuple(a.shape)}"
        elif np.dtype(a.dtype).kind in "OSU" or np.dtype(b.dtype).kind in "OSU":
            if _text(a.values) != _text(b.values):
                problem = "reads back with other text"
        else:
            x = da.asarray(a.data)
            y = da.asarray(b.data).rechunk(x.chunks)
            same = x == y
            if np.dtype(a.dtype).kind in "fcmM":
                same = same | ((x != x) & (y != y))  # NaN and NaT equal themselves here
            if not bool(same.all().compute()):
                problem = "reads back with other values"
        if problem is not None:
            raise ExportError(
                f"{row['id']} ({row['name']}): {what} in the Zarr written to "
                f"{display(target)} {problem}; check the disk and rerun the export"
            )


def _audit(
    index: Path,
    dest: Path | str,
    mode: str,
    exported: dict[str, dict[str, Any]],
    lic: str,
    user: str,
    skipped: dict[str, dict[str, str]],
) -> bool:
    detail = {"dest": str(dest), "mode": mode}
    entries: list[tuple[str, str | None, dict[str, Any]]] = [
        ("export", i, {**detail, "how": e["how"]}) for i, e in exported.items()
    ]
    entries += [("export.skipped", i, {**detail, "cause": p["cause"]}) for i, p in skipped.items()]
    summary = {**detail, "datasets": len(exported), "license": lic, "skipped": len(skipped)}
    entries.append(("export", None, summary))
    try:
        with transaction(index) as con:
            append_audit(con, entries, user)
    except Exception as exc:  # the export is complete; say that the log could not record it
        warnings.warn(
            f"the export is complete but {display(index)} could not record it in its audit "
            f"log: {exc}",
            IndexNotRecordedWarning,
            stacklevel=3,
        )
        return False
    return True
