"""Kill a real child process with SIGKILL at a named step (``catalog.testhooks``).

The child runs a piece of Python with ``VOXCAT_PAUSE_AT=<step>``; when it reaches the
step it says so on stderr and sleeps, and is killed there. Nothing is mocked: the
child does the real work up to that point, as a user's process killed by the OOM
killer or ``kill -9`` would.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def paused_at(code: str, step: str, *args: object, timeout: float = 120.0) -> Iterator[str]:
    """Run ``code`` (``sys.argv[1:]`` are ``args``) until it pauses at ``step``; yield
    what it wrote to stderr while it sleeps there, then kill it with SIGKILL. Fails if
    it ends without pausing."""
    env = {
        **os.environ,
        "VOXCAT_PAUSE_AT": step,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    name = step.partition("#")[0]
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"the child did not reach {step} in {timeout} s") from None
            if line is None:
                proc.wait(timeout=10)
                raise AssertionError(
                    f"the child ended (status {proc.returncode}) without pausing at {step}:\n"
                    + "".join(seen[-30:])
                )
            seen.append(line)
            if line.strip() == f"voxcat: paused at {name}":
                break
        yield "".join(seen)
        assert proc.poll() is None, "the child did not stay paused"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def kill_at(code: str, step: str, *args: object, timeout: float = 120.0) -> str:
    """Run ``code`` until it pauses at ``step`` and kill it there with SIGKILL; returns
    what it wrote to stderr."""
    with paused_at(code, step, *args, timeout=timeout) as err:
        return err
