"""Importing existing tabular catalogues (CSV, TSV, Parquet, DataFrames) into the index.

Each row becomes one dataset with status ``registered``: known from a table, not yet
verified by a scan. Columns map to dataset fields by name (case-insensitive, with
synonyms such as ``filepath`` or ``uri`` for ``path``, see
:data:`catalog.tabular.SYNONYMS`); every other column is kept in the dataset's ``meta``
and in the ``metadata`` table, so search reaches it. A path already in the index keeps
its id and its scanned fields; the table adds user fields, tags and metadata. A later
scan of an imported file fills in what the file says and keeps the id, the user
fields and the tags.

intake-esm catalogues import as they are: its collection spec (the JSON file pointing
at the CSV, see :mod:`catalog.esm`) is accepted in place of the table, ``zstore``
columns, paths ending in ``/`` and remote URLs are Zarr stores, ``data_format`` is the
format, and list-valued cells (``"['TLON', 'TLAT']"``) are stored as lists, one
``metadata`` row per item, so ``search(variable="TLON")`` finds them. Rows recorded as
plain files (no format voxcat reads) are invisible to ``len(cat)`` and search: the
report warns about them, as about remote stores this machine cannot read.

The table is read and normalised by DuckDB in memory (see :mod:`catalog.tabular`);
the index is locked only for the one transaction that writes the result.

>>> report = import_table("old_catalogue.csv", index="lab.duckdb")    # doctest: +SKIP
>>> report.added, report.skipped                                       # doctest: +SKIP
(1830, 1)
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa

from . import replicas
from .errors import ImportTableError, ImportTableWarning
from .esm import looks_like_json, read_collection
from .index import listing, resolve_index, transaction
from .index.store import append_audit, now
from .index.writer import DatasetWriter, free_id
from .paths import display, from_db, to_db
from .remote import is_remote, missing_package
from .tabular import (
    FIELDS,
    LENGTHS,
    ROW,
    TECHNICAL,
    lit,
    match_columns,
    numeric,
    parse_iterables,
    prepare,
    q,
    read_table,
    to_arrow,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: messages about single rows kept in a report; the rest are counted
MAX_ROW_ERRORS = 100


@dataclasses.dataclass
class ImportReport:
    """What :func:`import_table` did. ``str(report)`` is the summary the CLI prints."""

    table: str
    index: str
    added: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    #: rows recorded that search will not show, remote stores this machine cannot read
    warnings: list[str] = dataclasses.field(default_factory=list)
    #: rows recorded as plain files, not datasets (``len(cat)`` and search skip them)
    hidden: int = 0

    def __str__(self) -> str:
        lines = [
            f"Imported {self.table} into {self.index} in {self.seconds:.1f} s: "
            f"added {self.added}, updated {self.updated}, skipped {self.skipped}"
        ]
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  {e}" for e in self.errors[:20]]
        if len(self.errors) > 20:
            lines.append(f"  ... and {len(self.errors) - 20} more messages")
        return "\n".join(lines)


def import_table(
    table: str | os.PathLike[str] | pd.DataFrame,
    index: str | os.PathLike[str] | None = None,
    *,
    mapping: Mapping[str, str | None] | None = None,
    root: str | os.PathLike[str] | None = None,
    sep: str | None = None,
    tags_sep: str | None = ",",
    columns_with_iterables: Sequence[str] = (),
    progress: bool = False,
) -> ImportReport:
    """Register every row of a CSV/TSV/Parquet table (or a DataFrame, or an intake-esm
    collection spec: the JSON naming such a table) as a dataset.

    Columns map to fields by name; ``mapping={"col": "field"}`` overrides or adds to
    that and ``{"col": None}`` drops a column; the other columns become searchable
    metadata. Relative paths are resolved against ``root`` (default: the table's
    folder). ``sep`` is the CSV separator (default: detected), ``tags_sep`` splits the
    tags column (``None``: one tag per cell). ``columns_with_iterables`` names columns
    holding lists as Python literals (``"['TLON', 'TLAT']"``, intake-esm's convention;
    columns where every cell is one are found without it). Rows without a path are
    skipped and reported; values that cannot be understood are left empty and
    reported; rows that become plain files, not datasets, are counted in
    ``report.hidden`` and warned about (:class:`~catalog.errors.ImportTableWarning`).
    Everything is written in one transaction. Raises
    :class:`~catalog.errors.ImportTableError` for a table that cannot be used.

    >>> report = import_table("inventory.csv", "lab.duckdb",
    ...                       mapping={"Datei": "path", "Notiz": "description"})  # doctest: +SKIP
    >>> print(report)                                                       # doctest: +SKIP
    Imported /data/inventory.csv into lab.duckdb in 0.4 s: added 1830, updated 2, skipped 0
    >>> import_table("pangeo-cmip6.json", "lab.duckdb").added               # doctest: +SKIP
    3502
    """
    t0 = time.perf_counter()
    source = os.path.abspath(os.path.expanduser(table)) if _is_path(table) else None
    label = display(source) if source else "DataFrame"
    mapping = dict(mapping or {})
    iterables = list(columns_with_iterables)
    default_format = None
    if source and Path(source).is_file() and looks_like_json(Path(source)):
        spec = read_collection(Path(source), label)
        table, source = spec.table, spec.table if isinstance(spec.table, str) else None
        _spec_mapping(mapping, spec.path_column, "path")
        if spec.format_column:
            _spec_mapping(mapping, spec.format_column, "format")
        default_format = spec.format
        iterables += [c for c in spec.iterables if c not in iterables]
        root = root if root is not None else spec.folder
    if root is not None:
        base = os.path.abspath(os.path.expanduser(root))
    else:
        base = os.path.dirname(source) if source else os.getcwd()
    index_path = Path(os.path.abspath(resolve_index(index)))
    bar = _progress(progress)
    mem = duckdb.connect()
    try:
        read_table(mem, source or table, label, sep)
        columns = [r[0] for r in mem.execute("DESCRIBE src").fetchall() if r[0] != ROW]
        if not mem.execute("SELECT count(*) FROM src").fetchall()[0][0]:
            raise ImportTableError(f"{label}: the table is empty (no rows); nothing to import")
        fields, extra = match_columns(columns, mapping, label)
        missing = [c for c in iterables if c not in columns]
        if missing:
            raise ImportTableError(
                f"{label}: columns_with_iterables names columns the table does not have: "
                f"{', '.join(map(repr, missing))}"
            )
        parse_iterables(mem, extra, [c for c in iterables if c != fields["path"]])
        _step(bar, "paths and ids")
        raw = to_arrow(mem, f"SELECT CAST({q(fields['path'])} AS VARCHAR) FROM src ORDER BY {ROW}")
        zstore = fields["path"].strip().lower() == "zstore"
        paths, errors = _paths(raw.column(0).to_pylist(), base, label, fields["path"], zstore)
        mem.register("_paths", paths)
        _step(bar, "fields")
        errors += prepare(mem, fields, extra, label, tags_sep, default_format)
        types = {r[0]: r[1] for r in mem.execute("DESCRIBE src").fetchall()}
        prep = to_arrow(mem, "SELECT * FROM prep")
    finally:
        mem.close()
    _step(bar, "writing")
    extras = [(c, types[c]) for c in extra]
    with listing.bulk_write(index_path), transaction(index_path) as con:
        added, updated = _write(con, prep, extras, label, to_db(base))
        hidden, examples, protocols = _unseen(con)
        con.execute("DROP TABLE _imp")
    _step(bar, "done")
    if bar is not None:
        bar.close()
    if len(errors) > MAX_ROW_ERRORS:
        errors = [*errors[:MAX_ROW_ERRORS], f"... and {len(errors) - MAX_ROW_ERRORS} more"]
    report = ImportReport(
        table=label,
        index=display(index_path),
        added=added,
        updated=updated,
        skipped=raw.num_rows - paths.num_rows,
        errors=errors,
        hidden=hidden,
        warnings=_warnings(hidden, added + updated, examples, protocols),
    )
    for text in report.warnings:
        warnings.warn(f"{label}: {text}", ImportTableWarning, stacklevel=2)
    report.seconds = time.perf_counter() - t0
    return report


def _spec_mapping(mapping: dict[str, str | None], column: str, field: str) -> None:
    """Add a column role from an ESM spec unless the caller mapped it already."""
    if column not in mapping and field not in mapping.values():
        mapping[column] = field


def _is_path(table: Any) -> bool:
    return isinstance(table, str | os.PathLike)


# -- paths and ids -------------------------------------------------------------------


_ZARR_MARKERS = (".zgroup", ".zarray", "zarr.json", ".zattrs")


def _is_store(text: str, resolved: str, zstore: bool) -> bool:
    """Whether a path names a Zarr store: from a ``zstore`` column, ending in ``/`` (a
    local folder only when it does not exist or holds Zarr metadata), or a remote URL
    whose last part has no suffix (``gs://cmip6/.../v20190308/``)."""
    if zstore:
        return True
    if is_remote(resolved):
        return text.endswith("/") or "." not in resolved.rstrip("/").rsplit("/", 1)[-1]
    if not text.endswith("/"):
        return False
    folder = Path(from_db(resolved))
    return not folder.is_dir() or any((folder / m).exists() for m in _ZARR_MARKERS)


def _resolve(text: str, base: str) -> str:
    """An absolute, normalised path (``base`` is absolute); URLs are kept as given."""
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    elif "://" in text:
        return text.rstrip("/") or text
    if text[0] == "~":
        text = os.path.expanduser(text)
    path = text if text[0] == "/" else f"{base.rstrip('/')}/{text}"
    # normpath only when needed: it is the slowest step for a million clean paths
    return os.path.normpath(path) if "/." in path or "//" in path or path[-1] == "/" else path


def _paths(
    raw: list[str | None], base: str, label: str, col: str, zstore: bool = False
) -> tuple[pa.Table, list[str]]:
    """Resolved, de-duplicated db paths with new ids and whether each is a Zarr store
    (see :func:`_is_store`); a message per skipped row."""
    rows: list[int] = []
    paths: list[str] = []
    ids: list[str] = []
    stores: list[bool] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    taken: set[str] = set()
    for n, value in enumerate(raw, 1):
        text = value.strip() if value else ""
        if not text:
            problem = f"no path (column {col!r} is empty)"
        else:
            resolved = _resolve(text, base)
            db = resolved if resolved.isascii() else to_db(resolved)
            first = seen.setdefault(db, n)
            if first == n:
                rows.append(n)
                paths.append(db)
                ids.append(free_id(db, None, taken))
                stores.append(_is_store(text, resolved, zstore))
                continue
            problem = f"the same path as row {first} ({display(db)})"
        errors.append(f"{label}, row {n}: {problem}; row skipped")
    table = pa.table(
        {ROW: pa.array(rows, pa.int64()), "path": paths, "id": ids, "store": stores},
        schema=pa.schema(
            [(ROW, pa.int64()), ("path", pa.string()), ("id", pa.string()), ("store", pa.bool_())]
        ),
    )
    return table, errors


# -- writing -------------------------------------------------------------------------


def _write(
    con: duckdb.DuckDBPyConnection,
    prep: pa.Table,
    extras: list[tuple[str, str]],
    label: str,
    root: str,
) -> tuple[int, int]:
    """Insert new datasets, update known ones; returns ``(added, updated)``."""
    out = DatasetWriter(con, append_audit=append_audit)
    t, user = now(), out.user
    con.register("_prep", prep)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _imp AS SELECT i.*, d.id AS old_id "
        "FROM _prep i LEFT JOIN datasets d ON d.path = i.path"
    )
    con.unregister("_prep")
    out.fix_staged_ids("_imp", ROW)
    con.execute("UPDATE _imp SET id = old_id WHERE old_id IS NOT NULL")
    added, total = con.execute(
        "SELECT count(*) FILTER (old_id IS NULL), count(*) FROM _imp"
    ).fetchall()[0]
    user_set = out.user_set_sql("i")
    plain = [f for f in FIELDS[2:] if f not in ("format", "tags", "voxel_size")]
    con.execute(
        f"""INSERT INTO datasets BY NAME
        SELECT i.id, i.path, coalesce(i.name, nullif(regexp_extract(i.path, '[^/]+$'), ''),
               i.path) AS name, ? AS root, {_KIND_SQL} AS kind,
               coalesce(i.format, i.reader, i.guess) AS format, i.reader, '{{}}' AS options,
               coalesce(i.voxel_size, greatest({", ".join(f"i.{f}" for f in LENGTHS[1:])}))
               AS voxel_size, {", ".join(f"i.{f}" for f in plain)}, i.meta,
               'registered' AS status, ? AS first_seen, ? AS last_seen, {user_set} AS user_set,
               nullif(list_sort(list_distinct(i.tags)), []) AS tags
        FROM _imp i WHERE i.old_id IS NULL""",
        [root, t, t],
    )
    replicas.record_staged(con, "_imp", "old_id IS NULL")
    if total > added:
        _update(out)
        # values the table gives replace the old ones of the same key
        keys = [f"(m.key = {lit(c)} AND i._x{k} IS NOT NULL)" for k, (c, _) in enumerate(extras)]
        keys.append("m.key = 'voxcat.imported_from'")
        con.execute(
            f"DELETE FROM metadata m USING _imp i WHERE m.dataset_id = i.id "
            f"AND i.old_id IS NOT NULL AND ({' OR '.join(keys)})"
        )
    _insert_metadata(con, extras, label)
    con.execute(
        "INSERT INTO tags SELECT id, unnest(list_distinct(tags)), ?, ? FROM _imp "
        "WHERE tags IS NOT NULL ON CONFLICT DO NOTHING",
        [user, t],
    )
    n_all = con.execute("SELECT count(*) FROM datasets").fetchall()[0][0]
    audit = con.execute(
        f"SELECT id, {ROW}, old_id IS NULL AS new FROM _imp ORDER BY {ROW}"
    ).fetchnumpy()
    ids = audit["id"].tolist()
    # refreshing by a list of ids costs more than refreshing all once it is most of them
    out.written(None if 2 * total >= n_all else ids)
    rows, new = audit[ROW].tolist(), audit["new"].tolist()
    out.audit(  # a generator: the writer appends it in batches, bounding the memory
        ("import.added" if is_new else "import.updated", i, {"table": label, "row": n})
        for i, n, is_new in zip(ids, rows, new)
    )
    out.commit()
    return added, total - added


