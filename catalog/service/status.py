"""Any exception as the HTTP status and client-safe message a server answers with.

Service errors carry their status; catalogue errors whose messages are written for
users map by class; anything else is a 500 whose message stays in the server log.

>>> from catalog.errors import DatasetNotFound
>>> status_and_message(DatasetNotFound("no dataset x"))
(404, 'no dataset x')
>>> status_and_message(RuntimeError("secret detail"))[0]
500
"""

from __future__ import annotations

from ..errors import (
    AnnotationError,
    DatasetNotFound,
    DatasetUnavailable,
    DiskFullError,
    IndexLockedError,
    InputLimitError,
    LineageError,
    PreviewCancelled,
    QueryError,
    RestrictedDataError,
    ScanError,
    ServiceError,
    UserError,
    ViewError,
)

SAFE_500 = "internal error in the voxcat server; the server log has the details"

#: catalogue errors whose messages are written for users, by status code
_MAPPED: tuple[tuple[type[BaseException], int], ...] = (
    (InputLimitError, 400),  # over a limit of catalog.inputs (README, "Limits")
    (QueryError, 400),  # includes UnknownFieldError with its "did you mean" hint
    (AnnotationError, 400),
    (ViewError, 400),
    (LineageError, 400),
    (ScanError, 400),
    (RestrictedDataError, 400),
    (UserError, 400),
    (DatasetNotFound, 404),
    (IndexLockedError, 409),
    (DatasetUnavailable, 409),
    (PreviewCancelled, 409),
    (DiskFullError, 507),  # names the file and says nothing was changed
)


def status_and_message(exc: BaseException) -> tuple[int, str]:
    """The HTTP status and client-safe message for an exception."""
    if isinstance(exc, ServiceError):
        return exc.status, str(exc)
    for cls, status in _MAPPED:
        if isinstance(exc, cls):
            return status, str(exc)
    return 500, SAFE_500
