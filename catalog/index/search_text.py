"""The ``search_text`` column (what free-text search looks in) and the ``tags`` copy.

One lower-cased string per dataset joins its name, path, descriptive fields, every
nested metadata value, its tags and its notes, one per line (so a quoted phrase never
matches across two fields). Writers refresh it for the rows they touch; text search
is then a scan of one column, tens of milliseconds at a million datasets, with no
DuckDB extension needed (``fts`` cannot be installed on air-gapped machines).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

#: Dataset columns whose values text search sees, besides metadata, tags and notes.
TEXT_COLUMNS = (
    "name",
    "path",
    "format",
    "modality",
    "instrument",
    "data_level",
    "sample",
    "project",
    "description",
    "dtype",
    "error",
)

SEPARATOR = "chr(10)"


def _expression(alias: str = "d") -> str:
    cols = ", ".join(f"{alias}.{c}" for c in TEXT_COLUMNS)
    return (
        f"lower(concat_ws({SEPARATOR}, {cols}, array_to_string({alias}.channels, ' '), "
        "m.text, t.text, n.text))"
    )


def refresh_search_text(con: duckdb.DuckDBPyConnection, ids: Sequence[str] | None = None) -> None:
    """Recompute ``search_text`` for ``ids`` (all datasets when ``None``).

    >>> with transaction("lab.duckdb") as con:          # doctest: +SKIP
    ...     refresh_search_text(con, ["k2x9..."])
    """
    where, params = ("", []) if ids is None else ("WHERE dataset_id IN (SELECT unnest(?))", [])
    if ids is not None:
        ids = list(ids)
        if not ids:
            return
        params = [ids, ids, ids, ids]
    con.execute(
        f"""
        UPDATE datasets SET search_text = s.text, tags = s.tags
        FROM (
            SELECT d.id, {_expression()} AS text, coalesce(t.tags, []) AS tags
            FROM datasets d
            LEFT JOIN (SELECT dataset_id, string_agg(value, {SEPARATOR}) AS text
                       FROM metadata {where} GROUP BY dataset_id) m ON m.dataset_id = d.id
            LEFT JOIN (SELECT dataset_id, string_agg(tag, {SEPARATOR}) AS text,
                              list(tag ORDER BY tag) AS tags
                       FROM tags {where} GROUP BY dataset_id) t ON t.dataset_id = d.id
            LEFT JOIN (SELECT dataset_id, string_agg(text, {SEPARATOR}) AS text
                       FROM notes {where} GROUP BY dataset_id) n ON n.dataset_id = d.id
            {"WHERE d.id IN (SELECT unnest(?))" if ids is not None else ""}
        ) s
        WHERE datasets.id = s.id
        """,
        params,
    )
