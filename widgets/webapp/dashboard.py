"""The dashboard page: ``widgets.dashboard`` over the catalogue the user may see.

>>> dashboard_page(Path("lab.duckdb"))            # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalog.errors import CatalogError

from ..dashboard import dashboard
from . import layout
from .session import catalogue_for, current_user, role_of


def dashboard_page(index: Path) -> Any:
    """Datasets and bytes per month, modality, project, data level and drive of what
    the session's user may see (``cat.stats``)."""
    user = current_user()
    try:
        cat = catalogue_for(index, user)
        body = dashboard(cat)
    except (CatalogError, OSError) as exc:
        return layout.error_page("dashboard", str(exc), user)
    return layout.frame("dashboard", [body], user, role_of(cat))
