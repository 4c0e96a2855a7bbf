"""Named exceptions of the ``catalog`` package.

Every error subclasses a builtin so callers can catch what they already know
(``KeyError`` for a missing dataset, ``TimeoutError`` for a locked index), and every
message says what to do next.
"""

from __future__ import annotations

import errno
from pathlib import Path


class CatalogError(Exception):
    """Base class of every voxcat error."""


class ReaderError(CatalogError, ValueError):
    """A file could not be read by the reader that claimed it.

    The message always names the file and the cause, e.g.
    ``/data/a.tif: truncated file (expected 4096 bytes of pixel data, found 12)``.
    """

    def __init__(self, path: str | Path, cause: str) -> None:
        from .paths import display

        self.path = str(path)
        self.cause = cause
        # printable: a name that is not UTF-8 shows its bytes as \xNN
        super().__init__(f"{display(self.path)}: {cause}")

    def __reduce__(self) -> tuple:  # picklable across worker processes
        return (type(self), (self.path, self.cause))


class UnsupportedFormatError(ReaderError):
    """No installed reader can open this file."""


class ReaderNotFound(CatalogError, KeyError):
    """A reader name that is neither built in nor registered through an entry point."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0]) if self.args else ""


class IndexError_(CatalogError):
    """Base class of errors about the DuckDB index file."""


class IndexLockedError(IndexError_, TimeoutError):
    """Another process held the index longer than the lock timeout."""


class IndexVersionError(IndexError_, RuntimeError):
    """The index was written by a newer voxcat than this one."""


class NotAnIndexError(IndexError_, ValueError):
    """The index path names a file that is not a voxcat index (not a DuckDB database)."""


class DatasetNotFound(CatalogError, KeyError):
    """No dataset with this id exists in the index."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DatasetUnavailable(CatalogError, RuntimeError):
    """A dataset is in the index but cannot be read: missing, failed, or not an image."""


class QueryError(CatalogError, ValueError):
    """A search value that cannot be understood (a bad range, unit or date)."""


