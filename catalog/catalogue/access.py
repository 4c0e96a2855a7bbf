"""Access levels, who may see what, and restricted data and what is derived from it.

Every dataset has an ``access`` level: ``public`` (``open`` is the older spelling of
it), ``internal`` (anyone of the lab; what an unset access means), ``collaborator:GROUP``
(members of GROUP) or ``restricted``. :func:`access_predicate` turns an account
(:class:`catalog.users.User`) into the SQL predicate over ``datasets`` that admits
what it may see: everything for an admin, the local embedded user (``None``) or
nothing for a disabled account; otherwise public and internal data, collaborator data of
the user's groups, and restricted data for members of the group ``restricted``.

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

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..index import Connection

if TYPE_CHECKING:
    from ..users import User

RESTRICTED = "restricted"
COLLABORATOR = "collaborator:"
#: the fixed values of the ``access`` field (besides ``collaborator:GROUP``); export
#: refuses ``restricted`` unless told otherwise; ``open`` is the older name of ``public``
ACCESS_LEVELS = ("public", "open", "internal", "restricted")
_GROUP = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")


def is_access_level(value: str) -> bool:
    """Whether ``value`` is an access level.

    >>> is_access_level("collaborator:tomo"), is_access_level("secret")
    (True, False)
    """
    if value in ACCESS_LEVELS:
        return True
    return value.startswith(COLLABORATOR) and bool(_GROUP.fullmatch(value[len(COLLABORATOR) :]))


def access_predicate(user: User | None, alias: str = "") -> tuple[str, list]:
    """A SQL predicate over ``datasets`` (and its bound parameters) admitting the
    datasets ``user`` may see; ``None`` is the local embedded user, who sees all.

    >>> from catalog.users import User
    >>> sql, params = access_predicate(User("ada", "viewer", ("tomo",)))
    >>> params
    [['collaborator:tomo']]
    >>> access_predicate(None)
    ('TRUE', [])
    """
    if user is None:
        return "TRUE", []
    if not user.active:
        return "FALSE", []
    if user.role == "admin":
        return "TRUE", []
    from ..users import RESTRICTED_GROUP

    col = f"{alias}.access" if alias else "access"
    allowed = [COLLABORATOR + g for g in user.groups]
    if RESTRICTED_GROUP in user.groups:
        allowed.append(RESTRICTED)
    sql = f"coalesce({col}, 'internal') IN ('public', 'open', 'internal')"
    if not allowed:
        return f"({sql})", []
    return f"({sql} OR {col} IN (SELECT unnest(?::VARCHAR[])))", [allowed]


def admits(user: User | None, access: str | None) -> bool:
    """Whether ``user`` may see a dataset whose access level is ``access`` (the same
    decision as :func:`access_predicate`, for one value).

    >>> from catalog.users import User
    >>> viewer = User("ada", "viewer", ("tomo",))
    >>> [admits(viewer, a) for a in (None, "public", "collaborator:tomo", "restricted")]
    [True, True, True, False]
    """
    if user is None:
        return True
    if not user.active:
        return False
    if user.role == "admin":
        return True
    from ..users import RESTRICTED_GROUP

    level = access if access is not None else "internal"
    if level in ("public", "open", "internal"):
        return True
    if level == RESTRICTED:
        return RESTRICTED_GROUP in user.groups
    return level.startswith(COLLABORATOR) and level[len(COLLABORATOR) :] in user.groups


def sees_everything(user: User | None) -> bool:
    """Whether ``user`` sees every dataset (the local user, or an active admin)."""
    return user is None or (user.active and user.role == "admin")


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
