"""Restricted data and what is derived from it.

A dataset whose ``access`` is ``restricted`` (patient data, embargoed results) must not
leave by an export unless the exporter says so (``allow_restricted=True``). What is
derived from it is restricted too:

- ``cat.save(..., parents=[...])`` and ``cat.link(child, parents)`` set
  ``access="restricted"`` on the new result, or on the linked child *and every dataset
  already derived from it*, when a parent or any of its ancestors is restricted (an
  audited ``set`` with ``inherited_from``; kept by rescans like any user field);
- an export checks the lineage as it is at export time, so data derived before a
  parent was marked restricted, or linked by an older voxcat, is refused as well.

>>> with connect("lab.duckdb", read_only=True) as con:            # doctest: +SKIP
...     restricted_sources(con, ["k2x9q4m1abcd"])
{'k2x9q4m1abcd': ['a1b2c3d4e5f6']}
"""

from __future__ import annotations

from collections.abc import Sequence

from ..index import Connection

RESTRICTED = "restricted"

_SOURCES_SQL = """
WITH RECURSIVE up(origin, id) AS (
    SELECT i, i FROM (SELECT unnest(?::VARCHAR[]) AS i)
    UNION
    SELECT up.origin, l.parent FROM lineage l JOIN up ON l.child = up.id
    WHERE l.parent IS NOT NULL
)
SELECT up.origin, up.id FROM up JOIN datasets d ON d.id = up.id
WHERE d.access = 'restricted'
ORDER BY up.origin, up.origin <> up.id, up.id
"""
_DESCENDANTS_SQL = """
WITH RECURSIVE down(id) AS (
    SELECT unnest(?::VARCHAR[])
    UNION
    SELECT l.child FROM lineage l JOIN down ON l.parent = down.id
)
SELECT DISTINCT id FROM down
"""


def restricted_sources(con: Connection, ids: Sequence[str]) -> dict[str, list[str]]:
    """For each of ``ids`` that is restricted or derived (at any depth) from restricted
    data: the restricted datasets it is or derives from, itself first."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    row = con.execute("SELECT 1 FROM datasets WHERE access = 'restricted' LIMIT 1").fetchone()
    if row is None:  # the usual case: nothing to follow
        return {}
    out: dict[str, list[str]] = {}
    for origin, ident in con.execute(_SOURCES_SQL, [ids]).fetchall():
        out.setdefault(origin, []).append(ident)
    return out


def describe(ident: str, sources: list[str]) -> str:
    """Why ``ident`` is restricted, for messages."""
    inherited = [s for s in sources if s != ident]
    if not inherited:
        return "access 'restricted'"
    more = f" and {len(inherited) - 3} more" if len(inherited) > 3 else ""
    return f"derived from restricted {', '.join(inherited[:3])}{more}"


def inherit_restriction(
    con: Connection, child: str, parents: Sequence[str], user: str
) -> list[str]:
    """Inside a write transaction: if a parent of ``child`` (or an ancestor of one) is
    restricted, mark ``child`` and everything already derived from it restricted.
    Returns the ids that changed (each change audited as a ``set``)."""
    from ..index.search_text import refresh_search_text
    from ..index.store import append_audit

    sources = sorted({s for found in restricted_sources(con, parents).values() for s in found})
    if not sources:
        return []
    below = [i for (i,) in con.execute(_DESCENDANTS_SQL, [[child]]).fetchall()]
    rows = con.execute(
        "SELECT id, access, user_set FROM datasets WHERE id IN (SELECT unnest(?)) "
        "AND coalesce(access, '') <> 'restricted' ORDER BY id",
        [below],
    ).fetchall()
    audit = []
    for ident, before, user_set in rows:
        fields = list(user_set or [])
        if "access" not in fields:
            fields.append("access")
        con.execute(
            "UPDATE datasets SET access = 'restricted', user_set = ? WHERE id = ?",
            [fields, ident],
        )
        detail = {
            "before": {"access": before},
            "after": {"access": RESTRICTED},
            "inherited_from": sources,
        }
        audit.append(("set", ident, detail))
    if audit:
        append_audit(con, audit, user)
        refresh_search_text(con, [a[1] for a in audit])
    return [a[1] for a in audit]
