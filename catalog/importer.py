"""Importing existing tabular catalogues (CSV, TSV, Parquet, DataFrames) into the index.

Each row becomes one dataset with status ``registered``: known from a table, not yet
verified by a scan. Columns map to dataset fields by name (case-insensitive, with
synonyms such as ``filepath`` or ``uri`` for ``path``); every other column is kept in
the dataset's ``meta`` and in the ``metadata`` table, so search reaches it. A path
already in the index keeps its id and scanned fields; the table adds user fields,
tags and metadata. A later scan of an imported file fills in what the file says and
keeps the id, the user fields and the tags.

The table is read and normalised by DuckDB in memory first; the index is locked only
for the single transaction that writes the result.

>>> report = import_table("old_catalogue.csv", index="lab.duckdb")    # doctest: +SKIP
>>> report.added, report.skipped                                       # doctest: +SKIP
(1830, 1)
"""

from __future__ import annotations

import dataclasses
import mimetypes
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa

from .errors import ImportTableError
from .index import resolve_index, transaction
from .index.search_text import refresh_search_text
from .index.store import ID_LENGTH, USER_FIELDS, append_audit, current_user, make_id, now
from .paths import display, to_db
from .units import parse_length

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: field: the column names (lower case, ``_`` for spaces) it is found under, preferred first
_SYNONYMS = """
path: path filepath file_path file filename file_name uri url location zstore
name: name title dataset_name
format: format file_format
modality: modality
shape: shape
dtype: dtype data_type datatype pixel_type
axes: axes
voxel_size: voxel_size voxelsize voxel pixel_size pixelsize
voxel_size_x: voxel_size_x
voxel_size_y: voxel_size_y
voxel_size_z: voxel_size_z
size: size bytes size_bytes file_size filesize
acquired: acquired acquisition_date acquired_at date datetime
instrument: instrument microscope scanner
sample: sample sample_id specimen
project: project
data_level: data_level level datalevel
description: description comment comments
access: access
channels: channels channel_names
tags: tags tag keywords
"""
SYNONYMS: dict[str, tuple[str, ...]] = {
    k.strip(): tuple(v.split())
    for k, _, v in (s.partition(":") for s in _SYNONYMS.split("\n") if s)
}
FIELDS = tuple(SYNONYMS)
_LENGTHS = ("voxel_size", "voxel_size_x", "voxel_size_y", "voxel_size_z")
_TEXTS = ("name", "format", "modality", "dtype", "axes", "instrument", *USER_FIELDS)
_LISTS = {"shape": "BIGINT[]", "channels": "VARCHAR[]", "tags": "VARCHAR[]"}
_TYPES = {"size": "BIGINT", "acquired": "TIMESTAMP", **_LISTS, **dict.fromkeys(_LENGTHS, "DOUBLE")}
#: fields a re-import may change on a dataset no scan has described yet
_TECHNICAL = (
    "name",
    "format",
    "dtype",
    "axes",
    "instrument",
    "shape",
    *_LENGTHS,
    "size",
    "acquired",
    "channels",
)
_SHAPE_RE = r"^\s*[\[\(]?\s*\d+(\s*[x×X,*]\s*\d+)*\s*,?\s*[\]\)]?\s*$"
_DATE_FORMATS = "%Y:%m:%d %H:%M:%S|%Y/%m/%d %H:%M:%S|%Y/%m/%d|%d.%m.%Y %H:%M:%S|%d.%m.%Y|%Y%m%d"
_BYTES = {"": 1, "b": 1, "bytes": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_BYTES.update({u + b: 10 ** (3 * i) for i, u in enumerate("kmgtp", 1) for b in ("", "b")})
_CAUSES = {
    "shape": "not a shape like '512x512x100' or '[100, 512, 512]'",
    "acquired": "not a date; use ISO 8601 like '2024-03-05 14:30'",
}
_ROW = "__voxcat_row"
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

    def __str__(self) -> str:
        lines = [
            f"Imported {self.table} into {self.index} in {self.seconds:.1f} s: "
            f"added {self.added}, updated {self.updated}, skipped {self.skipped}"
        ]
        lines += [f"  {e}" for e in self.errors[:20]]
        if len(self.errors) > 20:
            lines.append(f"  ... and {len(self.errors) - 20} more messages")
        return "\n".join(lines)


def parse_size(text: str) -> int:
    """Bytes from ``"1200"``, ``"1.2 GB"`` (decimal) or ``"2 GiB"`` (binary).

    >>> parse_size("1.5 kB")
    1500
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m[2].lower() not in _BYTES:
        raise ValueError("not a size; use bytes or e.g. '1.2 GB', '2 GiB'")
    return round(float(m[1]) * _BYTES[m[2].lower()])


def _length(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = parse_length(text)
    else:
        if value >= 0.01:
            raise ValueError(
                "a number without unit is metres, and 1 cm is implausible; "
                "give the unit, e.g. '6.5 um'"
            )
    if not value > 0:
        raise ValueError("not a positive length")
    return value


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _norm(name: str) -> str:
    return re.sub(r"[\s.\-]+", "_", name.strip().lower())


def _arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    rel = con.sql(sql)
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


# -- reading -------------------------------------------------------------------------


def _read(mem: duckdb.DuckDBPyConnection, table: Any, label: str, sep: str | None) -> None:
    """Load the table into the in-memory table ``src`` (column order and row order kept)."""
    if not isinstance(table, str | os.PathLike):
        mem.register("_frame", _plain_frame(table, label))
        return _numbered(mem, "SELECT * FROM _frame")
    path = Path(table).expanduser()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ImportTableError(f"{label}: the table {what}; give a CSV, TSV or Parquet file")
    try:
        with open(path, "rb") as fh:
            parquet = fh.read(4) == b"PAR1"
    except OSError as exc:
        raise ImportTableError(f"{label}: cannot read the table: {exc.strerror}") from None
    if parquet:
        attempts = [("read_parquet", "")]
    else:
        delim = sep or ("\t" if re.search(r"\.(tsv|tab)(\.gz)?$", path.name.lower()) else None)
        base = "header = true" + (f", delim = {_lit(delim)}" if delim else "")
        attempts = [
            ("read_csv", base),
            ("read_csv", base + ", sample_size = -1"),
            ("read_csv", base + ", sample_size = -1, encoding = 'latin-1'"),
        ]
    cause = ""
    for func, opts in attempts:
        try:
            return _numbered(
                mem, f"SELECT * FROM {func}({_lit(str(path))}{', ' if opts else ''}{opts})"
            )
        except duckdb.Error as exc:
            cause = cause or str(exc).splitlines()[0]
    kind = "Parquet" if parquet else "CSV"
    raise ImportTableError(
        f"{label}: cannot read the table as {kind}: {cause}; "
        "check the file, or pass sep= for an unusual separator"
    )


def _numbered(mem: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Table ``src``: the rows of ``sql`` in order, numbered from 1 in column ``_ROW``."""
    data = _arrow(mem, sql)
    data = data.append_column(_ROW, pa.array(range(1, data.num_rows + 1), pa.int64()))
    mem.register("_numbered", data)
    mem.execute("CREATE TABLE src AS SELECT * FROM _numbered")
    mem.unregister("_numbered")


def _plain_frame(frame: Any, label: str) -> pd.DataFrame:
    """A copy of a DataFrame DuckDB can scan: string column names, paths as text."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ImportTableError(
            f"{label}: expected a file path or a pandas DataFrame, got {type(frame).__name__}"
        )
    frame = frame.rename(columns=str)
    for col in frame.columns:
        first = frame[col].dropna().head(1)
        if (
            frame[col].dtype == object
            and len(first)
            and (
                isinstance(first.iloc[0], os.PathLike | tuple) or hasattr(first.iloc[0], "tolist")
            )
        ):
            frame[col] = frame[col].map(_plain_value)
    return frame


def _plain_value(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple):
        return list(value)
    return value.tolist() if hasattr(value, "tolist") else value


# -- mapping -------------------------------------------------------------------------


def _match(
    columns: list[str], mapping: Mapping[str, str | None], label: str
) -> tuple[dict[str, str], list[str]]:
    """``{field: column}`` and the extra columns (kept as metadata)."""
    fields: dict[str, str] = {}
    explicit: set[str] = set()
    for key, field in mapping.items():
        col = key if key in columns else next((c for c in columns if _norm(c) == _norm(key)), None)
        if col is None:
            raise ImportTableError(
                f"{label}: mapping names a column the table does not have: "
                f"{key!r}; its columns are {', '.join(map(repr, columns))}"
            )
        if field is not None and field not in FIELDS:
            raise ImportTableError(
                f"{label}: mapping {key!r} to unknown field {field!r}; "
                f"fields are {', '.join(FIELDS)} (or None to drop it)"
            )
        if field is not None and field in fields:
            raise ImportTableError(
                f"{label}: mapping gives field {field!r} two columns, "
                f"{fields[field]!r} and {col!r}; map one to None"
            )
        explicit.add(col)
        if field is not None:
            fields[field] = col
    free = {_norm(c): c for c in reversed(columns) if c not in explicit}
    for field, names in SYNONYMS.items():
        if field not in fields:
            col = next((free[n] for n in names if n in free), None)
            if col is not None and col not in fields.values():
                fields[field] = col
    if "path" not in fields:
        raise ImportTableError(
            f"{label}: no path column (looked for {', '.join(SYNONYMS['path'])}; "
            f"the table has {', '.join(map(repr, columns))}); name it with "
            "mapping={'your column': 'path'} (CLI: --map 'your column=path')"
        )
    extra = [c for c in columns if c not in fields.values() and c not in explicit]
    return fields, extra


# -- paths and ids -------------------------------------------------------------------


def _resolve(text: str, base: str) -> str:
    if text.startswith("file://"):
        text = unquote(urlparse(text).path)
    elif "://" in text:  # object stores and web addresses are kept as given
        return text.rstrip("/") or text
    return os.path.normpath(os.path.join(base, os.path.expanduser(text)))


def _paths(raw: list[str | None], base: str, label: str, col: str) -> tuple[pa.Table, list[str]]:
    """Resolved, de-duplicated db paths with new ids; one message per skipped row."""
    rows: list[int] = []
    paths: list[str] = []
    ids: list[str] = []
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
                ident, length = make_id(db, None), ID_LENGTH
                while ident in taken:
                    length += 4
                    ident = make_id(db, None, length)
                taken.add(ident)
                rows.append(n)
                paths.append(db)
                ids.append(ident)
                continue
            problem = f"the same path as row {first} ({display(db)})"
        errors.append(f"{label}, row {n}: {problem}; row skipped")
    table = pa.table({_ROW: pa.array(rows, pa.int64()), "path": paths, "id": ids})
    return table, errors


# -- normalising fields --------------------------------------------------------------


def _numeric(ctype: str) -> bool:
    return ctype.split("(")[0] in (
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "FLOAT",
        "DOUBLE",
        "DECIMAL",
    )


def _field_sql(
    mem: duckdb.DuckDBPyConnection, field: str, col: str, ctype: str, tags_sep: str | None
) -> tuple[str, str]:
    """SQL for one field from column ``col`` of ``s``, and a join it needs (or "")."""
    q = f"s.{_q(col)}"
    text = f"nullif(trim(CAST({q} AS VARCHAR)), '')"
    is_list = ctype.endswith("]")
    if field in ("axes", "data_level"):
        return f"lower({text})", ""
    if field in _TEXTS:
        return text, ""
    if field == "shape":
        if is_list:
            return f"CAST({q} AS BIGINT[])", ""
        return (
            f"CASE WHEN regexp_full_match({text}, {_lit(_SHAPE_RE)}) THEN "
            f"CAST(regexp_extract_all({text}, '\\d+') AS BIGINT[]) END"
        ), ""
    if field in ("channels", "tags"):
        if is_list:
            items = f"CAST({q} AS VARCHAR[])"
        elif field == "tags" and tags_sep:
            items = f"string_split({text}, {_lit(tags_sep)})"
        elif field == "tags":
            items = f"[{text}]"
        else:
            items = (
                f"regexp_split_to_array(regexp_replace({text}, '[\\[\\]\"'']', '', 'g'), '[,;|]')"
            )
        return f"nullif([trim(e) for e in {items} if trim(e) <> ''], [])", ""
    if field == "acquired":
        if ctype.startswith(("TIMESTAMP", "DATE")):
            return f"CAST({q} AS TIMESTAMP)", ""
        formats = "[" + ", ".join(map(_lit, _DATE_FORMATS.split("|"))) + "]"
        return f"coalesce(try_cast({text} AS TIMESTAMP), try_strptime({text}, {formats}))", ""
    # lengths and sizes: numbers in SQL, spellings with units parsed once per distinct value
    num = q if _numeric(ctype) else f"try_cast({text} AS DOUBLE)"
    if field == "size":
        number = f"CASE WHEN {num} >= 0 THEN CAST(round({num}) AS BIGINT) END"
    else:
        number = f"CASE WHEN {num} > 0 AND {num} < 0.01 THEN {num} END"
    if _numeric(ctype):
        return number, ""
    parse = parse_size if field == "size" else _length
    values = [
        v
        for (v,) in mem.execute(
            f"SELECT DISTINCT {text} FROM src s WHERE {text} IS NOT "
            f"NULL AND try_cast({text} AS DOUBLE) IS NULL"
        ).fetchall()
    ]
    parsed = []
    for v in values:
        try:
            parsed.append(parse(v))
        except (ValueError, OverflowError):
            parsed.append(None)
    mem.register(f"_lk_{field}", pa.table({"raw": values, "val": pa.array(parsed, pa.float64())}))
    mem.execute(f"CREATE TABLE lk_{field} AS SELECT * FROM _lk_{field}")
    value = f"CAST(lk_{field}.val AS {_TYPES[field]})"
    return (
        f"CASE WHEN {num} IS NOT NULL THEN {number} ELSE {value} END",
        f"LEFT JOIN lk_{field} ON lk_{field}.raw = {text}",
    )


def _cause(field: str, raw: str) -> str:
    if field in _CAUSES:
        return _CAUSES[field]
    try:
        (parse_size if field == "size" else _length)(raw)
    except (ValueError, OverflowError) as exc:
        return str(exc)
    return "not understood"


def _prepare(
    mem: duckdb.DuckDBPyConnection,
    fields: dict[str, str],
    extra: list[str],
    types: dict[str, str],
    label: str,
    tags_sep: str | None,
) -> list[str]:
    """Tables ``prep`` (one normalised row per dataset) and ``mrows`` (extra columns as
    metadata rows); returns messages about values that could not be understood."""
    selects, joins = [], []
    for field in FIELDS[1:]:
        if field in fields:
            expr, join = _field_sql(mem, field, fields[field], types[fields[field]], tags_sep)
            joins.append(join)
        else:
            expr = f"CAST(NULL AS {_TYPES.get(field, 'VARCHAR')})"
        selects.append(f"{expr} AS {field}")
    meta = f"json_object('voxcat', json_object('imported_from', {_lit(label)}))"
    if extra:
        pairs = ", ".join(f"{_lit(c)}, s.{_q(c)}" for c in extra)
        meta = f"json_merge_patch({meta}, json_object({pairs}))"
    exts = mem.execute("SELECT DISTINCT lower(regexp_extract(path, '\\.(\\w+)$', 1)) FROM _paths")
    exts = [e for (e,) in exts.fetchall()]
    mimes = [mimetypes.guess_type("x." + e)[0] or (f"file/{e}" if e else "file") for e in exts]
    mem.register("_mimes", pa.table({"ext": exts, "mime": mimes}))
    mem.execute(
        f"""CREATE TABLE prep AS
        SELECT t.*, {_reader_sql()} AS reader, m.mime AS guess
        FROM (SELECT p.*, {", ".join(selects)}, {meta} AS meta
              FROM _paths p JOIN src s USING ({_ROW}) {" ".join(joins)}) t
        LEFT JOIN _mimes m ON m.ext = lower(regexp_extract(t.path, '\\.(\\w+)$', 1))"""
    )
    parts = [
        f"SELECT {_ROW}, 'voxcat.imported_from' AS key, {_lit(label)} AS value, "
        "CAST(NULL AS DOUBLE) AS num FROM _paths"
    ]
    for c in extra:
        q, t = f"s.{_q(c)}", types[c]
        value = f"array_to_string({q}, ', ')" if t.endswith("]") else f"CAST({q} AS VARCHAR)"
        num = f"CAST({q} AS DOUBLE)" if _numeric(t) else "NULL"
        parts.append(
            f"SELECT {_ROW}, {_lit(c)}, left({value}, 2000), {num} "
            f"FROM _paths JOIN src s USING ({_ROW}) WHERE {q} IS NOT NULL"
        )
    mem.execute("CREATE TABLE mrows AS " + " UNION ALL ".join(parts))
    messages = []
    for field in ("shape", "size", "acquired", *_LENGTHS):
        if field not in fields:
            continue
        col = fields[field]
        text = f"nullif(trim(CAST(s.{_q(col)} AS VARCHAR)), '')"
        bad = mem.execute(
            f"SELECT p.{_ROW}, {text}, count(*) OVER () FROM prep p JOIN src s USING ({_ROW}) "
            f"WHERE p.{field} IS NULL AND {text} IS NOT NULL ORDER BY 1 LIMIT 3"
        ).fetchall()
        if bad:
            eg = "; ".join(f"row {r}: {v!r} ({_cause(field, v)})" for r, v, _ in bad)
            messages.append(
                f"{label}: column {col!r} ({field}): {bad[0][2]} value(s) not "
                f"understood and left empty, e.g. {eg}"
            )
    return messages


def _reader_sql() -> str:
    """A reader name from the path's suffix (no file is opened), else from ``format``."""
    from .readers import load_readers

    whens, names = [], []
    for reader in load_readers():
        names.append(_lit(reader.name))
        if reader.suffixes:
            cond = " OR ".join(f"ends_with(lower(path), {_lit(s)})" for s in reader.suffixes)
            whens.append(f"WHEN {cond} THEN {_lit(reader.name)}")
    whens.append(f"WHEN lower(format) IN ({', '.join(names)}) THEN lower(format)")
    return "CASE " + " ".join(whens) + " END"


# -- writing -------------------------------------------------------------------------


def _fix_collisions(con: duckdb.DuckDBPyConnection) -> None:
    """Lengthen new ids that another dataset already has (rare: one query per round)."""
    taken: set[str] | None = None
    while True:
        clash = con.execute(
            f"SELECT i.{_ROW}, i.path, i.id FROM _imp i JOIN datasets d "
            "ON d.id = i.id AND d.path <> i.path WHERE i.old_id IS NULL"
        ).fetchall()
        if not clash:
            return
        if taken is None:
            taken = {i for (i,) in con.execute("SELECT id FROM _imp").fetchall()}
        fixes = []
        for row, path, ident in clash:
            length = len(ident)
            while ident in taken:
                length += 4
                ident = make_id(path, None, length)
            taken.add(ident)
            fixes.append((ident, row))
        con.executemany(f"UPDATE _imp SET id = ? WHERE {_ROW} = ?", fixes)


def _write(
    con: duckdb.DuckDBPyConnection, prep: pa.Table, mrows: pa.Table, label: str, root: str
) -> tuple[int, int]:
    """Insert new datasets, update known ones; returns ``(added, updated)``."""
    t, user = now(), current_user()
    con.register("_prep", prep)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _imp AS SELECT i.*, d.id AS old_id, d.status AS old_status "
        "FROM _prep i LEFT JOIN datasets d ON d.path = i.path"
    )
    _fix_collisions(con)
    con.execute("UPDATE _imp SET id = old_id WHERE old_id IS NOT NULL")
    cases = ", ".join(f"CASE WHEN i.{f} IS NOT NULL THEN {_lit(f)} END" for f in USER_FIELDS)
    user_set = f"nullif([f for f in [{cases}] if f IS NOT NULL], [])"
    columns = ", ".join(f"i.{f}" for f in FIELDS[2:] if f not in ("format", "tags", "voxel_size"))
    con.execute(
        f"""INSERT INTO datasets BY NAME
        SELECT i.id, i.path, coalesce(i.name, nullif(regexp_extract(i.path, '[^/]+$'), ''),
               i.path) AS name, ? AS root, if(i.reader IS NULL, 'file', 'image') AS kind,
               coalesce(i.format, i.reader, i.guess) AS format, i.reader, '{{}}' AS options,
               coalesce(i.voxel_size, greatest(i.voxel_size_x, i.voxel_size_y, i.voxel_size_z))
               AS voxel_size, {columns}, i.meta, 'registered' AS status, ? AS first_seen,
               ? AS last_seen, {user_set} AS user_set
        FROM _imp i WHERE i.old_id IS NULL""",
        [root, t, t],
    )
    added, total = con.execute(
        "SELECT count(*) FILTER (old_id IS NULL), count(*) FROM _imp"
    ).fetchall()[0]
    if total > added:
        sets = [f"{f} = coalesce(i.{f}, d.{f})" for f in USER_FIELDS]
        sets += [
            f"{f} = if(d.status = 'registered', coalesce(i.{f}, d.{f}), d.{f})" for f in _TECHNICAL
        ]
        con.execute(
            f"""UPDATE datasets d SET {", ".join(sets)},
                meta = json_merge_patch(coalesce(d.meta, '{{}}'), i.meta),
                user_set = if({user_set} IS NULL, d.user_set,
                    list_sort(list_distinct(list_concat(coalesce(d.user_set, []), {user_set}))))
            FROM _imp i WHERE d.id = i.old_id"""
        )
    con.register("_mrows", mrows)
    if total > added:  # re-imported keys replace their old values
        con.execute(
            f"""DELETE FROM metadata USING (SELECT DISTINCT i.id, m.key FROM _mrows m
                JOIN _imp i USING ({_ROW}) WHERE i.old_id IS NOT NULL) u
            WHERE metadata.dataset_id = u.id AND metadata.key = u.key"""
        )
    con.execute(
        f"INSERT INTO metadata SELECT i.id, m.key, m.value, m.num FROM _mrows m "
        f"JOIN _imp i USING ({_ROW})"
    )
    con.execute(
        "INSERT INTO tags SELECT id, tag, ?, ? FROM (SELECT DISTINCT id, unnest(tags) AS tag "
        "FROM _imp WHERE tags IS NOT NULL) ON CONFLICT DO NOTHING",
        [user, t],
    )
    rows = con.execute(f"SELECT id, {_ROW}, old_id IS NULL FROM _imp ORDER BY {_ROW}").fetchall()
    n_all = con.execute("SELECT count(*) FROM datasets").fetchall()[0][0]
    refresh_search_text(con, None if 2 * total >= n_all else [r[0] for r in rows])
    append_audit(
        con,
        (
            ("import.added" if new else "import.updated", i, {"table": label, "row": n})
            for i, n, new in rows
        ),
        user,
    )
    con.unregister("_prep")
    con.unregister("_mrows")
    con.execute("DROP TABLE _imp")
    return added, total - added


