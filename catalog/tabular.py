"""Reading tabular catalogues with DuckDB and normalising their columns to dataset fields.

The heavy work of :func:`catalog.importer.import_table`: a CSV, TSV or Parquet file (or
a DataFrame) is loaded into an in-memory DuckDB table, its columns are matched to
dataset fields by name, and one SQL statement turns every row into normalised values:
shapes from ``"512x512x100"`` or ``"[100, 512, 512]"``, voxel sizes in metres from
``"6.5 um"``, byte sizes from ``"1.2 GB"``, dates, tag lists. Spellings with units are
parsed in Python once per distinct value, never once per row.

>>> match_columns(["File Path", "Voxel Size", "operator"], {}, "t.csv")
({'path': 'File Path', 'voxel_size': 'Voxel Size'}, ['operator'])
"""

from __future__ import annotations

import ast
import mimetypes
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .errors import ImportTableError
from .formatting import BYTE_UNITS
from .index.columns import COLUMNS
from .units import parse_length

#: field: the column names (lower case, ``_`` for spaces) it is found under, preferred first
_SYNONYMS = """
path: path filepath file_path file filename file_name uri url location zstore
name: name title dataset_name
format: format file_format data_format
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
LENGTHS = ("voxel_size", "voxel_size_x", "voxel_size_y", "voxel_size_z")
#: fields a re-import may change on a dataset no scan has described yet
TECHNICAL: tuple[str, ...] = ("name", "format", "dtype", "axes", "instrument", "shape", *LENGTHS)
TECHNICAL = (*TECHNICAL, "size", "acquired", "channels")
#: intake-esm's format names that are not reader names -> the reader that opens them
FORMAT_READERS = {"zarr2": "zarr", "zarr3": "zarr", "opendap": "netcdf"}
#: the column of ``src`` and ``prep`` that numbers the table's rows from 1
ROW = "__voxcat_row"

#: field -> its DuckDB type (from the column registry): plain text, or typed
_TYPES = {f: COLUMNS[f].base_type for f in FIELDS}
_TEXTS = tuple(f for f in FIELDS[1:] if _TYPES[f] == "VARCHAR")  # path: resolved apart
_TYPES = {f: t for f, t in _TYPES.items() if t != "VARCHAR"}
_LOWER = ("format", "axes", "data_level")
_SHAPE_RE = r"^\s*[\[\(]?\s*\d+(\s*[x×X,*]\s*\d+)*\s*,?\s*[\]\)]?\s*$"
_DATES = "%Y:%m:%d %H:%M:%S|%Y/%m/%d %H:%M:%S|%Y/%m/%d|%d.%m.%Y %H:%M:%S|%d.%m.%Y|%Y%m%d"
_CAUSES = {
    "shape": "not a shape like '512x512x100' or '[100, 512, 512]'",
    "acquired": "not a date; use ISO 8601 like '2024-03-05 14:30'",
}
_NUMERIC = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL"}
_NUMERIC |= {"U" + t for t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")}


def parse_size(text: str) -> int:
    """Bytes from ``"1200"``, ``"1.2 GB"`` (decimal units) or ``"2 GiB"`` (binary).

    >>> parse_size("1.5 kB")
    1500
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    if not m or m[2].lower() not in BYTE_UNITS:
        raise ValueError("not a size; use bytes or e.g. '1.2 GB', '2 GiB'")
    return round(float(m[1]) * BYTE_UNITS[m[2].lower()])


def parse_voxel_size(text: str) -> float:
    """Metres from ``"6.5 um"``, ``"0.65µm"`` or a plain number of metres.

    A plain number of 1 cm or more is refused: it is almost surely in another unit.

    >>> parse_voxel_size("6.5 um")
    6.5e-06
    """
    try:
        value = float(text)
    except ValueError:
        value = parse_length(text)
    else:
        if value >= 0.01:
            raise ValueError(
                "a number without unit is metres, and 1 cm or more is implausible; "
                "give the unit, e.g. '6.5 um'"
            )
    if not value > 0:
        raise ValueError("not a positive length")
    return value


