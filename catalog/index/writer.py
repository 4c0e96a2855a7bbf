"""The one writer of dataset rows: ids, user-set fields, search text and the audit.

The scanner (row by row, from the results of its workers; ``cat.save`` through it) and
the table importer (set-wise, from a staged table) write datasets through a
:class:`DatasetWriter` inside the caller's transaction, so the rules they share live
here:

- **ids**: a new dataset's id is :func:`~catalog.index.store.make_id` of its path (and
  checksum), lengthened by four characters at a time while another dataset, or
  another row of the same write, has it (:meth:`DatasetWriter.new_ids`,
  :func:`free_id`, :meth:`DatasetWriter.fix_staged_ids`);
- **user-set fields** (:data:`~catalog.index.store.USER_FIELDS` listed in a row's
  ``user_set``) are the user's: a rescan keeps their values
  (:meth:`DatasetWriter.keep_user_fields`); a table that gives one sets it and adds it
  to ``user_set`` (:meth:`DatasetWriter.user_set_sql`,
  :meth:`DatasetWriter.merge_user_set`);
- **search text**: every dataset written has its search text and terms refreshed,
- **audit**: every dataset written has its audit entry, both in the same transaction
  (:meth:`DatasetWriter.commit`).

>>> with transaction("lab.duckdb") as con:                         # doctest: +SKIP
...     out = DatasetWriter(con)
...     (ident,) = out.new_ids([("/data/a.tif", "b3:00")], taken=set())
...     out.replace([{"id": ident, "path": "/data/a.tif", ...}], files=[], metas=[])
...     out.audit([("scan.added", ident, {"path": "/data/a.tif"})])
...     out.commit()
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import duckdb

from .search_text import refresh_search_text
from .store import (
    DATASET_SCHEMA,
    FILE_SCHEMA,
    ID_LENGTH,
    META_SCHEMA,
    USER_FIELDS,
    append_audit,
    current_user,
    insert_rows,
    make_id,
    unique_ids,
)

#: audit entries appended per call: bounds the memory of a big import
AUDIT_BATCH = 50_000

AuditEntry = tuple[str, str | None, dict[str, Any]]
AuditAppender = Callable[[duckdb.DuckDBPyConnection, Iterable[AuditEntry], str], None]


def free_id(path: str, checksum: str | None, taken: set[str]) -> str:
    """:func:`make_id` of ``path`` lengthened until it is not in ``taken``; adds it.

    >>> taken = {make_id("/data/a.tif", None)}
    >>> len(free_id("/data/a.tif", None, taken)), len(taken)
    (16, 2)
    """
    length, ident = ID_LENGTH, make_id(path, checksum)
    while ident in taken:
        length += 4
        ident = make_id(path, checksum, length)
    taken.add(ident)
    return ident


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DatasetWriter:
    """Writes dataset rows with ``con`` (inside the caller's transaction) under the
    rules above; :meth:`commit` refreshes the search text of the datasets written and
    appends their audit entries. ``user`` defaults to :func:`current_user`;
    ``append_audit`` is how entries reach the log (the hash-chained one by default)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        user: str | None = None,
        *,
        append_audit: AuditAppender = append_audit,
    ) -> None:
        self.con = con
        self.user = user or current_user()
        self._append_audit = append_audit
        self._ids: list[str] | None = []  # ``None``: every dataset
        self._audit: list[Iterable[AuditEntry]] = []

    # -- ids ---------------------------------------------------------------------------

    def new_ids(self, wanted: list[tuple[str, str | None]], taken: set[str]) -> list[str]:
        """Ids for new datasets at ``(path, checksum)``, unique among the index and
        ``taken`` (which gets them)."""
        return unique_ids(self.con, wanted, taken)

    def fix_staged_ids(self, staged: str, row: str) -> None:
        """Lengthen the new ids of the staged table ``staged`` (columns ``id``, ``path``,
        ``old_id``: ``NULL`` for a new dataset, and the row key ``row``) that another
        dataset already has (rare; one query per round)."""
        taken: set[str] | None = None
        while True:
            clash = self.con.execute(
                f"SELECT i.{row}, i.path, i.id FROM {staged} i JOIN datasets d "
                "ON d.id = i.id AND d.path <> i.path WHERE i.old_id IS NULL"
            ).fetchall()
            if not clash:
                return
            if taken is None:
                taken = {i for (i,) in self.con.execute(f"SELECT id FROM {staged}").fetchall()}
            fixes = []
            for key, path, ident in clash:
                length = len(ident)
                while ident in taken:
                    length += 4
                    ident = make_id(path, None, length)
                taken.add(ident)
                fixes.append((ident, key))
            self.con.executemany(f"UPDATE {staged} SET id = ? WHERE {row} = ?", fixes)

    # -- user-set fields ---------------------------------------------------------------

    @staticmethod
    def keep_user_fields(row: dict[str, Any], old: dict[str, Any]) -> None:
        """A dataset written again (a rescan) keeps its ``user_set`` and the values of
        the user fields listed there (``old``: its row as the index holds it)."""
        row["user_set"] = old["user_set"]
        for field in old["user_set"] or []:
            if field in USER_FIELDS:
                row[field] = old[field]

    @staticmethod
    def user_set_sql(alias: str) -> str:
        """SQL for the ``user_set`` of a staged row ``alias``: the user fields it gives
        (not ``NULL``), or ``NULL`` for none."""
        cases = ", ".join(
            f"CASE WHEN {alias}.{f} IS NOT NULL THEN {_lit(f)} END" for f in USER_FIELDS
        )
        return f"nullif([f for f in [{cases}] if f IS NOT NULL], [])"

    @staticmethod
    def user_field_updates(staged: str, target: str) -> list[str]:
        """``SET`` clauses giving a known dataset ``target`` the user fields its staged
        row ``staged`` gives (the others keep their values)."""
        return [f"{f} = coalesce({staged}.{f}, {target}.{f})" for f in USER_FIELDS]

    def merge_user_set(self, staged: str) -> None:
        """Add the user fields each staged row of ``staged`` (with ``old_id``: the known
        dataset it updates) gives to that dataset's ``user_set``."""
        self.con.execute(
            f"""UPDATE datasets d SET user_set = list_sort(list_distinct(list_concat(
                    coalesce(d.user_set, []), i.user_set)))
            FROM (SELECT old_id, {self.user_set_sql("i")} AS user_set FROM {staged} i
                  WHERE old_id IS NOT NULL) i
            WHERE d.id = i.old_id AND NOT list_has_all(coalesce(d.user_set, []), i.user_set)"""
        )

    # -- rows --------------------------------------------------------------------------

    def replace(
        self, rows: list[dict[str, Any]], files: list[dict[str, Any]], metas: list[dict[str, Any]]
    ) -> None:
        """Write ``rows`` (whole dataset rows, ids chosen) with their ``files`` and
        flattened ``metas``, replacing what the index held for those ids (and any
        other dataset's claim on those files)."""
        ids = [r["id"] for r in rows]
        file_paths = [f["path"] for f in files]
        con = self.con
        con.execute("DELETE FROM datasets WHERE id IN (SELECT unnest(?))", [ids])
        con.execute(
            "DELETE FROM files WHERE dataset_id IN (SELECT unnest(?)) OR path IN (SELECT unnest(?))",
            [ids, file_paths],
        )
        con.execute("DELETE FROM metadata WHERE dataset_id IN (SELECT unnest(?))", [ids])
        insert_rows(con, "datasets", rows, DATASET_SCHEMA)
        insert_rows(con, "files", files, FILE_SCHEMA)
        insert_rows(con, "metadata", metas, META_SCHEMA)
        self.written(ids)

    def written(self, ids: Sequence[str] | None) -> None:
        """Note datasets written by other means (SQL of the caller); ``None``: so many
        that refreshing every dataset's search text costs less."""
        if ids is None or self._ids is None:
            self._ids = None
        else:
            self._ids.extend(ids)

    # -- audit and commit --------------------------------------------------------------

    def audit(self, entries: Iterable[AuditEntry]) -> None:
        """Queue ``(action, dataset_id, detail)`` entries (an iterator is read at
        :meth:`commit`, :data:`AUDIT_BATCH` at a time)."""
        self._audit.append(entries)

    def commit(self) -> None:
        """Refresh the search text of the datasets written, then append the audit
        entries; call once, last, inside the transaction."""
        refresh_search_text(self.con, self._ids)
        entries = itertools.chain.from_iterable(self._audit)
        while batch := list(itertools.islice(entries, AUDIT_BATCH)):
            self._append_audit(self.con, batch, self.user)
        self._ids, self._audit = [], []
