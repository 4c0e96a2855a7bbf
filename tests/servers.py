"""Server processes for the tests, started and stopped one way: a free port on
127.0.0.1, this checkout first on ``PYTHONPATH`` (and no ``VOXCAT_USER`` or
``VOXCAT_TOKEN`` from the shell running the tests), then a wait until the server
answers (:func:`answering_process`: an HTTP status URL gives 200) or prints its URL
(:func:`start_process`, as ``voxcat serve`` does); a server that exits or stays
silent fails with its log's last lines.

>>> with answering_process(argv, env=checkout_env(), cwd=work, log=work / "log",
...                        url="http://127.0.0.1:8888/api/status") as proc:  # doctest: +SKIP
...     ...
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import catalog

REPO = Path(catalog.__file__).resolve().parent.parent
#: the line a server prints once it listens: ``... at http://127.0.0.1:PORT/...``
LISTENING = re.compile(r" at (http://127\.0\.0\.1:\d+\S*)")


class ServerStartError(RuntimeError):
    """The server exited or did not answer; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def checkout_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``base`` (else this process's environment) with this checkout first on
    ``PYTHONPATH``, without ``VOXCAT_USER``/``VOXCAT_TOKEN``, plus ``extra``."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    for name in ("VOXCAT_USER", "VOXCAT_TOKEN"):
        env.pop(name, None)
    env.update(extra)
    return env


def log_tail(log: Path, n: int = 40) -> str:
    """The last ``n`` lines of a server's log file."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:])


def stop_process(proc: subprocess.Popen, timeout: float = 30.0, *, strict: bool = False) -> int:
    """SIGTERM, then its exit status; killed when it does not stop within ``timeout``
    (and then, when ``strict``, the ``TimeoutExpired`` is raised: a test of stopping
    should see it)."""
    proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        if strict:
            raise
        return proc.returncode


def wait_until_answers(
    url: str,
    proc: subprocess.Popen,
    log: Path,
    timeout: float = 90.0,
    *,
    what: str = "the server",
    error: type[Exception] = ServerStartError,
) -> None:
    """Until ``GET url`` gives 200; ``error`` (with the log's tail) when ``proc`` exits
    first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise error(f"{what} exited with {proc.returncode}:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise error(f"{what} did not answer in {timeout:.0f} s:\n{log_tail(log)}")


@contextlib.contextmanager
def answering_process(
    argv: list[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log: Path,
    url: str,
    timeout: float = 90.0,
    what: str = "the server",
    error: type[Exception] = ServerStartError,
) -> Iterator[subprocess.Popen]:
    """``argv`` running (its output in ``log``) once ``url`` answers 200; stopped
    (SIGTERM, which also shuts a Jupyter server's kernels down) on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_answers(url, proc, log, timeout, what=what, error=error)
        yield proc
    finally:
        stop_process(proc)


def jupyter_server_argv(port: int, token: str, root_dir: Path, *options: str) -> list[str]:
    """``python -m jupyter_server`` on 127.0.0.1:``port`` (that port or none) with
    ``token``, serving ``root_dir``; ``--allow-root`` when run as root."""
    argv = [
        *(sys.executable, "-m", "jupyter_server", "--no-browser"),
        *("--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0"),
        f"--ServerApp.root_dir={root_dir}",
        f"--IdentityProvider.token={token}",
        *options,
    ]
    if os.geteuid() == 0:
        argv.append("--allow-root")
    return argv


def start_process(argv: list[str], timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """A server process (:func:`checkout_env`) that prints ``... at
    http://127.0.0.1:PORT/...`` once listening: the process (its output still to be
    read from ``proc.stdout``) and that URL."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=checkout_env()
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = LISTENING.search(line)
        if found:
            return proc, found.group(1)
    proc.kill()
    proc.wait()
    command = " ".join(argv[1:])[:160]
    raise ServerStartError(f"the server ({command}) did not start:\n" + "".join(lines[-40:]))


def start_voxcat_serve(
    index: Path, *args: str, timeout: float = 90.0
) -> tuple[subprocess.Popen, str]:
    """``voxcat serve --port 0`` on ``index`` with ``args``: its process and URL."""
    return start_process(
        [
            *(sys.executable, "-m", "catalog.cli", "serve", "--index", str(index)),
            *("--port", "0", "--address", "127.0.0.1", "--no-browser", *args),
        ],
        timeout,
    )
