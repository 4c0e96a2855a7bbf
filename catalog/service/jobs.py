"""Background jobs of the server extension: scans, preview pyramids, exports.

Jobs live in the server process, keyed by id, so a browser reload finds them again.
Each kind has its own one-worker queue: two scans of one index never fight over its
write lock, and a long export does not hold up a preview. A job function runs in
that worker thread, reports ``progress`` (0..1) and ``detail`` on its :class:`Job`,
watches ``job.cancel_requested`` and returns a JSON-ready result summary; the
catalogue functions it calls write the index and its audit log.

A job belongs to the account that started it (``owner``; ``None`` for the local user):
an account sees and cancels its own jobs only, an admin and the local user all of them.
"""

from __future__ import annotations

import builtins
import concurrent.futures as cf
import dataclasses
import datetime as dt
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import CatalogError, Conflict, NotFound, PreviewCancelled
from .params import jsonable
from .status import SAFE_500

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED = frozenset({DONE, FAILED, CANCELLED})
KEEP_FINISHED = 200  # finished jobs remembered (oldest forgotten first)


class JobCancelled(Exception):
    """Raised by a job function that stopped because it was asked to."""


def _iso(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


@dataclasses.dataclass
class Job:
    """One background job and everything a client may ask about it."""

    kind: str
    args: dict[str, Any]
    id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:16])
    status: str = QUEUED
    progress: float = 0.0
    detail: dict[str, Any] = dataclasses.field(default_factory=dict)
    created: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    result: Any = None
    error: str | None = None
    owner: str | None = None
    cancel_event: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_event.is_set()

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "id": self.id,
                "kind": self.kind,
                "user": self.owner,
                "args": self.args,
                "status": self.status,
                "progress": round(min(max(self.progress, 0.0), 1.0), 4),
                "detail": self.detail,
                "created": _iso(self.created),
                "started": _iso(self.started),
                "finished": _iso(self.finished),
                "result": self.result,
                "error": self.error,
                # the Dask dashboard of a job running on a cluster (else None)
                "dashboard": self.detail.get("dashboard"),
            }
        )


JobFunction = Callable[[Job], Any]


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, CatalogError | OSError):
        return str(exc)
    return f"{SAFE_500} ({type(exc).__name__})"


def _may_see(viewer: Any, job: Job) -> bool:
    """Whether an account sees a job: its own, or all as an admin (``None``: all)."""
    return viewer is None or viewer.role == "admin" or job.owner == viewer.name


class JobManager:
    """The jobs of one server: submit, list, look up and cancel them."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queues: dict[str, cf.ThreadPoolExecutor] = {}
        self._closed = False

    def submit(
        self, kind: str, args: dict[str, Any], fn: JobFunction, owner: str | None = None
    ) -> Job:
        """Queue ``fn(job)`` behind earlier jobs of the same kind; returns the job."""
        job = Job(kind=kind, args=args, owner=owner)
        with self._lock:
            if self._closed:
                raise Conflict("the server is shutting down; no new jobs")
            self._jobs[job.id] = job
            self._forget_old()
            queue = self._queues.get(kind)
            if queue is None:
                queue = cf.ThreadPoolExecutor(1, thread_name_prefix=f"voxcat-{kind}")
                self._queues[kind] = queue
            queue.submit(self._run, job, fn)
        return job

    def _run(self, job: Job, fn: JobFunction) -> None:
        if job.cancel_requested:
            self._finish(job, CANCELLED)
            return
        job.status, job.started = RUNNING, time.time()
        try:
            result = fn(job)
        except (JobCancelled, PreviewCancelled, KeyboardInterrupt):
            self._finish(job, CANCELLED)
        except Exception as exc:
            log.warning("voxcat %s job %s failed", job.kind, job.id, exc_info=True)
            self._finish(job, FAILED, error=_failure_message(exc))
        else:
            job.progress = 1.0
            self._finish(job, DONE, result=jsonable(result))

    def _finish(
        self, job: Job, status: str, *, result: Any = None, error: str | None = None
    ) -> None:
        job.result, job.error, job.finished = result, error, time.time()
        job.status = status  # last: a client that sees the status sees the rest too

    def _forget_old(self) -> None:
        done = [j for j in self._jobs.values() if j.status in FINISHED]
        for job in done[: max(0, len(done) - KEEP_FINISHED)]:
            del self._jobs[job.id]

    def get(self, job_id: str, viewer: Any = None) -> Job:
        """The job ``job_id``, if ``viewer`` (a :class:`catalog.users.User`, or
        ``None``: anyone) may see it; else :class:`NotFound`."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or not _may_see(viewer, job):
            raise NotFound(f"no job {job_id[:40]!r} on this server (jobs end with the server)")
        return job

    def list(self, viewer: Any = None) -> list[Job]:
        """The remembered jobs ``viewer`` may see (``None``: all), newest first."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if _may_see(viewer, j)]
        return sorted(jobs, key=lambda j: j.created, reverse=True)

    def cancel(self, job_id: str, viewer: Any = None) -> Job:
        """Ask a queued or running job to stop; :class:`Conflict` if it has finished."""
        job = self.get(job_id, viewer)
        if job.status in FINISHED:
            raise Conflict(f"job {job_id} has already finished ({job.status})")
        job.cancel_event.set()
        return job

    def active(self) -> builtins.list[Job]:
        return [j for j in self.list() if j.status not in FINISHED]

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel every job and wait up to ``timeout`` seconds for them to stop."""
        with self._lock:
            self._closed = True
            jobs, queues = list(self._jobs.values()), list(self._queues.values())
        for job in jobs:
            job.cancel_event.set()
        deadline = time.monotonic() + timeout
        while any(j.status not in FINISHED for j in jobs) and time.monotonic() < deadline:
            time.sleep(0.05)
        for queue in queues:
            queue.shutdown(wait=False, cancel_futures=True)
