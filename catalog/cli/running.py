"""How a ``voxcat`` command ends: its exit status, errors as one ``voxcat: error:``
line, Ctrl-C and SIGTERM as an interruption that keeps finished work, a closed pipe.

Exit statuses: 0 done; 1 an error (:class:`~catalog.errors.CatalogError`, a missing
file, a full disk); 2 (:data:`USAGE`) input the command cannot use; 3 (:data:`FAILED`)
``scan --strict`` with failed datasets; 4 (:data:`TAMPERED`) ``verify`` or ``audit
verify`` found changes; 130 (:data:`INTERRUPTED`) stopped by Ctrl-C or SIGTERM; 141
(:data:`BROKEN_PIPE`) the reader of the output went away.

>>> USAGE, FAILED, TAMPERED, INTERRUPTED, BROKEN_PIPE
(2, 3, 4, 130, 141)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

from ..errors import AnnotationError, CatalogError, InputLimitError, NotAnIndexError, QueryError

#: exit status of a command given input it cannot use (a bad value, not an index)
USAGE = 2
#: exit status of ``voxcat scan --strict`` when a dataset failed
FAILED = 3
#: exit status of ``voxcat verify`` and ``voxcat audit verify`` when something changed
TAMPERED = 4
#: exit status of ``voxcat policy check`` when a dataset breaks its data level's policy
VIOLATIONS = 5
#: exit status of a command stopped by Ctrl-C or SIGTERM (its finished work is saved)
INTERRUPTED = 130
#: exit status when the reader of our output went away (``voxcat summary | head -1``),
#: as for a program ended by SIGPIPE
BROKEN_PIPE = 141


class Stopped:
    """The signal a command was stopped with (set by :func:`terminate_like_ctrl_c`)."""

    signum: int | None = None


@contextlib.contextmanager
def terminate_like_ctrl_c() -> Iterator[Stopped]:
    """SIGTERM stops a command as Ctrl-C does: ``KeyboardInterrupt`` where it runs, so a
    scan saves its finished datasets and is marked interrupted. A second SIGTERM while
    that happens is ignored (SIGKILL is not)."""
    stopped = Stopped()

    def on_term(signum: int, _frame: FrameType | None) -> None:
        if stopped.signum is None:
            stopped.signum = signum
            raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        yield stopped
        return
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(args: argparse.Namespace, stopped: Stopped) -> int:
    """Run the command ``args.func`` and turn how it ended into an exit status."""
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # the reader stopped (`voxcat summary | head -1`): nothing more to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE
    except (QueryError, AnnotationError, InputLimitError, NotAnIndexError) as exc:
        print(f"voxcat: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return USAGE
    except (CatalogError, FileNotFoundError) as exc:
        print(f"voxcat: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(stopped)
    except Exception as exc:
        if stopped.signum is not None:  # DuckDB turns an interrupt in a query into its own
            return _interrupted(stopped)
        from ..index.connection import disk_full, disk_full_cause

        if not disk_full(exc):
            raise
        where = getattr(exc, "filename", None) or "a file"
        print(f"voxcat: error: {disk_full_cause(exc, where)}", file=sys.stderr)
        return 1


def _interrupted(stopped: Stopped) -> int:
    how = "terminated (SIGTERM)" if stopped.signum == signal.SIGTERM else "interrupted"
    print(
        f"voxcat: {how}; finished work is saved, run the same command to resume",
        file=sys.stderr,
    )
    return INTERRUPTED