class UnknownFieldError(QueryError, KeyError):
    """A search or sort key that is neither a field nor a nested metadata key."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CatalogMismatch(CatalogError, ValueError):
    """Catalogues of different indexes combined with ``|``, ``&`` or ``-``."""


class LineageError(CatalogError, ValueError):
    """A lineage link or save that cannot be recorded (unknown ids, a cycle, bad params)."""


class AnnotationError(CatalogError, ValueError):
    """A tag, note or field value that cannot be recorded."""


class InputLimitError(CatalogError, ValueError):
    """An input outside the limits voxcat states (README, "Limits"): a search of too
    many words, a tag or note too long, a number out of range, or characters voxcat does
    not store (NUL and other control characters, unpaired surrogates). The message names
    the input and the limit."""


class QueryLimitError(InputLimitError, QueryError):
    """A search over a stated limit (too many words or values, a number out of range)."""


class AnnotationLimitError(InputLimitError, AnnotationError):
    """A tag, note or field value over a stated limit or holding refused characters."""


class ScanError(CatalogError, OSError):
    """A scan could not start (missing root, unreadable root, bad pattern)."""


class DriveConflict(CatalogError, RuntimeError):
    """A drive mounted at a new place whose datasets' new paths the index already holds
    for other datasets (another drive that was mounted there once)."""


class PolicyError(CatalogError, ValueError):
    """A copy policy (or an offsite mark) that cannot be set: a bad rule, a drive no
    name matches (catalog/policies.py)."""


class Cancelled(CatalogError):
    """A long operation stopped because its ``cancel`` flag was set (see
    :mod:`catalog.progress`); what it finished is kept, as on Ctrl-C."""


class ScanCancelled(Cancelled):
    """A scan stopped on ``cancel``: the datasets it finished are saved and the scan
    is marked ``interrupted``; scanning again continues where it stopped."""


class VerifyCancelled(Cancelled):
    """A ``verify`` stopped on ``cancel``: nothing was recorded (its audit rows are
    written only when every file was checked); verifying again starts over."""


class DiskFullError(CatalogError, OSError):
    """The disk holding the index (or its thumbnails) is full. The message names the
    file and says what was saved, e.g. ``no space left on device writing lab.duckdb;
    1,234 datasets were saved, free some space and rerun the scan to continue``:
    ``cause`` and ``saved`` are the two halves."""

    def __init__(self, cause: str, saved: str) -> None:
        super().__init__(f"{cause}; {saved}")
        self.cause, self.saved = cause, saved

    def __str__(self) -> str:
        return f"{self.cause}; {self.saved}"

    def __reduce__(self) -> tuple:
        return (type(self), (self.cause, self.saved))


class NotRegularFileError(CatalogError, OSError):
    """A path voxcat would read is a named pipe, socket, device or folder: only regular
    files are ever opened, so nothing can block or stream forever. The message names the
    file and what it is, e.g. ``/data/a.zarr/0.0: a named pipe (FIFO), not a regular
    file; not read``."""

    def __init__(self, path: str | Path, kind: str) -> None:
        super().__init__(errno.EINVAL, f"{kind}, not a regular file; not read", str(path))
        self.kind = kind

    def __str__(self) -> str:
        from .paths import display

        return f"{display(self.filename)}: {self.strerror}"

    def __reduce__(self) -> tuple:  # picklable across worker processes
        return (type(self), (self.filename, self.kind))


class OutsideRootError(CatalogError, PermissionError):
    """A path leads out of the folder voxcat may read: a symlink to elsewhere, or a
    header naming its data file with ``..`` or an absolute path. The message names the
    path, where it leads and how to allow it (``--follow-links`` for links)."""

    def __init__(self, path: str | Path, cause: str) -> None:
        super().__init__(errno.EACCES, cause, str(path))

    def __str__(self) -> str:
        from .paths import display

        return f"{display(self.filename)}: {self.strerror}"

    def __reduce__(self) -> tuple:
        return (type(self), (self.filename, self.strerror))


class StorageError(CatalogError, OSError):
    """Object storage (``s3://``, ``gs://``, any fsspec protocol) could not be read; the
    message names the URL and the cause (``catalog/remote.py``)."""


class StorageUnreachable(StorageError, ConnectionError):
    """The storage endpoint did not answer (refused, unknown host, timeout): check
    ``--storage-option endpoint_url=...`` / ``AWS_ENDPOINT_URL`` and the network."""


class BucketNotFound(StorageError, FileNotFoundError):
    """The bucket (or the prefix) named by a URL does not exist."""


class StorageAccessDenied(StorageError, PermissionError):
    """The storage refused the request: missing or insufficient credentials."""


class ObjectChanged(StorageError):
    """An object changed (its ETag) while a scan read it: the dataset is recorded failed
    with this cause and read again by the next scan."""


class ImportTableError(CatalogError, ValueError):
    """A table to import is missing, unreadable, empty or has no path column."""


class UserError(CatalogError, ValueError):
    """A lab account (``catalog.users``) that cannot be created or changed: a bad name,
    role, group or password."""


class UserExistsError(UserError):
    """``add_user`` with the name of an account that already exists."""


class UserNotFound(UserError, KeyError):
    """No account with this name exists in the index."""

    def __str__(self) -> str:  # KeyError would print the repr of its message
        return str(self.args[0]) if self.args else ""


class UserDisabledError(UserError, PermissionError):
    """The account was disabled: it can no longer log in or get tokens."""


class VoxcatWarning(UserWarning):
    """Base class of every warning voxcat gives: filter them all with
    ``warnings.filterwarnings("ignore", category=VoxcatWarning)``.

    >>> issubclass(PreviewWarning, VoxcatWarning)
    True
    """


class ReaderPluginWarning(VoxcatWarning, RuntimeWarning):
    """A reader plugin (entry point ``voxcat.readers``) was ignored: it failed to load
    or uses a built-in reader's name."""


class IndexNotRecordedWarning(VoxcatWarning, RuntimeWarning):
    """Finished work that the index could not record (an export's audit rows)."""


class CleanupWarning(VoxcatWarning, RuntimeWarning):
    """Leftovers of interrupted work were found and removed (``cat.save``'s store)."""


class ListingWarning(VoxcatWarning):
    """The listing snapshot could not be written; searches use DuckDB alone until it
    is (slower on big indexes, same answers)."""


class ImportTableWarning(VoxcatWarning):
    """An import recorded rows that search will not show (plain files, not datasets),
    or remote datasets this machine has no package to read."""


__all__ = [
    "AnnotationError",
    "AnnotationLimitError",
    "Cancelled",
    "CatalogError",
    "CatalogMismatch",
    "CleanupWarning",
    "DatasetNotFound",
    "DatasetUnavailable",
    "DiskFullError",
    "ImportTableError",
    "ImportTableWarning",
    "IndexError_",
    "IndexLockedError",
    "IndexNotRecordedWarning",
    "IndexVersionError",
    "InputLimitError",
    "LineageError",
    "ListingWarning",
    "NotAnIndexError",
    "NotRegularFileError",
    "OutsideRootError",
    "QueryError",
    "QueryLimitError",
    "ReaderError",
    "ReaderNotFound",
    "ReaderPluginWarning",
    "ScanCancelled",
    "ScanError",
    "UnknownFieldError",
    "UnsupportedFormatError",
    "VerifyCancelled",
    "VoxcatWarning",
]


# -- previews and 2-D views (catalog.preview) -------------------------------------------


class ViewError(CatalogError, ValueError):
    """A 2-D view that does not fit the dataset: an unknown dimension, an index or a
    window outside the dataset, or a dimension asked for twice."""


class PreviewError(CatalogError, RuntimeError):
    """A preview pyramid could not be built or read; the message names the dataset."""


class PreviewCancelled(PreviewError):
    """A preview build was cancelled (``job.cancel()``); nothing was kept."""


class PreviewWarning(VoxcatWarning):
    """A view was read the slow way; building a preview pyramid makes it faster."""


__all__ += [
    "BucketNotFound",
    "ObjectChanged",
    "StorageAccessDenied",
    "StorageError",
    "StorageUnreachable",
]
__all__ += ["PreviewCancelled", "PreviewError", "PreviewWarning", "ViewError"]


# -- export of curated subsets (catalog.export) -----------------------------------------


class ExportError(CatalogError, RuntimeError):
    """An export could not be written: an empty or unsuitable selection, missing or
    failed datasets, a destination holding something else, or a copy that does not
    match the index."""


class RestrictedDataError(ExportError, PermissionError):
    """The selection holds datasets whose ``access`` is ``restricted``; the message
    names them (pass ``allow_restricted=True`` if you may share them)."""


class ExportCancelled(Cancelled):
    """An export stopped on ``cancel``: as on Ctrl-C, the folder keeps what was
    verified (and a Zarr conversion the chunks it logged) and running the same export
    again finishes it."""


__all__ += ["ExportCancelled", "ExportError", "RestrictedDataError"]


# -- the catalogue server (catalog.service; `voxcat serve` and the Jupyter extension) ---
class ServiceError(CatalogError):
    """Base of errors a catalogue server answers with an HTTP status (``status``)."""

    status = 500


class BadRequest(ServiceError, ValueError):
    """A malformed request: a bad parameter, id, path or JSON body (400)."""

    status = 400


class Unauthenticated(ServiceError, PermissionError):
    """A request without valid credentials (401)."""

    status = 401


class Forbidden(ServiceError, PermissionError):
    """What the account may not do: a role below the one needed, or a path outside
    the folders the server may touch (403)."""

    status = 403


class NotFound(ServiceError, LookupError):
    """No such job, thumbnail or index (404)."""

    status = 404


class Conflict(ServiceError, RuntimeError):
    """The request does not fit the current state, e.g. cancelling a finished job (409)."""

    status = 409


class PayloadTooLarge(ServiceError, ValueError):
    """A request body over the size the server reads (413)."""

    status = 413


__all__ += [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "ServiceError",
    "Unauthenticated",
]


# -- the remote catalogue client (catalog.client) ----------------------------------------
class RemoteError(CatalogError):
    """Base of errors of talking to a catalogue server over HTTP (:mod:`catalog.client`)
    that are no answer of the server's: it could not be reached, did not answer in
    time, or is no voxcat server."""


class ServerUnreachable(RemoteError, ConnectionError):
    """No connection to the catalogue server (refused, unknown host, TLS failure); the
    message names the URL and the cause."""


class ServerTimeout(ServerUnreachable, TimeoutError):
    """The catalogue server accepted the connection but did not answer within the
    client's ``timeout`` (``open_remote(url, timeout=...)``)."""


class NotAVoxcatServer(RemoteError, ValueError):
    """The URL answers, but with no voxcat REST API under ``<url>/api/`` or
    ``<url>/voxcat/api/``; the message says which URLs were tried."""


class ServerError(ServiceError, RuntimeError):
    """The catalogue server (or a proxy in front of it) failed: a 5xx answer. ``status``
    is the answer's status; the message holds what the server said."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple:
        return (type(self), (str(self), self.status))


class RemoteQueryError(BadRequest, QueryError):
    """A search, sort or facet request the catalogue server refused (400): a bad value,
    an unknown field (with the server's "did you mean" hint) or a limit; caught by
    ``except QueryError`` as the local catalogue's errors are."""


__all__ += [
    "NotAVoxcatServer",
    "RemoteError",
    "RemoteQueryError",
    "ServerError",
    "ServerTimeout",
    "ServerUnreachable",
]


# -- work on a Dask cluster (catalog.cluster) --------------------------------------------
class ClusterError(CatalogError):
    """Base of errors of running work on a Dask distributed cluster
    (:mod:`catalog.cluster`)."""


class BadSchedulerAddress(ClusterError, ValueError):
    """A scheduler address that is no Dask address (an unknown scheme such as
    ``http://``); give one like ``tcp://host:8786``."""


class ClusterUnreachable(ClusterError, ConnectionError):
    """No connection to the Dask scheduler within the connect timeout; the message
    names the address, the cause and what to check."""

    def __init__(self, address: str, cause: str) -> None:
        self.address = address
        self.cause = cause
        super().__init__(
            f"cannot reach the Dask scheduler at {address}: {cause}; start one "
            f"(`dask scheduler` and `dask worker {address}`) or check the address "
            "(--scheduler or VOXCAT_DASK_SCHEDULER)"
        )

    def __reduce__(self) -> tuple:
        return (type(self), (self.address, self.cause))


__all__ += ["BadSchedulerAddress", "ClusterError", "ClusterUnreachable"]


# -- migration off old drives (catalog.migration) ----------------------------------------
class MigrationError(CatalogError, RuntimeError):
    """A migration could not copy a dataset: an empty selection, an unusable target, a
    file in the way of a copy, or a copy that does not match the index."""


class SourceChanged(MigrationError):
    """A source file differs from what the index recorded (size, modification time or
    checksum): the dataset is refused and nothing is recorded for it. ``path`` names
    the file; rescan the drive (``voxcat scan``) to index what is there now."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path

    def __reduce__(self) -> tuple:
        return (type(self), (str(self), self.path))


class MigrationCancelled(Cancelled):
    """A migration stopped on ``cancel``: the copies verified so far are recorded and
    running the same migration again finishes the rest."""


__all__ += ["MigrationCancelled", "MigrationError", "SourceChanged"]
