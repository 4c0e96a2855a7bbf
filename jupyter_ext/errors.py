"""Named exceptions of the ``jupyter_ext`` package."""

from __future__ import annotations

from catalog.errors import CatalogError


class ExtensionError(CatalogError):
    """Base class of server-extension errors, mapped to JSON error responses."""