def import_table(
    table: str | os.PathLike[str] | pd.DataFrame,
    index: str | os.PathLike[str] | None = None,
    *,
    mapping: Mapping[str, str | None] | None = None,
    root: str | os.PathLike[str] | None = None,
    sep: str | None = None,
    tags_sep: str | None = ",",
    progress: bool = False,
) -> ImportReport:
    """Register every row of a CSV/TSV/Parquet table (or a DataFrame) as a dataset.

    Columns map to fields by name (see ``SYNONYMS``); ``mapping={"col": "field"}``
    overrides that, ``{"col": None}`` drops a column; other columns become searchable
    metadata. Relative paths are resolved against ``root`` (default: the table's
    folder). New rows get status ``registered``; rows whose path is indexed already
    keep their id and scanned fields. Rows without a path are skipped and reported.
    Everything is written in one transaction. Raises
    :class:`~catalog.errors.ImportTableError` for a table that cannot be used.

    >>> report = import_table("inventory.csv", "lab.duckdb",
    ...                       mapping={"Datei": "path", "Bemerkung": "description"})  # doctest: +SKIP
    >>> print(report)                                                           # doctest: +SKIP
    Imported /data/inventory.csv into lab.duckdb in 0.4 s: added 1830, updated 2, skipped 0
    """
    t0 = time.perf_counter()
    is_file = isinstance(table, str | os.PathLike)
    source = os.path.abspath(os.path.expanduser(table)) if is_file else None
    label = display(source) if source else "DataFrame"
    if root is not None:
        base = os.path.abspath(os.path.expanduser(root))
    else:
        base = os.path.dirname(source) if source else os.getcwd()
    index_path = Path(os.path.abspath(resolve_index(index)))
    bar = _progress(progress)
    mem = duckdb.connect()
    try:
        _read(mem, source or table, label, sep)
        types = {r[0]: r[1] for r in mem.execute("DESCRIBE src").fetchall() if r[0] != _ROW}
        if not mem.execute("SELECT count(*) FROM src").fetchall()[0][0]:
            raise ImportTableError(
                f"{label}: the table is empty (a header but no rows); nothing to import"
            )
        fields, extra = _match(list(types), mapping or {}, label)
        _step(bar, "paths")
        raw = _arrow(mem, f"SELECT CAST({_q(fields['path'])} AS VARCHAR) FROM src ORDER BY {_ROW}")
        paths, errors = _paths(raw.column(0).to_pylist(), base, label, fields["path"])
        skipped = raw.num_rows - paths.num_rows
        mem.register("_paths", paths)
        _step(bar, "fields")
        errors += _prepare(mem, fields, extra, types, label, tags_sep)
        prep, mrows = _arrow(mem, "SELECT * FROM prep"), _arrow(mem, "SELECT * FROM mrows")
    finally:
        mem.close()
    _step(bar, "writing")
    with transaction(index_path) as con:
        added, updated = _write(con, prep, mrows, label, to_db(base))
    _step(bar, "done")
    if bar is not None:
        bar.close()
    if len(errors) > MAX_ROW_ERRORS:
        errors = [*errors[:MAX_ROW_ERRORS], f"... and {len(errors) - MAX_ROW_ERRORS} more"]
    return ImportReport(
        label, display(index_path), added, updated, skipped, errors, time.perf_counter() - t0
    )


def _progress(progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=4, desc="importing", unit="step", dynamic_ncols=True)


def _step(bar: Any, text: str) -> None:
    if bar is not None:
        bar.update(1)
        bar.set_postfix_str(text)
