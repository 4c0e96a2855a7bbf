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
from .thumbnail import draw_thumbnail
from .walk import Candidate


@dataclasses.dataclass
class Result:
    candidate: Candidate
    info: ImageInfo | None = None
    checksum: str | None = None
    file_checksums: dict[str, str] = dataclasses.field(default_factory=dict)
    thumbnail: str | None = None  # relative to the cache folder
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


def process(
    cand: Candidate, cache: Path, *, thumbnails: bool = True, full_checksums: bool = False
) -> Result:
    """Describe, checksum and draw one dataset; never raises.

    A file no reader claims and bigger than ``SAMPLED_ABOVE`` gets a sampled checksum
    (``"sampled:..."``) unless ``full_checksums``."""
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
            res.thumbnail, warning = draw_thumbnail(
                reader, src, res.info, cache, res.checksum, cause=lambda e: _cause(e, src.path)
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
    cand: Candidate, cache: Path, thumbnails: bool = True, full_checksums: bool = False
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


def summarise_info(info: ImageInfo) -> dict[str, Any]:
    """Fields of an ImageInfo for logs and ``--json`` output."""
    return {
        "shape": list(info.shape),
        "dtype": info.dtype,
        "axes": info.axes,
        "modality": info.modality,
    }
