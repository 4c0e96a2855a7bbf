"""Named exceptions of the ``widgets`` package."""

from __future__ import annotations

from catalog.errors import CatalogError


class WidgetError(CatalogError):
    """Base class of widget errors (bad catalogue, dataset that cannot be displayed)."""


class NotDisplayable(WidgetError, ValueError):
    """A dataset the slice browser cannot show (not two or three of z, y, x), or a
    position on an axis the dataset does not have."""
