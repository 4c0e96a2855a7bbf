"""Per-dataset work done in worker processes: metadata, checksum, thumbnail.

Everything here takes and returns plain picklable values. A failure in one step is
recorded with the file and the cause; the other steps still run (a dataset whose
metadata cannot be read still gets its checksum, so nothing is invisible).
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from pathlib import Path
from typing import Any

from ..errors import ReaderError, StorageError
from ..paths import display
from ..readers import ImageInfo, get_reader
from ..remote import check_unchanged, object_checksum
from .checksum import SAMPLED_ABOVE, SAMPLED_READ, combine, file_checksum, sampled_checksum
from .infer import infer_data_level
from .thumbnail import draw_thumbnail, labels_hint, store_thumbnail, thumbnail_png
from .walk import Candidate


@dataclasses.dataclass
class Result:
    candidate: Candidate
    info: ImageInfo | None = None
    checksum: str | None = None
    file_checksums: dict[str, str] = dataclasses.field(default_factory=dict)
    thumbnail: str | None = None  # relative to the cache folder
    png: bytes | None = None  # a thumbnail drawn on a cluster's worker, not yet stored
    labels: bool = False  # known to be labels when the thumbnail was drawn
    error: str | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    unread: int = 0  # bytes a sampled checksum did not read

    @property
    def ok(self) -> bool:
        return self.error is None


def _cause(exc: BaseException, path: Path | str) -> str:
    """A one-line message naming the file and the cause."""
    if isinstance(exc, ReaderError | StorageError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        name = display(exc.filename) if exc.filename else display(path)
        return f"{name}: {exc.strerror}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{display(path)}: {type(exc).__name__}: {text}"


def known_labels(info: ImageInfo, path: Path | str) -> bool:
    """Whether a dataset being scanned is known to be labels (a segmentation): its
    reader says ``data_level="segmentation"``, or the words of its own name and of its
    folder's do (``seg``, ``labels``, ``mask`` ...; the index infers from the whole path
    below the root, and a thumbnail drawn without the hint is redrawn once that is
    known), and its dtype is integer (:func:`.thumbnail.labels_hint`)."""
    level = info.data_level or infer_data_level("/".join(Path(path).parts[-2:]))
    return labels_hint(level, info.dtype)


def process(
    cand: Candidate, cache: Path | None, *, thumbnails: bool = True, full_checksums: bool = False
) -> Result:
    """Describe, checksum and draw one dataset; never raises.

    A file no reader claims and bigger than ``SAMPLED_ABOVE`` gets a sampled checksum
    (``"sampled:..."``) unless ``full_checksums``. The thumbnail is saved in ``cache``,
    or, with ``cache=None`` (a worker on a cluster, which may not see the index's
    folder), returned as PNG bytes in ``Result.png`` for :func:`store_png`."""
    t0 = time.perf_counter()
    res = Result(candidate=cand, warnings=list(cand.warnings))
    src = cand.source
    storage = src.storage
    # 0. an object that changed since the listing: the listed ETag would not match
    # what is read (its content, its metadata)
    if storage is not None:
        try:
            for f in cand.files[:1]:
                check_unchanged(storage, f.path, f.etag)
        except Exception as exc:
            res.error = _cause(exc, src.path)
            res.seconds = time.perf_counter() - t0
            return res
    # 1. checksum: always, so even unreadable datasets can be tracked and verified
    try:
        parts = []
        sample = cand.reader is None and not full_checksums
        for f in cand.files:
            if storage is not None:  # the object's bytes as they stream
                digest = object_checksum(storage, f.path, f.size)
            elif sample and f.size > SAMPLED_ABOVE:
                digest = sampled_checksum(f.path)
                res.unread += max(0, f.size - SAMPLED_READ)
            else:
                digest = file_checksum(f.path)
            res.file_checksums[f.rel] = digest
            parts.append((f.rel, digest))
        res.checksum = combine(parts) if parts else None
    except OSError as exc:
        res.error = _cause(exc, src.path)  # named by its URL below
    if cand.refused and res.error is None:
        res.error = cand.refused  # a data file outside the root: never read
    # 2. metadata
    if cand.reader is not None and res.error is None:
        try:
            if cand.size == 0:
                raise ReaderError(src.path, "empty file (0 bytes)")
            reader = get_reader(cand.reader)
            res.info = reader.describe(src)
            res.warnings.extend(res.info.warnings)
        except Exception as exc:
            res.error = _cause(exc, src.path)
            if cand.forced and cand.size:
                res.error += " (the file name suggests this format but its content does not match)"
        # 3. thumbnail
        if res.info is not None and thumbnails and res.checksum:
            res.labels = known_labels(res.info, src.path)
            if cache is None:
                res.png, warning = thumbnail_png(
                    reader, src, res.info, cause=lambda e: _cause(e, src.path), labels=res.labels
                )
            else:
                res.thumbnail, warning = draw_thumbnail(
                    reader,
                    src,
                    res.info,
                    cache,
                    res.checksum,
                    cause=lambda e: _cause(e, src.path),
                    labels=res.labels,
                )
            if warning:
                res.warnings.append(warning)
    # 4. what was read is one version of each object: else it fails with the cause
    if storage is not None and res.error is None:
        try:
            for f in cand.files[: 1 if len(cand.files) > 64 else None]:
                check_unchanged(storage, f.path, f.etag)
        except Exception as exc:
            res.error = _cause(exc, src.path)
            res.info, res.thumbnail = None, None
    if storage is not None and res.error and res.error.startswith(str(src.path) + ":"):
        res.error = src.location + res.error[len(str(src.path)) :]  # name it by its URL
    res.seconds = time.perf_counter() - t0
    return res


def process_safely(
    cand: Candidate, cache: Path | None, thumbnails: bool = True, full_checksums: bool = False
) -> Result:
    """:func:`process` with a last-resort guard (for pool workers)."""
    try:
        return process(cand, cache, thumbnails=thumbnails, full_checksums=full_checksums)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise  # Ctrl-C and cancellation stop the scan; finished work is already saved
    except BaseException as exc:  # never let a worker die on one dataset
        res = Result(candidate=cand, error=_cause(exc, cand.source.path))
        res.warnings.append("".join(traceback.format_exception_only(exc)).strip())
        return res


def process_on_cluster(
    cand: Candidate, thumbnails: bool = True, full_checksums: bool = False
) -> Result:
    """:func:`process_safely` as a task on a Dask cluster's worker: it reads the
    dataset and returns everything, thumbnail included as PNG bytes; it writes
    nothing (the scanning process stores the thumbnail with :func:`store_png`)."""
    return process_safely(cand, None, thumbnails, full_checksums)


def store_png(res: Result, cache: Path) -> Result:
    """Save the PNG a cluster's worker drew for ``res`` into ``cache`` (unless a
    thumbnail of that content is there) and name it in ``res.thumbnail``; a failed
    write becomes a warning, as in :func:`process`."""
    png, res.png = res.png, None
    if png is not None and res.checksum:
        src = res.candidate.source.path
        res.thumbnail, warning = store_thumbnail(
            png, cache, res.checksum, cause=lambda e: _cause(e, src), labels=res.labels
        )
        if warning:
            res.warnings.append(warning)
    return res


def cluster_failure(cand: Candidate, exc: BaseException) -> Result:
    """The result of a dataset whose task failed on a cluster: the task raised
    (``exc``), or the workers running it died (``KilledWorker``, after Dask's
    retries: a decoder fault on damaged data, a worker out of memory)."""
    if type(exc).__name__ == "KilledWorker":
        error = (
            f"{display(cand.source.path)}: the Dask workers reading it died "
            "(a decoder fault on damaged data, or out of memory)"
        )
    else:
        error = _cause(exc, cand.source.path) + " (on the Dask cluster)"
    return Result(candidate=cand, error=error)


def summarise_info(info: ImageInfo) -> dict[str, Any]:
    """Fields of an ImageInfo for logs and ``--json`` output."""
    return {
        "shape": list(info.shape),
        "dtype": info.dtype,
        "axes": info.axes,
        "modality": info.modality,
    }
