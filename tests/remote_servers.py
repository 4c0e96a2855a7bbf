"""Real servers on 127.0.0.1 for the remote catalogue's tests (``tests/test_client.py``).

:func:`jupyter_server` starts ``python -m jupyter_server`` with the voxcat extension on
an index (this checkout first on ``PYTHONPATH``), on a free port with a random token.
:class:`ReadOnlyAuthorizer` is a real Jupyter authorizer that refuses writes on the
``voxcat`` resource, as a deployment that gives some users read-only access would.
:func:`plain_http` serves fixed answers (a proxy's 502, a web page) and
:func:`silent_socket` accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jupyter_server.auth.authorizer import Authorizer

import catalog

REPO = Path(catalog.__file__).resolve().parent.parent


class ReadOnlyAuthorizer(Authorizer):
    """Allows everything but writing to the voxcat resource (tags, notes, jobs)."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "voxcat" and action == "write")


class ServerStartError(RuntimeError):
    """The server exited or did not answer; the message ends with its log."""


@dataclasses.dataclass(frozen=True)
class Running:
    """A started server: its URL, token and log file."""

    url: str
    token: str
    log: Path

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def jupyter_server(
    index: Path, workdir: Path, *, authorizer: str | None = None, timeout: float = 90.0
) -> Iterator[Running]:
    """A Jupyter server with the voxcat extension serving ``index``; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    argv = [
        sys.executable,
        "-m",
        "jupyter_server",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--ServerApp.jpserver_extensions={'jupyter_ext': True}",
        f"--ServerApp.root_dir={workdir}",
        f"--VoxcatExtension.index={index}",
    ]
    if authorizer:
        argv.append(f"--ServerApp.authorizer_class={authorizer}")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
    }
    env.pop("VOXCAT_TOKEN", None)
    server = Running(f"http://127.0.0.1:{port}", token, workdir / "server.log")
    with server.log.open("wb") as log:
        proc = subprocess.Popen(argv, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"{server.url}/api/status?token={token}", proc, server, timeout)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_until_up(
    status: str, proc: subprocess.Popen[bytes], server: Running, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerStartError(
                f"the server exited with {proc.returncode}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(status, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise ServerStartError(f"the server did not answer in {timeout:.0f} s:\n{server.log_tail()}")


@contextlib.contextmanager
def plain_http(status: int, body: bytes, content_type: str = "text/html") -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering every request with ``status`` and
    ``body`` (a reverse proxy whose backend is down, a web site); yields its URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def silent_socket() -> Iterator[str]:
    """A socket on 127.0.0.1 that accepts connections and never answers; yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(sock.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()


@contextlib.contextmanager
def voxcat_serve(index: Path, *args: str, timeout: float = 90.0) -> Iterator[str]:
    """``voxcat serve`` on ``index`` (a free port on 127.0.0.1, this checkout first on
    ``PYTHONPATH``); yields the URL it prints once listening, stops it on exit."""
    argv = [
        *(sys.executable, "-m", "catalog.cli", "serve", "--index", str(index)),
        *("--port", "0", "--address", "127.0.0.1", "--no-browser", *args),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    for name in ("VOXCAT_USER", "VOXCAT_TOKEN"):
        env.pop(name, None)
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    assert proc.stdout is not None
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + timeout
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r" at (http://127\.0\.0\.1:\d+\S*)", line)
        url = found.group(1) if found else None
    if url is None:
        proc.kill()
        proc.wait()
        raise ServerStartError("voxcat serve did not start:\n" + "".join(lines[-40:]))
    drain = threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True)
    drain.start()  # keep reading its log, so it never blocks on a full pipe
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
