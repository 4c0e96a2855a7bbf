"""Named exceptions of the ``widgets`` package."""

from __future__ import annotations

from catalog.errors import CatalogError


class WidgetError(CatalogError):
    """Base class of widget errors (bad catalogue, dataset that cannot be displayed)."""
