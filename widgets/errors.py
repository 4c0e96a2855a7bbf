"""Named exceptions of the ``widgets`` package."""

from __future__ import annotations

from catalog.errors import CatalogError


class WidgetError(CatalogError):
    """Base class of widget errors (bad catalogue, dataset that cannot be displayed)."""


class NotDisplayable(WidgetError, ValueError):
    """A dataset the slice browser cannot show (not two or three of z, y, x), or a
    position on an axis the dataset does not have."""


class WebAppError(WidgetError):
    """A page of the web app that cannot be shown: a bad query string, a dataset id
    that is missing, or a catalogue that cannot be limited to the signed-in user."""
