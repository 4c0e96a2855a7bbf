"""Building previews in the background, without blocking a notebook kernel.

>>> job = preview_job("lab.duckdb", "k2x9q4m1abcd")     # doctest: +SKIP
>>> job.progress                                         # doctest: +SKIP
0.42
>>> job.result()                                         # doctest: +SKIP
PosixPath('lab.voxcat/previews/5f2a....ome.zarr')
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PreviewCancelled
from .pyramid import BLOCK_BYTES, TARGET
from .store import PREVIEW_MIN_BYTES, ensure_preview


def _in_terminal() -> bool:
    """A tty on stderr and no Jupyter kernel (where the widgets show progress)."""
    return "ipykernel" not in sys.modules and bool(getattr(sys.stderr, "isatty", bool)())


class PreviewJob:
    """A preview build running in a daemon thread (numpy, file I/O and zarr release the
    GIL, so the kernel stays responsive). Mirrors ``concurrent.futures.Future``.

    ``progress`` goes from 0 to 1; ``result()`` waits and returns the preview's path
    (None when the dataset needs none) or raises what the build raised;
    ``cancel()`` stops the build at the next block and keeps nothing.
    """

    def __init__(
        self,
        index: str | os.PathLike[str] | None,
        dataset_id: str,
        *,
        min_bytes: int = PREVIEW_MIN_BYTES,
        block_bytes: int = BLOCK_BYTES,
        target: int = TARGET,
        bar: bool | None = None,
        scheduler: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.index, self.dataset_id = index, dataset_id
        self.scheduler = scheduler
        self.storage_options = dict(storage_options or {})
        self._future: cf.Future[Path | str | None] = cf.Future()
        self._cancel = threading.Event()
        self._progress = 0.0
        self._bar: Any = None
        if bar if bar is not None else _in_terminal():
            from tqdm import tqdm

            self._bar = tqdm(total=100, desc=f"preview {dataset_id}", unit="%")
        self._thread = threading.Thread(
            target=self._run,
            args=(min_bytes, block_bytes, target),
            name=f"voxcat-preview-{dataset_id}",
            daemon=True,
        )
        self._future.set_running_or_notify_cancel()
        self._thread.start()

    def _update(self, fraction: float) -> None:
        self._progress = fraction
        if self._bar is not None:
            self._bar.n = round(100 * fraction, 1)
            self._bar.refresh()

    def _run(self, min_bytes: int, block_bytes: int, target: int) -> None:
        try:
            path = ensure_preview(
                self.index,
                self.dataset_id,
                progress=self._update,
                min_bytes=min_bytes,
                cancel=self._cancel,
                block_bytes=block_bytes,
                target=target,
                scheduler=self.scheduler,
                storage_options=self.storage_options,
            )
        except BaseException as exc:
            self._future.set_exception(exc)
        else:
            self._progress = 1.0
            self._future.set_result(path)
        finally:
            if self._bar is not None:
                self._bar.close()

    @property
    def progress(self) -> float:
        """Fraction of the build done, 0..1 (1 once finished, also when nothing was needed)."""
        return self._progress

    def done(self) -> bool:
        """Whether the build finished, failed or was cancelled."""
        return self._future.done()

    def running(self) -> bool:
        return not self._future.done()

    def cancelled(self) -> bool:
        """Whether the build stopped because :meth:`cancel` was called."""
        return self._future.done() and isinstance(self._future.exception(), PreviewCancelled)

    def cancel(self) -> bool:
        """Ask the build to stop; True unless it had already finished."""
        if self._future.done():
            return False
        self._cancel.set()
        return True

    def result(self, timeout: float | None = None) -> Path | str | None:
        """Wait for the build; raises ``TimeoutError`` after ``timeout`` seconds. The
        preview's folder, or its URL when the index keeps previews in object storage."""
        return self._future.result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        return self._future.exception(timeout)

    def add_done_callback(self, fn: Any) -> None:
        """Call ``fn(job)`` when the build ends (in the build's thread)."""
        self._future.add_done_callback(lambda _f: fn(self))

    def __repr__(self) -> str:
        state = "done" if self.done() else f"{self._progress:.0%}"
        return f"<PreviewJob {self.dataset_id} {state}>"


def preview_job(
    index: str | os.PathLike[str] | None,
    dataset_id: str,
    *,
    min_bytes: int = PREVIEW_MIN_BYTES,
    block_bytes: int = BLOCK_BYTES,
    target: int = TARGET,
    bar: bool | None = None,
    scheduler: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> PreviewJob:
    """Start building a dataset's preview in the background and return the job.

    ``bar`` shows a tqdm bar (default: when run from a terminal, not in a kernel);
    the other options are those of :func:`~catalog.preview.ensure_preview` (with
    ``scheduler``, the build runs on that Dask cluster; ``cancel()`` cancels its tasks;
    ``storage_options`` add credentials for previews kept in object storage).

    >>> job = preview_job("lab.duckdb", "k2x9q4m1abcd")   # doctest: +SKIP
    >>> job.cancel()                                       # doctest: +SKIP
    True
    """
    return PreviewJob(
        index,
        dataset_id,
        min_bytes=min_bytes,
        block_bytes=block_bytes,
        target=target,
        bar=bar,
        scheduler=scheduler,
        storage_options=storage_options,
    )
