"""Who is looking, and the catalogue they may see.

Every page opens its catalogue through :func:`catalogue_for` only, bound to the
signed-in user (``pn.state.user``: a voxcat user name, ``None`` when the server runs
without authentication). A catalogue bound to a user sees only what that user may
see, and refuses edits their role does not allow (``catalog.errors.Forbidden``).

>>> cat = catalogue_for("lab.duckdb", "ana")        # doctest: +SKIP
>>> can_edit(cat)                                   # doctest: +SKIP
False
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from catalog.catalogue import DuckDBCatalog, open_catalog

from ..errors import WebAppError

#: roles that may tag and annotate (``catalog.users.ROLES``)
EDITORS = ("curator", "admin")


def _binds_users() -> bool:
    """Whether this voxcat's ``open_catalog`` takes ``user=`` (a keyword it names;
    a bare ``**kwargs`` that drops it would not bind anything)."""
    return "user" in inspect.signature(open_catalog).parameters


def catalogue_for(index: str | os.PathLike[str], user: str | None) -> DuckDBCatalog:
    """``open_catalog(index, user=user)``: the catalogue as ``user`` may see it;
    ``user=None`` is the local user of a server without authentication (sees all).

    Fails closed: when this voxcat cannot bind a catalogue to a user, a named user
    gets :class:`~widgets.errors.WebAppError` rather than everything.

    >>> catalogue_for("lab.duckdb", None)              # doctest: +SKIP
    <voxcat catalogue: 1402 datasets (all datasets) of lab.duckdb>
    """
    if user is None:
        return open_catalog(index)
    if not _binds_users():
        raise WebAppError(
            f"this voxcat cannot limit the catalogue to what {user!r} may see "
            "(open_catalog has no user=); serve without authentication or update voxcat"
        )
    return open_catalog(index, user=user)


def current_user() -> str | None:
    """The user of the current Panel session (``pn.state.user``), ``None`` without
    authentication or outside a server."""
    import panel as pn

    user = pn.state.user
    return str(user) if user else None


def role_of(cat: DuckDBCatalog) -> str | None:
    """The bound user's role; ``None`` for the local (unbound) user."""
    user: Any = getattr(cat, "user", None)
    return None if user is None else str(getattr(user, "role", "viewer"))


def can_edit(cat: DuckDBCatalog) -> bool:
    """Whether the catalogue's user may add tags and notes (curators, admins and the
    local user of a server without authentication)."""
    role = role_of(cat)
    return role is None or role in EDITORS
