"""ESM collection specs: the JSON file intake-esm opens, pointing at a CSV of assets.

:func:`catalog.importer.import_table` accepts such a spec in place of its table. The
spec names the table (``catalog_file``, relative to the spec, or the rows inline in
``catalog_dict``), the column holding each asset's path (``assets.column_name``) and
its format (``assets.format`` for all rows, or ``assets.format_column_name``).
``columns_with_iterables``, which intake-esm takes as an argument, may be in the spec
too; list literals are also recognised without it.

>>> spec = read_collection(Path("pangeo-cmip6.json"), "pangeo-cmip6.json")  # doctest: +SKIP
>>> spec.path_column, spec.format                                          # doctest: +SKIP
('zstore', 'zarr')
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ImportTableError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_WHAT = (
    "an ESM collection spec is a JSON object with 'esmcat_version', 'assets' "
    "({'column_name': ..., 'format': ...}) and 'catalog_file' or 'catalog_dict'"
)


@dataclasses.dataclass(frozen=True)
class EsmCollection:
    """What :func:`read_collection` found in a spec."""

    table: str | pd.DataFrame  # the catalog_file's absolute path, or the inline rows
    path_column: str
    format: str | None = None
    format_column: str | None = None
    iterables: tuple[str, ...] = ()
    folder: str = ""  # the spec's folder: relative asset paths are under it


def looks_like_json(path: Path) -> bool:
    """Whether a table file is JSON (by suffix, or a first character ``{``)."""
    if path.name.lower().endswith(".json"):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    return head.startswith(b"{")


def read_collection(path: Path, label: str) -> EsmCollection:
    """The table and column roles an ESM collection spec names; a JSON file that is not
    one raises :class:`~catalog.errors.ImportTableError` saying so."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportTableError(
            f"{label}: not valid JSON ({exc}); import-table reads CSV, TSV, Parquet or an "
            "intake-esm collection spec (JSON)"
        ) from None
    except OSError as exc:
        raise ImportTableError(f"{label}: cannot read the spec: {exc.strerror}") from None
    assets = data.get("assets") if isinstance(data, dict) else None
    if not isinstance(data, dict) or "esmcat_version" not in data or not isinstance(assets, dict):
        raise ImportTableError(
            f"{label}: a JSON file that is not an ESM collection spec, so there is nothing "
            f"to import; {_WHAT}. Give that spec, or the CSV/Parquet table itself"
        )
    column = assets.get("column_name")
    if not isinstance(column, str) or not column:
        raise ImportTableError(f"{label}: 'assets' names no 'column_name' (the path column)")
    fmt, fmt_col = assets.get("format"), assets.get("format_column_name")
    if fmt and fmt_col:
        raise ImportTableError(
            f"{label}: 'assets' sets both 'format' and 'format_column_name'; keep one"
        )
    iterables = data.get("columns_with_iterables") or []
    if not isinstance(iterables, list) or not all(isinstance(c, str) for c in iterables):
        raise ImportTableError(f"{label}: 'columns_with_iterables' must be a list of column names")
    folder = str(path.parent)
    return EsmCollection(
        table=_table(data, path, label),
        path_column=column,
        format=fmt or None,
        format_column=fmt_col or None,
        iterables=tuple(iterables),
        folder=folder,
    )


def _table(data: dict[str, Any], spec: Path, label: str) -> str | pd.DataFrame:
    file, rows = data.get("catalog_file"), data.get("catalog_dict")
    if file is not None and rows is not None:
        raise ImportTableError(f"{label}: sets both 'catalog_file' and 'catalog_dict'; keep one")
    if rows is not None:
        import pandas as pd

        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ImportTableError(f"{label}: 'catalog_dict' must be a list of row objects")
        if not rows:
            raise ImportTableError(f"{label}: 'catalog_dict' has no rows; nothing to import")
        return pd.DataFrame.from_records(rows)
    if not isinstance(file, str) or not file:
        raise ImportTableError(f"{label}: names no table ('catalog_file' or 'catalog_dict')")
    remote = "://" in file and not file.startswith("file://")
    name = file.removeprefix("file://")
    candidates = [spec.parent / Path(name).name] if remote else []
    if not remote:
        given = Path(os.path.expanduser(name))
        candidates = [given] if given.is_absolute() else [spec.parent / given, Path.cwd() / given]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate.resolve())
    if remote:
        raise ImportTableError(
            f"{label}: its table is remote ({file}) and voxcat reads only local tables; "
            f"download it next to the spec as {Path(name).name} and import again"
        )
    raise ImportTableError(
        f"{label}: its table {file!r} does not exist (looked in "
        f"{' and '.join(str(c.parent) for c in candidates)})"
    )