def q(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def to_arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The result of ``sql`` as an Arrow table."""
    rel = con.sql(sql)
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def numeric(ctype: str) -> bool:
    """Whether the DuckDB type name ``ctype`` is a number type."""
    return ctype.split("(")[0] in _NUMERIC


def _norm(name: str) -> str:
    return re.sub(r"[\s.\-]+", "_", name.strip().lower())


# -- reading -------------------------------------------------------------------------


def read_table(mem: duckdb.DuckDBPyConnection, table: Any, label: str, sep: str | None) -> None:
    """Load a file or DataFrame into table ``src`` of ``mem``, rows numbered in ``ROW``."""
    if not isinstance(table, str | os.PathLike):
        mem.register("_frame", _plain_frame(table, label))
        return _numbered(mem, "SELECT * FROM _frame")
    path = Path(table)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ImportTableError(f"{label}: the table {what}; give a CSV, TSV or Parquet file")
    try:
        with open(path, "rb") as fh:
            parquet = fh.read(4) == b"PAR1"
    except OSError as exc:
        raise ImportTableError(f"{label}: cannot read the table: {exc.strerror}") from None
    if parquet:
        attempts = [f"read_parquet({lit(str(path))})"]
    else:
        delim = sep or ("\t" if re.search(r"\.(tsv|tab)(\.gz)?$", path.name.lower()) else None)
        csv = f"read_csv({lit(str(path))}, header = true" + (
            f", delim = {lit(delim)}" if delim else ""
        )
        more = ", sample_size = -1"  # on a type the sniffed sample missed
        attempts = [csv + ")", csv + more + ")", csv + more + ", encoding = 'latin-1')"]
    cause = ""
    for func in attempts:
        try:
            return _numbered(mem, f"SELECT * FROM {func}")
        except duckdb.Error as exc:
            cause = cause or str(exc).strip().splitlines()[0]
    raise ImportTableError(
        f"{label}: cannot read the table as {'Parquet' if parquet else 'CSV'}: {cause}; "
        "check the file" + ("" if parquet else ", or pass sep= for an unusual separator")
    )


def _numbered(mem: duckdb.DuckDBPyConnection, sql: str) -> None:
    data = to_arrow(mem, sql)
    data = data.append_column(ROW, pa.array(range(1, data.num_rows + 1), pa.int64()))
    mem.register("_numbered", data)
    mem.execute("CREATE OR REPLACE TABLE src AS SELECT * FROM _numbered")
    mem.unregister("_numbered")


def _plain_frame(frame: Any, label: str) -> Any:
    """A copy of a DataFrame DuckDB can scan: text column names, paths as text, lists."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ImportTableError(
            f"{label}: expected a file path or a pandas DataFrame, got {type(frame).__name__}"
        )
    frame = frame.rename(columns=str)
    for col in frame.columns:
        first = frame[col].dropna().head(1).tolist() if frame[col].dtype == object else []
        kinds = os.PathLike | tuple | set | frozenset
        if first and (isinstance(first[0], kinds) or hasattr(first[0], "tolist")):
            frame[col] = frame[col].map(_plain_value)
    return frame