#: a row with no reader is a plain file; a remote one opens as an ``xarray.Dataset``
_KIND_SQL = (
    "CASE WHEN i.reader IS NULL THEN 'file' "
    "WHEN regexp_matches(i.path, '^[A-Za-z][A-Za-z0-9+.-]*://') THEN 'container' "
    "ELSE 'image' END"
)


def _unseen(con: duckdb.DuckDBPyConnection) -> tuple[int, list[str], dict[str, int]]:
    """Of the rows just written (``_imp``): how many are plain files that search does
    not show, a few of their paths, and the remote datasets by URL protocol."""
    hidden, examples = con.execute(
        "SELECT count(*), list(d.path ORDER BY i.__voxcat_row)[:3] FROM _imp i "
        "JOIN datasets d ON d.id = i.id WHERE d.kind = 'file'"
    ).fetchall()[0]
    protocols = con.execute(
        "SELECT lower(regexp_extract(d.path, '^([A-Za-z][A-Za-z0-9+.-]*)://', 1)) AS p, "
        "count(*) FROM _imp i JOIN datasets d ON d.id = i.id "
        "WHERE d.kind <> 'file' AND p <> '' GROUP BY p ORDER BY p"
    ).fetchall()
    return hidden, [display(from_db(p)) for p in examples or []], dict(protocols)


