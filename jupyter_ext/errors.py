"""Named exceptions of the ``jupyter_ext`` package.

The HTTP errors the REST handlers answer with are the catalogue server's
(:mod:`catalog.errors`, mapped by :func:`catalog.service.status.status_and_message`);
they are named here too for code that catches them from the extension.
"""

from __future__ import annotations

from catalog.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceError,
)
from catalog.service.status import SAFE_500, status_and_message


class ExtensionError(ServiceError):
    """Base class of errors of the Jupyter server extension itself."""

    status = 500


__all__ = [
    "SAFE_500",
    "BadRequest",
    "Conflict",
    "ExtensionError",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "status_and_message",
]