def _plain_value(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return value.tolist() if hasattr(value, "tolist") else value


# -- list-valued columns ------------------------------------------------------------

#: a cell that may hold a Python list, tuple or set literal (intake-esm's convention)
_LITERAL_RE = r"^\s*(\[.*\]|\(.*\)|\{.*\})\s*$"


def parse_iterables(
    mem: duckdb.DuckDBPyConnection, columns: Sequence[str], explicit: Sequence[str]
) -> list[str]:
    """Turn text columns of ``src`` holding list literals into ``VARCHAR[]`` columns.

    intake-esm writes list-valued cells as Python literals (``"['TLON', 'TLAT']"``, also
    tuples and sets). A column named in ``explicit`` (intake-esm's
    ``columns_with_iterables``) is always parsed, a cell that is no literal becoming a
    one-item list; any other column of ``columns`` is parsed only when every non-empty
    cell is such a literal. Returns the columns converted.

    >>> _literal_items("{'TLAT', 'TLON', ''}")
    ['TLAT', 'TLON']
    """
    types = {r[0]: r[1] for r in mem.execute("DESCRIBE src").fetchall()}
    done = []
    for col in dict.fromkeys([*explicit, *columns]):
        if types.get(col) != "VARCHAR":
            continue
        text = f"nullif(trim({q(col)}), '')"
        if col not in explicit:
            n_lit, n_other = mem.execute(
                f"SELECT count(*) FILTER (regexp_full_match({text}, {lit(_LITERAL_RE)})), "
                f"count(*) FILTER (NOT regexp_full_match({text}, {lit(_LITERAL_RE)})) FROM src"
            ).fetchall()[0]
            if n_other or not n_lit:
                continue
        sql = f"SELECT DISTINCT {text} FROM src WHERE {text} IS NOT NULL"
        raw = [v for (v,) in mem.execute(sql).fetchall()]
        parsed = [_literal_items(v) for v in raw]
        if col not in explicit and any(p is None for p in parsed):
            continue
        items = [[v] if p is None else (p or None) for v, p in zip(raw, parsed, strict=True)]
        lookup = pa.table({"raw": raw, "val": pa.array(items, pa.list_(pa.string()))})
        mem.register("_lk_list", lookup)
        mem.execute(
            f"CREATE OR REPLACE TABLE src AS SELECT s.* REPLACE (k.val AS {q(col)}) "
            f"FROM src s LEFT JOIN _lk_list k ON k.raw = nullif(trim(s.{q(col)}), '')"
        )
        mem.unregister("_lk_list")
        done.append(col)
    return done


def _literal_items(text: str) -> list[str] | None:
    """The items of a list, tuple or set literal of plain values as text (sets sorted,
    empty items dropped); ``None`` for anything else."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(value, list | tuple | set | frozenset):
        return None
    if not all(isinstance(v, str | int | float | bool) or v is None for v in value):
        return None
    items = [str(v) for v in value if v is not None and str(v).strip()]
    return sorted(set(items)) if isinstance(value, set | frozenset) else items


# -- mapping -------------------------------------------------------------------------


def match_columns(
    columns: list[str], mapping: Mapping[str, str | None], label: str
) -> tuple[dict[str, str], list[str]]:
    """``{field: column}`` from ``mapping`` and the synonyms, and the other columns.

    >>> match_columns(["Datei", "tags", "x"], {"Datei": "path", "x": None}, "t.csv")
    ({'path': 'Datei', 'tags': 'tags'}, [])
    """
    fields: dict[str, str] = {}
    explicit: set[str] = set()
    for key, field in mapping.items():
        col = key if key in columns else next((c for c in columns if _norm(c) == _norm(key)), None)
        if col is None:
            raise ImportTableError(
                f"{label}: mapping names a column the table does not have: {key!r}; "
                f"its columns are {', '.join(map(repr, columns))}"
            )
        field = field.lower() if isinstance(field, str) else field
        if field is not None and field not in FIELDS:
            raise ImportTableError(
                f"{label}: mapping {key!r} to unknown field {field!r}; "
                f"fields are {', '.join(FIELDS)} (or None to drop the column)"
            )
        if field is not None and field in fields:
            raise ImportTableError(
                f"{label}: mapping gives field {field!r} two columns, {fields[field]!r} and "
                f"{col!r}; map one of them to None"
            )
        explicit.add(col)
        if field is not None:
            fields[field] = col
    free = {_norm(c): c for c in reversed(columns) if c not in explicit}
    for field, names in SYNONYMS.items():
        col = next((free[n] for n in names if n in free), None)
        if field not in fields and col is not None and col not in fields.values():
            fields[field] = col
    if "path" not in fields:
        raise ImportTableError(
            f"{label}: no path column (looked for {', '.join(SYNONYMS['path'])}; the table "
            f"has {', '.join(map(repr, columns))}); name it with "
            "mapping={'your column': 'path'} (CLI: --map 'your column=path')"
        )
    extra = [c for c in columns if c not in fields.values() and c not in explicit]
    return fields, extra


# -- normalising ---------------------------------------------------------------------


def prepare(
    mem: duckdb.DuckDBPyConnection,
    fields: dict[str, str],
    extra: list[str],
    label: str,
    tags_sep: str | None,
    default_format: str | None = None,
) -> list[str]:
    """Table ``prep``: per row of ``_paths`` (``ROW``, ``path``, ``id``, ``store``) every
    field normalised, ``reader`` and ``guess`` (the format from the suffix), ``meta``
    JSON and the extra columns as ``_x0, _x1...``; ``default_format`` fills an empty
    format (an ESM collection's ``assets.format``). Returns messages about values not
    understood.
    """
    types = {r[0]: r[1] for r in mem.execute("DESCRIBE src").fetchall()}
    selects, joins = [], []
    for field in FIELDS[1:]:
        expr, join = f"CAST(NULL AS {_TYPES.get(field, 'VARCHAR')})", ""
        if field in fields:
            expr, join = _field_sql(mem, field, fields[field], types[fields[field]], tags_sep)
        if field == "format" and default_format:
            expr = f"coalesce({expr}, {lit(default_format.strip().lower())})"
        selects.append(f"{expr} AS {field}")
        joins.append(join)
    selects += [f"s.{q(c)} AS _x{i}" for i, c in enumerate(extra)]
    meta = f"json_object('voxcat', json_object('imported_from', {lit(label)}))"
    if extra:
        pairs = ", ".join(f"{lit(c)}, s.{q(c)}" for c in extra)
        meta = f"json_merge_patch({meta}, json_object({pairs}))"
    ext = r"lower(regexp_extract(path, '\.(\w+)$', 1))"
    exts = [e for (e,) in mem.execute(f"SELECT DISTINCT {ext} FROM _paths").fetchall()]
    mimes = [mimetypes.guess_type("x." + e)[0] or (f"file/{e}" if e else "file") for e in exts]
    mem.register("_mimes", pa.table({"ext": exts, "mime": mimes}))
    mem.execute(
        f"""CREATE TABLE prep AS SELECT t.*, {_reader_sql()} AS reader, m.mime AS guess
        FROM (SELECT p.*, {", ".join(selects)}, {meta} AS meta
              FROM _paths p JOIN src s USING ({ROW}) {" ".join(joins)}) t
        LEFT JOIN _mimes m ON m.ext = {ext.replace("path", "t.path")}"""
    )
    messages = []
    for field in ("shape", "size", "acquired", *LENGTHS):
        if field not in fields:
            continue
        text = f"nullif(trim(CAST(s.{q(fields[field])} AS VARCHAR)), '')"
        bad = mem.execute(
            f"SELECT p.{ROW}, {text}, count(*) OVER () FROM prep p JOIN src s USING ({ROW}) "
            f"WHERE p.{field} IS NULL AND {text} IS NOT NULL ORDER BY 1 LIMIT 3"
        ).fetchall()
        if bad:
            eg = "; ".join(f"row {r}: {v!r} ({_cause(field, v)})" for r, v, _ in bad)
            messages.append(
                f"{label}: column {fields[field]!r} ({field}): {bad[0][2]} value(s) not "
                f"understood and left empty, e.g. {eg}"
            )
    return messages


def _field_sql(
    mem: duckdb.DuckDBPyConnection, field: str, col: str, ctype: str, tags_sep: str | None
) -> tuple[str, str]:
    """SQL for one field from column ``col`` of ``s``, and a join it needs (or "")."""
    qc = f"s.{q(col)}"
    text = f"nullif(trim(CAST({qc} AS VARCHAR)), '')"
    is_list = ctype.endswith("]")
    if field in _TEXTS:
        return (f"lower({text})" if field in _LOWER else text), ""
    if field == "shape":
        if is_list:
            return f"CAST({qc} AS BIGINT[])", ""
        digits = f"CAST(regexp_extract_all({text}, '\\d+') AS BIGINT[])"
        return f"CASE WHEN regexp_full_match({text}, {lit(_SHAPE_RE)}) THEN {digits} END", ""
    if field in ("channels", "tags"):
        if is_list:
            items = f"CAST({qc} AS VARCHAR[])"
        elif field == "tags":
            items = f"string_split({text}, {lit(tags_sep)})" if tags_sep else f"[{text}]"
        else:
            bare = f"regexp_replace({text}, '[\\[\\]\"'']', '', 'g')"
            items = f"regexp_split_to_array({bare}, '[,;|]')"
        return f"nullif([trim(e) for e in {items} if trim(e) <> ''], [])", ""
    if field == "acquired":
        if ctype.startswith(("TIMESTAMP", "DATE")):
            return f"CAST({qc} AS TIMESTAMP)", ""
        formats = "[" + ", ".join(map(lit, _DATES.split("|"))) + "]"
        return f"coalesce(try_cast({text} AS TIMESTAMP), try_strptime({text}, {formats}))", ""
    # lengths and sizes: numbers in SQL, spellings with units parsed once per distinct value
    num = qc if numeric(ctype) else f"try_cast({text} AS DOUBLE)"
    if field == "size":
        number = f"CASE WHEN {num} >= 0 THEN CAST(round({num}) AS BIGINT) END"
    else:
        number = f"CASE WHEN {num} > 0 AND {num} < 0.01 THEN {num} END"
    if numeric(ctype):
        return number, ""
    parse = parse_size if field == "size" else parse_voxel_size
    values = mem.execute(
        f"SELECT DISTINCT {text} FROM src s WHERE {text} IS NOT NULL "
        f"AND try_cast({text} AS DOUBLE) IS NULL"
    ).fetchall()
    raw = [v for (v,) in values]
    parsed: list[float | None] = []
    for v in raw:
        try:
            parsed.append(parse(v))
        except (ValueError, OverflowError):
            parsed.append(None)
    mem.register(f"_lk_{field}", pa.table({"raw": raw, "val": pa.array(parsed, pa.float64())}))
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
        (parse_size if field == "size" else parse_voxel_size)(raw)
    except (ValueError, OverflowError) as exc:
        return str(exc)
    return "not understood"


def _reader_sql() -> str:
    """A reader name from the path's suffix (no file is opened), else from ``format``
    (intake-esm's ``zarr2``/``zarr3``/``opendap`` too), else ``zarr`` for a store
    (``_paths.store``: a ``zstore`` column, a path ending in ``/``, a remote URL)."""
    from .readers import load_readers

    whens, names = [], []
    for reader in load_readers():
        names.append(lit(reader.name))
        if reader.suffixes:
            cond = " OR ".join(f"ends_with(lower(path), {lit(s)})" for s in reader.suffixes)
            whens.append(f"WHEN {cond} THEN {lit(reader.name)}")
    whens.append(f"WHEN format IN ({', '.join(names)}) THEN format")
    whens += [f"WHEN format = {lit(k)} THEN {lit(v)}" for k, v in FORMAT_READERS.items()]
    whens.append("WHEN format IS NULL AND store THEN 'zarr'")
    return "CASE " + " ".join(whens) + " END"