def _warnings(
    hidden: int, total: int, examples: list[str], protocols: dict[str, int]
) -> list[str]:
    """Messages about rows nobody will see and remote stores this machine cannot read."""
    out = []
    if hidden:
        eg = ", ".join(examples) + (", ..." if hidden > len(examples) else "")
        out.append(
            f"{hidden} of {total} rows were recorded as plain files, not datasets, so "
            f"len(cat) and search do not show them: their paths name no format voxcat "
            f"reads (e.g. {eg}). Give them a format column with a reader name (zarr, "
            "netcdf, tiff, ...; CLI: --map COL=format) to register them as datasets, or "
            "scan them (`voxcat scan`) to find what they hold; "
            "open_catalog(index, files=True) or `voxcat search --files` lists them"
        )
    for protocol, n in protocols.items():
        package = missing_package(protocol)
        if package is not None:
            out.append(
                f"{n} row(s) are remote datasets ({protocol}://), recorded and searchable; "
                f"reading them needs {package}, which is not installed (pip install {package})"
            )
    return out


def _update(out: DatasetWriter) -> None:
    """Known datasets: user fields and metadata from the table; the table's technical
    fields only where no scan described the dataset yet."""
    con = out.con
    lists = ("shape", "channels")  # DuckDB rewrites list cells slowly: only changed ones
    sets = out.user_field_updates("i", "d")
    sets += [
        f"{f} = if(d.status = 'registered', coalesce(i.{f}, d.{f}), d.{f})"
        for f in TECHNICAL
        if f not in lists
    ]
    con.execute(
        f"""UPDATE datasets d SET {", ".join(sets)},
            meta = json_merge_patch(coalesce(d.meta, '{{}}'), i.meta)
        FROM _imp i WHERE d.id = i.old_id"""
    )
    for f in lists:
        con.execute(
            f"UPDATE datasets d SET {f} = i.{f} FROM _imp i WHERE d.id = i.old_id "
            f"AND d.status = 'registered' AND i.{f} IS NOT NULL AND i.{f} IS DISTINCT FROM d.{f}"
        )
    out.merge_user_set("_imp")


