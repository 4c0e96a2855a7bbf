"""A "build preview" button for big datasets without a pyramid: starts
``catalog.preview.preview_job`` and shows its progress without blocking the kernel.

>>> button = PreviewButton(cat.index, "k2x9q4m1abcd", on_done=print)   # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

import ipywidgets as W

from .timers import Handle, call_later


class JobLike(Protocol):
    """The interface of the job ``preview_job`` returns."""

    @property
    def progress(self) -> float: ...

    def done(self) -> bool: ...

    def result(self) -> Any: ...

    def cancel(self) -> Any: ...


def _preview_job(index: str | os.PathLike[str], dataset_id: str) -> JobLike:
    from catalog.preview import preview_job

    return preview_job(index, dataset_id)


class PreviewButton:
    """Button, progress bar and cancel button for one dataset's preview pyramid.

    ``on_done(result)`` runs (on the kernel's event loop) when the job has finished;
    ``poll()`` advances the display by hand (tests, scripts).
    """

    def __init__(
        self,
        index: str | os.PathLike[str],
        dataset_id: str,
        *,
        on_done: Callable[[Any], None],
        job_factory: Callable[[Any, str], JobLike] | None = None,
        interval: float = 0.25,
    ) -> None:
        self.index, self.dataset_id = index, dataset_id
        self.interval = float(interval)
        self.job: JobLike | None = None
        self._on_done = on_done
        self._factory = job_factory or _preview_job
        self._timer: Handle | None = None
        self._lock = threading.RLock()
        self.finished = False  # the job ended and ``on_done`` ran
        self._reporting = False
        self.button = W.Button(
            description="build preview",
            icon="layer-group",
            tooltip="Write a downsampled pyramid so this dataset browses quickly",
        )
        self.progress = W.FloatProgress(min=0.0, max=1.0, layout={"width": "200px"})
        self.cancel_button = W.Button(description="cancel", icon="stop", disabled=True)
        self.status = W.Label("large dataset without a pyramid: browsing reads full planes")
        self.button.on_click(lambda _: self.start())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.box = W.HBox([self.button, self.progress, self.cancel_button, self.status])

    def start(self) -> None:
        """Start the job (once) and begin showing its progress."""
        if self.job is not None:
            return
        self.job = self._factory(self.index, self.dataset_id)
        self.button.disabled = True
        self.cancel_button.disabled = False
        self.status.value = "building preview…"
        self.poll()

    def poll(self) -> None:
        """Show the job's progress; when it is done, report and stop polling."""
        with self._lock:
            job = self.job
            if job is None or self.finished or self._reporting:
                return
            self.progress.value = min(max(float(job.progress or 0.0), 0.0), 1.0)
            if not job.done():
                self._timer = call_later(self.interval, self.poll)
                return
            self._timer = None
            self._reporting = True  # only one poll reports; ``finished`` flips last
        self.cancel_button.disabled = True
        try:
            result = job.result()
        except Exception as exc:  # the job's own error, shown to the user
            self.status.value = f"preview failed: {exc}"
            self.button.disabled = False
            self.job, self.finished, self._reporting = None, False, False
            return
        self.progress.value = 1.0
        self.status.value = "preview ready" if result is not None else "no preview needed"
        self._on_done(result)
        self.finished, self._reporting = True, False

    def cancel(self) -> None:
        """Cancel a running job."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.job is not None:
            self.job.cancel()
        self.job, self.finished = None, False
        self.button.disabled = False
        self.cancel_button.disabled = True
        self.status.value = "cancelled"
