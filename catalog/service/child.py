"""Scans, exports and verifications in a child process, so they never block the server
and can be cancelled.

The child (``python -m catalog.service.child SPEC.json``) runs ``catalog.scan`` or
``catalog.export.export_catalog`` with a ``progress`` callback, which writes each
:class:`~catalog.progress.Progress` next to the spec for the parent to read, and a
``cancel`` event. Cancelling sends the child SIGINT, which sets that event: a scan
keeps every finished dataset and marks itself ``interrupted`` in the index, an export
keeps what it verified and resumes when run again (``catalog.errors.Cancelled``);
after a grace period the child is killed. SIGTERM stops it the same way, and so does
the death of the server: a watchdog in the child sets the event, kills the child after
the grace period, and its worker processes follow it (``catalog.scanner.pool``).

A spec with ``"user"`` runs for that account: the child's ``VOXCAT_USER`` is its name
(the audit rows of the scan or export name it), and an export reads through the
catalogue bound to the account, so it exports only what the account can see.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import Cancelled
from .jobs import Job, JobCancelled

POLL_SECONDS = 0.25
WATCH_SECONDS = 0.5  # how often the child checks that the server is still there
PROGRESS_SECONDS = 1.0
GRACE_SECONDS = 20.0  # after SIGINT, before the child is killed
LOG_TAIL = 2000
#: niceness a job's process adds to its own (``VOXCAT_JOB_NICE``)
NICE = int(os.environ.get("VOXCAT_JOB_NICE", "5"))


class ChildJobError(OSError):
    """The scan or export failed; the message is its own."""


ProgressHandler = Callable[[dict[str, Any]], None]


def run_in_child(
    job: Job, spec: dict[str, Any], progress: ProgressHandler | None = None
) -> dict[str, Any]:
    """Run ``spec`` (``{"kind": "scan" | "export", ...}``) in a child process, calling
    ``progress(report)`` with the newest progress report of the scan or export (a
    :meth:`~catalog.progress.Progress.to_dict`) about once a second and once at the
    end; returns the child's summary."""
    with tempfile.TemporaryDirectory(prefix=f"voxcat-{spec['kind']}-") as tmp:
        spec_file, result_file, log_file, progress_file = (
            Path(tmp) / n for n in ("spec", "result", "log", "progress")
        )
        spec_file.write_text(
            json.dumps(
                {
                    **spec,
                    "result": str(result_file),
                    "progress": str(progress_file),
                    "server": os.getpid(),
                }
            )
        )
        with open(log_file, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "catalog.service.child", str(spec_file)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(spec.get("user")),
            )
        job.detail = {**job.detail, "phase": spec["kind"] + "ning"}
        reader = _ProgressReader(progress_file, progress)
        _watch(job, proc, reader)
        reader.read()  # what it reported in the end
        if not result_file.exists():
            if job.cancel_requested:  # interrupted before it could report (starting up)
                raise JobCancelled()
            raise ChildJobError(
                f"the {spec['kind']} process ended without a report ({_last_line(log_file)})"
            )
        outcome = json.loads(result_file.read_text())
    if outcome["status"] == "cancelled":
        raise JobCancelled()
    if outcome["status"] == "failed":
        raise ChildJobError(outcome["error"])
    return outcome["report"]


def child_env(user: str | None) -> dict[str, str]:
    """The environment of a job's child: the server's, acting for ``user`` if given
    (``VOXCAT_USER``; a Hub user of the server's own would take precedence, so it goes).

    >>> child_env("ada")["VOXCAT_USER"]
    'ada'
    """
    env = dict(os.environ)
    if user:
        env.pop("JUPYTERHUB_USER", None)
        env["VOXCAT_USER"] = user
    return env


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = path.read_text(errors="replace").strip()[-LOG_TAIL:].splitlines()
        if lines:
            return lines[-1]
    return "no output"


class _ProgressReader:
    """Hands the child's newest progress report (a JSON file it replaces) to
    ``handler``, once per report."""

    def __init__(self, path: Path, handler: ProgressHandler | None) -> None:
        self.path, self.handler = path, handler
        self._last: str | None = None

    def read(self) -> None:
        if self.handler is None:
            return
        try:
            text = self.path.read_text()
        except OSError:  # none yet
            return
        if text == self._last:
            return
        self._last = text
        try:
            report = json.loads(text)
        except ValueError:  # pragma: no cover - the child replaces the file whole
            return
        self.handler(report)


