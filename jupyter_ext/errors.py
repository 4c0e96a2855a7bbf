"""Named exceptions of the ``jupyter_ext`` package and their HTTP status codes.

Handlers raise these (or let catalogue errors through); :func:`status_and_message`
maps any exception to the status and the ``{"error": message}`` body of the response.
Messages of unexpected errors never reach the client: they are logged instead.
"""

from __future__ import annotations

from catalog.errors import (
    AnnotationError,
    CatalogError,
    DatasetNotFound,
    DatasetUnavailable,
    DiskFullError,
    IndexLockedError,
    InputLimitError,
    LineageError,
    PreviewCancelled,
    QueryError,
    ScanError,
    ViewError,
)


class ExtensionError(CatalogError):
    """Base class of server-extension errors, mapped to JSON error responses."""

    status = 500


class BadRequest(ExtensionError, ValueError):
    """A malformed request: a bad parameter, id, path or JSON body (400)."""

    status = 400


class PayloadTooLarge(ExtensionError, ValueError):
    """A request body over the size the extension reads (413)."""

    status = 413


class Forbidden(ExtensionError, PermissionError):
    """A path outside the folders the extension may touch (403)."""

    status = 403


class NotFound(ExtensionError, LookupError):
    """No such job, thumbnail or index (404)."""

    status = 404


class Conflict(ExtensionError, RuntimeError):
    """The request does not fit the current state, e.g. cancelling a finished job (409)."""

    status = 409


SAFE_500 = "internal error in the voxcat server extension; the server log has the details"

#: catalogue errors whose messages are written for users, by status code
_MAPPED: tuple[tuple[type[BaseException], int], ...] = (
    (InputLimitError, 400),  # over a limit of catalog.inputs (README, "Limits")
    (QueryError, 400),  # includes UnknownFieldError with its "did you mean" hint
    (AnnotationError, 400),
    (ViewError, 400),
    (LineageError, 400),
    (ScanError, 400),
    (DatasetNotFound, 404),
    (IndexLockedError, 409),
    (DatasetUnavailable, 409),
    (PreviewCancelled, 409),
    (DiskFullError, 507),  # names the file and says nothing was changed
)


def status_and_message(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and client-safe message for an exception."""
    if isinstance(exc, ExtensionError):
        return exc.status, str(exc)
    for cls, status in _MAPPED:
        if isinstance(exc, cls):
            return status, str(exc)
    return 500, SAFE_500


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
