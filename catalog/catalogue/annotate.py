"""Annotations: tags, notes and user fields, each change appended to the audit log.

Annotations are keyed by dataset id, which survives rescans and moves, and user
fields are listed in ``user_set`` so a rescan never overwrites them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import AnnotationError
from ..index import Connection, transaction
from ..index.search_text import refresh_search_text
from ..index.store import USER_FIELDS, append_audit, current_user, now
from ..inputs import check_field_value, check_note, check_tags
from ..readers.base import DATA_LEVELS
from .access import ACCESS_LEVELS, is_access_level


def _clean_tags(tags: Iterable[str], *, removing: bool = False) -> list[str]:
    out = check_tags(tags, removing=removing)
    if not out:
        raise AnnotationError("no tags given: cat.tag(selection, 'tag1', 'tag2', ...)")
    return out


def _within(
    index: str | os.PathLike[str], con: Connection | None
) -> contextlib.AbstractContextManager[Connection]:
    """A transaction of its own, or the caller's connection when it gives one."""
    return transaction(index) if con is None else contextlib.nullcontext(con)


def tag(
    index: str | os.PathLike[str],
    ids: list[str],
    tags: Iterable[str],
    *,
    con: Connection | None = None,
) -> int:
    """Add tags to datasets; returns the number of new (dataset, tag) pairs. With
    ``con``, inside the caller's transaction."""
    clean = _clean_tags(tags)
    if not ids:
        return 0
    user, t = current_user(), now()
    with _within(index, con) as con:
        new = con.execute(
            "SELECT i, g FROM (SELECT DISTINCT unnest(?) AS i) CROSS JOIN (SELECT unnest(?) AS g) "
            "WHERE NOT EXISTS (SELECT 1 FROM tags WHERE dataset_id = i AND tag = g) "
            "ORDER BY i, g",
            [ids, clean],
        ).fetchall()
        if new:
            con.executemany(
                "INSERT INTO tags VALUES (?, ?, ?, ?)", [(i, g, user, t) for i, g in new]
            )
            append_audit(con, [("tag", i, {"tag": g, "added": True}) for i, g in new], user)
            refresh_search_text(con, sorted({i for i, _ in new}))
    return len(new)


def untag(index: str | os.PathLike[str], ids: list[str], tags: Iterable[str]) -> int:
    """Remove tags; returns the number of (dataset, tag) pairs removed."""
    clean = _clean_tags(tags, removing=True)
    if not ids:
        return 0
    user = current_user()
    with transaction(index) as con:
        gone = con.execute(
            "SELECT dataset_id, tag FROM tags WHERE dataset_id IN (SELECT unnest(?)) "
            "AND tag IN (SELECT unnest(?))",
            [ids, clean],
        ).fetchall()
        if gone:
            con.execute(
                "DELETE FROM tags WHERE dataset_id IN (SELECT unnest(?)) "
                "AND tag IN (SELECT unnest(?))",
                [ids, clean],
            )
            append_audit(con, [("untag", i, {"tag": g, "removed": True}) for i, g in gone], user)
            refresh_search_text(con, sorted({i for i, _ in gone}))
    return len(gone)


def note(index: str | os.PathLike[str], ids: list[str], text: str) -> None:
    """Append a note to each dataset in ``ids``."""
    check_note(text)
    ids = list(dict.fromkeys(ids))
    user, t = current_user(), now()
    with transaction(index) as con:
        con.executemany("INSERT INTO notes VALUES (?, ?, ?, ?)", [(i, text, user, t) for i in ids])
        append_audit(con, [("note", i, {"text": text}) for i in ids], user)
        refresh_search_text(con, ids)


def _check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    if not fields:
        raise AnnotationError(f"no fields given; user fields are {', '.join(USER_FIELDS)}")
    out = {}
    for key, value in fields.items():
        if key == "level":
            key = "data_level"
        if key not in USER_FIELDS:
            raise AnnotationError(
                f"{key!r} is not a field users set; use one of {', '.join(USER_FIELDS)} "
                "(or cat.tag / cat.note)"
            )
        if value is not None:
            if not isinstance(value, str | int | float):
                raise AnnotationError(f"{key} must be text, not {type(value).__name__}")
            value = check_field_value(key, str(value).strip())
            if key == "data_level" and value not in DATA_LEVELS:
                raise AnnotationError(
                    f"data_level {value!r} is not one of {', '.join(DATA_LEVELS)}"
                )
            if key == "access" and not is_access_level(value):
                raise AnnotationError(
                    f"access {value!r} is not one of {', '.join(ACCESS_LEVELS)} "
                    "or collaborator:GROUP"
                )
        out[key] = value
    return out


def set_fields(
    index: str | os.PathLike[str],
    ids: list[str],
    fields: Mapping[str, Any],
    *,
    con: Connection | None = None,
) -> int:
    """Set user fields on datasets; ``None`` clears one (a rescan may infer it again).
    With ``con``, inside the caller's transaction."""
    values = _check_fields(fields)
    if not ids:
        return 0
    user = current_user()
    cols = list(values)
    changed = 0
    with _within(index, con) as con:
        rows = con.execute(
            f"SELECT id, {', '.join(cols)}, user_set FROM datasets WHERE id IN (SELECT unnest(?))",
            [ids],
        ).fetchall()
        audit = []
        for row in rows:
            ident, before, user_set = row[0], dict(zip(cols, row[1:-1])), list(row[-1] or [])
            diff = {k: v for k, v in values.items() if before[k] != v}
            if not diff:
                continue
            for k, v in diff.items():
                if v is None and k in user_set:
                    user_set.remove(k)
                elif v is not None and k not in user_set:
                    user_set.append(k)
            assigns = ", ".join(f"{k} = ?" for k in diff)
            con.execute(
                f"UPDATE datasets SET {assigns}, user_set = ? WHERE id = ?",
                [*diff.values(), user_set, ident],
            )
            audit.append(("set", ident, {"before": {k: before[k] for k in diff}, "after": diff}))
            changed += 1
        append_audit(con, audit, user)
        if audit:
            refresh_search_text(con, [a[1] for a in audit])
    return changed