class _ProgressWriter:
    """The child's progress callback: each report replaces a JSON file, whole."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None

    def __call__(self, progress: Any) -> None:
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(OSError):  # progress is not worth failing the job for
            tmp.write_text(json.dumps(progress.to_dict(), default=str))
            os.replace(tmp, self.path)


def _watch(job: Job, proc: subprocess.Popen, progress: _ProgressReader) -> None:
    interrupted_at: float | None = None
    next_poll = time.monotonic() + PROGRESS_SECONDS / 2
    while True:
        try:
            proc.wait(timeout=POLL_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if job.cancel_requested and interrupted_at is None:
            proc.send_signal(signal.SIGINT)
            interrupted_at = now
            job.detail = {**job.detail, "phase": "cancelling"}
        elif interrupted_at is not None and now - interrupted_at > GRACE_SECONDS:
            proc.kill()
        if interrupted_at is None and now >= next_poll:
            next_poll = now + PROGRESS_SECONDS
            progress.read()


def _scan(spec: dict[str, Any]) -> dict[str, Any]:
    from catalog.scanner import scan

    report = scan(
        spec["root"],
        spec["index"],
        progress=_ProgressWriter(spec.get("progress")),
        cancel=_cancel,
        **spec["options"],
    )
    return {
        "root": report.root,
        "scan_id": report.scan_id,
        "counts": dict(report.counts),
        "failed": [{"path": p, "error": e} for p, e in report.failed[:50]],
        "issues": len(report.issues),
        "links": [{"path": p, "target": t} for p, t in report.links[:50]],
        "bytes_processed": report.bytes_processed,
        "seconds": round(report.seconds, 2),
        # its drive unplugged: which drive to plug in (nothing was read)
        "offline": report.offline,
        "drive_moved": report.drive_moved,
    }


def _verify(spec: dict[str, Any]) -> dict[str, Any]:
    from catalog.integrity import verify

    report = verify(
        spec["index"],
        spec["ids"],
        progress=_ProgressWriter(spec.get("progress")),
        cancel=_cancel,
        **spec["options"],
    )
    changed = [
        {"id": i, "name": r["name"], "outcome": r["outcome"]}
        for i, r in report.results.items()
        if r["outcome"] in ("modified", "missing")
    ]
    return {
        "ok": report.ok,
        "counts": report.counts,
        "changed": changed[:50],
        "bytes_read": report.bytes_read,
        "seconds": round(report.seconds, 2),
    }


def _export(spec: dict[str, Any]) -> dict[str, Any]:
    from catalog.export import export_catalog

    source: Any = spec["index"]
    ids: list[str] | None = spec["ids"]
    if spec.get("user"):  # only what the account can see (ancestors too)
        from catalog.catalogue import open_catalog

        cat = open_catalog(spec["index"], files=True, user=spec["user"])
        source, ids = cat.search(id=spec["ids"]), None
    report = export_catalog(
        source,
        spec["dest"],
        ids=ids,
        progress=_ProgressWriter(spec.get("progress")),
        cancel=_cancel,
        **spec["options"],
    )
    return {
        "dest": str(report.dest),
        "mode": report.mode,
        "datasets": len(report.datasets),
        "counts": report.counts,
        "files": report.files,
        "bytes": report.bytes,
        "ancestors": list(report.ancestors),
        "resumed_files": report.resumed_files,
        "skipped": report.skipped,
        "license": report.license,
        "seconds": round(report.seconds, 2),
    }


#: the scan's or export's ``cancel``: set by SIGINT, SIGTERM or the server's death; they
#: check it between datasets, blocks and chunks, so a dataset is never recorded as
#: failed because it was interrupted
_cancel = threading.Event()
_orphaned = threading.Event()


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGINT or SIGTERM: ask the scan or export to stop at its next check."""
    _cancel.set()


def _watch_server(server: int) -> None:
    """Stop as on cancel when the server that started this child is gone."""
    while os.getppid() == server:
        time.sleep(WATCH_SECONDS)
    _orphaned.set()
    _cancel.set()
    time.sleep(GRACE_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)


def main(spec_file: str) -> None:
    """Entry point of the child process: run the job, then write the outcome as JSON."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    spec = json.loads(Path(spec_file).read_text())
    if NICE > 0:  # a job gives way to the server's requests (its workers go lower still)
        with contextlib.suppress(OSError):
            os.nice(NICE)
    server = spec.get("server") or os.getppid()
    threading.Thread(
        target=_watch_server, args=(server,), name="voxcat-watch-server", daemon=True
    ).start()
    try:
        report = {"scan": _scan, "export": _export, "verify": _verify}[spec["kind"]](spec)
        outcome: dict[str, Any] = {"status": "done", "report": report}
    except (Cancelled, KeyboardInterrupt):
        outcome = {"status": "cancelled"}
    except Exception as exc:  # the job shows the scan's or export's own message
        if _cancel.is_set():  # stopped on cancel, by an error of its own meanwhile
            outcome = {"status": "cancelled"}
        else:
            outcome = {"status": "failed", "error": str(exc) or type(exc).__name__}
    if _orphaned.is_set():  # nobody reads the outcome: remove the server's folder
        shutil.rmtree(Path(spec_file).parent, ignore_errors=True)
        return
    Path(spec["result"]).write_text(json.dumps(outcome, default=str))


if __name__ == "__main__":  # pragma: no cover - runs in the child process
    main(sys.argv[1])