def _insert_metadata(
    con: duckdb.DuckDBPyConnection, extras: list[tuple[str, str]], label: str
) -> None:
    """Extra columns as flattened ``metadata`` rows, like :func:`~catalog.index.store.flatten`."""
    parts = [f"SELECT id, 'voxcat.imported_from', {lit(label)}, NULL::DOUBLE FROM _imp"]
    for k, (col, ctype) in enumerate(extras):
        x, source = f"_x{k}", "_imp"
        if ctype.endswith("[]"):  # one row per item, so an item is found by equality
            ctype = ctype[:-2]
            source = f"(SELECT id, unnest({x}) AS {x} FROM _imp WHERE {x} IS NOT NULL)"
        num = f"CAST({x} AS DOUBLE)" if numeric(ctype) else "NULL"
        parts.append(
            f"SELECT id, {lit(col)}, left(CAST({x} AS VARCHAR), 2000), {num} FROM {source} "
            f"WHERE {x} IS NOT NULL"
        )
    con.execute("INSERT INTO metadata " + " UNION ALL ".join(parts))


def _progress(progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=4, desc="importing", unit="step", dynamic_ncols=True)


def _step(bar: Any, text: str) -> None:
    if bar is not None:
        bar.update(1)
        bar.set_postfix_str(text)
