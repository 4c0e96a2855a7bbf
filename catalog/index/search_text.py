"""What free-text search looks in: ``search_text``, the ``terms`` index, ``tags`` copy.

``datasets.search_text`` joins a dataset's name, path, descriptive fields, every
nested metadata value, its tags and its notes, lower-cased, one per line (so a quoted
phrase never matches across two fields). The ``terms`` table holds its words
(``token``, ``num``: the dataset's integer row key), kept sorted by token when rebuilt, so a word lookup reads
only the few row groups whose token range can hold it: tens of milliseconds at a
million datasets with no DuckDB extension (``fts`` cannot be installed on air-gapped
machines). Writers refresh all three for the rows they touch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import duckdb

from . import columns

#: Dataset columns whose values text search sees, besides metadata, tags and notes.
TEXT_COLUMNS = columns.names("text")

SEPARATOR = "chr(10)"
#: a word is a run of letters and digits (RE2 syntax, used inside DuckDB)
WORD_SPLIT_SQL = r"'[^\pL\pN]+'"
_WORD_SPLIT = re.compile(r"[\W_]+")
#: above this many rows touched at once, rebuild the sorted terms table instead
REBUILD_ABOVE = 50_000


def words(text: str) -> list[str]:
    """The words of ``text`` as the terms index stores them.

    >>> words("Sandstone_01 /lab/2024")
    ['sandstone', '01', 'lab', '2024']
    """
    return [w for w in _WORD_SPLIT.split(text.lower()) if w]


def _expression(alias: str = "d") -> str:
    cols = ", ".join(f"{alias}.{c}" for c in TEXT_COLUMNS)
    return (
        f"lower(concat_ws({SEPARATOR}, {cols}, array_to_string({alias}.channels, ' '), "
        "m.text, t.text, n.text))"
    )


def _tokens_sql(where: str) -> str:
    return (
        "SELECT DISTINCT token, num FROM (SELECT num, unnest("
        f"regexp_split_to_array(search_text, {WORD_SPLIT_SQL})) AS token FROM datasets {where})"
        " WHERE token <> ''"
    )


def rebuild_terms(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the whole terms table, sorted by token (fast lookups)."""
    con.execute("DELETE FROM terms")
    con.execute(f"INSERT INTO terms {_tokens_sql('')} ORDER BY token")


def refresh_search_text(con: duckdb.DuckDBPyConnection, ids: Sequence[str] | None = None) -> None:
    """Recompute ``search_text``, the ``tags`` copy and the terms of ``ids`` (all when
    ``None``).

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
        UPDATE datasets SET search_text = s.text
        FROM (
            SELECT d.id, {_expression()} AS text
            FROM datasets d
            LEFT JOIN (SELECT dataset_id, string_agg(value, {SEPARATOR}) AS text
                       FROM metadata {where} GROUP BY dataset_id) m ON m.dataset_id = d.id
            LEFT JOIN (SELECT dataset_id, string_agg(tag, {SEPARATOR}) AS text
                       FROM tags {where} GROUP BY dataset_id) t ON t.dataset_id = d.id
            LEFT JOIN (SELECT dataset_id, string_agg(text, {SEPARATOR}) AS text
                       FROM notes {where} GROUP BY dataset_id) n ON n.dataset_id = d.id
            {"WHERE d.id IN (SELECT unnest(?))" if ids is not None else ""}
        ) s
        WHERE datasets.id = s.id
        """,
        params,
    )
    # the tags copy (NULL when untagged): list columns are slow to rewrite in DuckDB,
    # so only rows whose tags differ are touched
    scope = "" if ids is None else "AND datasets.id IN (SELECT unnest(?))"
    one = [] if ids is None else [ids]
    con.execute(
        f"""
        UPDATE datasets SET tags = s.tags
        FROM (SELECT dataset_id, list(tag ORDER BY tag) AS tags FROM tags {where}
              GROUP BY dataset_id) s
        WHERE datasets.id = s.dataset_id AND datasets.tags IS DISTINCT FROM s.tags {scope}
        """,
        [*one, *one],
    )
    con.execute(
        f"""
        UPDATE datasets SET tags = NULL
        WHERE tags IS NOT NULL AND id NOT IN (SELECT dataset_id FROM tags) {scope}
        """,
        one,
    )
    if ids is None or len(ids) > REBUILD_ABOVE:
        rebuild_terms(con)
    else:
        # rows rewritten by a scan got a new num: their old terms match nothing any more
        # and go at the next rebuild; rows updated in place keep theirs, replaced here
        con.execute(
            "DELETE FROM terms WHERE num IN "
            "(SELECT num FROM datasets WHERE id IN (SELECT unnest(?)))",
            [ids],
        )
        con.execute(f"INSERT INTO terms {_tokens_sql('WHERE id IN (SELECT unnest(?))')}", [ids])
