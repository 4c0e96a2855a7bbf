"""What an export holds: the selected datasets (and their ancestors), their files,
annotations and lineage, read from the index in one short read-only connection. A
dataset whose primary location is gone (its drive unplugged) is read from its first
``ok`` replica, as reads are.

Refuses what must not leave: (unless told otherwise) datasets whose ``access`` is
``restricted`` and datasets derived from restricted data at any depth of their lineage
(:mod:`catalog.catalogue.access`). Whether each dataset can be read is checked next, by
:func:`.preflight.preflight`.

>>> sel = select("lab.duckdb", ["k2x9q4m1abcd"], include_ancestors=True)  # doctest: +SKIP
>>> sorted(sel.rows), sel.ancestors                                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..catalogue.access import describe, restricted_sources
from ..errors import ExportError, RestrictedDataError
from ..index import Connection, connect
from ..paths import from_db, resolve_for_db

MAX_NAMED = 20  # datasets named in an error message


@dataclasses.dataclass
class Selection:
    """Everything the export needs from the index, keyed by dataset id."""

    index: Path
    rows: dict[str, dict[str, Any]]  # id -> datasets row (every column)
    files: dict[str, list[dict[str, Any]]]  # id -> files rows, in position order
    tags: dict[str, list[str]]
    notes: dict[str, list[dict[str, Any]]]
    lineage: list[dict[str, Any]]  # links whose child is exported
    ancestors: list[str]  # ids added by include_ancestors
    license: str | None  # the index's ``license`` setting
    organization: str | None = None  # the index's ``organization`` setting

    def source_file(self, row: dict[str, Any]) -> Path:
        return Path(from_db(row["path"]))

    def without(self, ids: Iterable[str]) -> Selection:
        """This selection with the datasets ``ids`` left out (and their links)."""
        drop = set(ids)
        rows = {i: r for i, r in self.rows.items() if i not in drop}
        lineage = [
            {**link, "parent_exported": link["parent"] in rows}
            for link in self.lineage
            if link["child"] in rows
        ]
        return dataclasses.replace(
            self,
            rows=rows,
            files={i: f for i, f in self.files.items() if i in rows},
            tags={i: t for i, t in self.tags.items() if i in rows},
            notes={i: n for i, n in self.notes.items() if i in rows},
            lineage=lineage,
            ancestors=[i for i in self.ancestors if i in rows],
        )


def _named(rows: list[dict[str, Any]], why: str = "") -> str:
    shown = [f"{r['id']} ({r['name']}{why and ': ' + str(r.get(why))})" for r in rows[:MAX_NAMED]]
    more = f" and {len(rows) - MAX_NAMED} more" if len(rows) > MAX_NAMED else ""
    return ", ".join(shown) + more


def _ancestors(con: Connection, ids: list[str]) -> list[str]:
    """Every parent, grandparent ... of ``ids`` recorded in the lineage table."""
    found = con.execute(
        """
        WITH RECURSIVE up(id) AS (
            SELECT unnest(?::VARCHAR[])
            UNION
            SELECT l.parent FROM lineage l JOIN up ON l.child = up.id
            WHERE l.parent IS NOT NULL
        )
        SELECT DISTINCT id FROM up WHERE id IN (SELECT id FROM datasets)
        """,
        [ids],
    ).fetchall()
    return sorted({i for (i,) in found} - set(ids))


def _fetch(con: Connection, sql: str, ids: list[str]) -> list[dict[str, Any]]:
    cur = con.execute(sql, [ids])
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def _from_copies(
    index: str | os.PathLike[str],
    rows: dict[str, dict[str, Any]],
    files: dict[str, list[dict[str, Any]]],
) -> None:
    """Datasets whose primary location is not there (its drive unplugged, or deleted)
    but that have an ``ok`` replica are exported from that replica: their row and file
    paths are moved to it, as reads do (:func:`catalog.replicas.readable`). Only the
    datasets whose primary is gone are looked up (one short read)."""
    from ..remote import is_remote
    from ..replicas import listing, readable

    gone = [
        i
        for i, r in rows.items()
        if not is_remote(r["path"]) and not os.path.lexists(from_db(r["path"]))
    ]
    if not gone:
        return
    with connect(index, read_only=True) as con:
        places = {i: listing(con, i) for i in gone}
    for ident in gone:
        if len(places[ident]) < 2:
            continue
        own = files.get(ident) or []
        row, moved = readable(rows[ident], [f["path"] for f in own], places[ident])
        if row["path"] != rows[ident]["path"]:
            rows[ident] = row
            files[ident] = [{**f, "path": p} for f, p in zip(own, moved)]


def select(
    index: str | os.PathLike[str],
    ids: list[str],
    *,
    include_ancestors: bool = False,
    allow_restricted: bool = False,
) -> Selection:
    """Read the datasets ``ids`` (plus their ancestors) and check they may be exported."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        raise ExportError("nothing to export: the selection is empty")
    with connect(index, read_only=True) as con:
        known = {
            i
            for (i,) in con.execute(
                "SELECT id FROM datasets WHERE id IN (SELECT unnest(?))", [ids]
            ).fetchall()
        }
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ExportError(f"no dataset with id {', '.join(unknown[:MAX_NAMED])} in {index}")
        extra = _ancestors(con, ids) if include_ancestors else []
        every = ids + extra
        rows = {
            r["id"]: r
            for r in _fetch(con, "SELECT * FROM datasets WHERE id IN (SELECT unnest(?))", every)
        }
        files: dict[str, list[dict[str, Any]]] = {i: [] for i in every}
        for f in _fetch(
            con,
            "SELECT * FROM files WHERE dataset_id IN (SELECT unnest(?)) "
            "ORDER BY dataset_id, position, path",
            every,
        ):
            files[f["dataset_id"]].append(f)
        tags: dict[str, list[str]] = {i: [] for i in every}
        for t in _fetch(
            con, "SELECT * FROM tags WHERE dataset_id IN (SELECT unnest(?)) ORDER BY tag", every
        ):
            tags[t["dataset_id"]].append(t["tag"])
        notes: dict[str, list[dict[str, Any]]] = {i: [] for i in every}
        for n in _fetch(
            con, "SELECT * FROM notes WHERE dataset_id IN (SELECT unnest(?)) ORDER BY time", every
        ):
            notes[n["dataset_id"]].append(
                {"text": n["text"], "user": n["user_name"], "time": _iso(n["time"])}
            )
        links = _fetch(
            con, "SELECT * FROM lineage WHERE child IN (SELECT unnest(?)) ORDER BY time", every
        )
        settings = dict(
            con.execute(
                "SELECT key, value FROM settings WHERE key IN ('license', 'organization')"
            ).fetchall()
        )
        locked = {} if allow_restricted else restricted_sources(con, every)
    _check(rows, locked)
    base = Path(index).resolve().parent  # an export's index: paths relative to its folder
    for r in rows.values():
        r["path"] = resolve_for_db(r["path"], base)
    for fs in files.values():
        for f in fs:
            f["path"] = resolve_for_db(f["path"], base)
    _from_copies(index, rows, files)
    lineage = []
    for link in links:
        item = {k: _iso(v) for k, v in link.items()}
        for key in ("params", "provenance"):
            if isinstance(item.get(key), str):
                item[key] = json.loads(item[key])
        item["user"] = item.pop("user_name", None)
        item["parent_exported"] = link["parent"] in rows
        lineage.append(item)
    return Selection(
        index=Path(index),
        rows={i: rows[i] for i in every},
        files=files,
        tags=tags,
        notes=notes,
        lineage=lineage,
        ancestors=extra,
        license=settings.get("license"),
        organization=settings.get("organization"),
    )


def _check(rows: dict[str, dict[str, Any]], locked: dict[str, list[str]]) -> None:
    if locked:
        named = [{**rows[i], "why": describe(i, found)} for i, found in locked.items()]
        raise RestrictedDataError(
            f"{len(named)} dataset(s) have access 'restricted' or are derived from "
            f"restricted data: {_named(named, 'why')}. Leave them out, or pass "
            "allow_restricted=True (--allow-restricted) if you are allowed to share them"
        )


def check_access(index: str | os.PathLike[str], ids: list[str]) -> None:
    """Raise :class:`~catalog.errors.RestrictedDataError` naming each of ``ids`` that is
    restricted or derived from restricted data (what :func:`select` refuses unless
    ``allow_restricted``); a quick check before an export is queued.

    >>> check_access("lab.duckdb", ["k2x9q4m1abcd"])             # doctest: +SKIP
    """
    with connect(index, read_only=True) as con:
        locked = restricted_sources(con, ids)
        if not locked:
            return
        rows = {
            r["id"]: r
            for r in _fetch(
                con, "SELECT id, name FROM datasets WHERE id IN (SELECT unnest(?))", list(locked)
            )
        }
    _check(rows, locked)


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
