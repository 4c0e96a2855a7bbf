"""Real servers on 127.0.0.1 for the remote catalogue's tests (``tests/test_client.py``).

:func:`jupyter_server` starts ``python -m jupyter_server`` with the voxcat extension on
an index (this checkout first on ``PYTHONPATH``), on a free port with a random token;
:func:`voxcat_serve` runs ``voxcat serve`` (both through :mod:`tests.servers`).
:class:`ReadOnlyAuthorizer` is a real Jupyter authorizer that refuses writes on the
``voxcat`` resource, as a deployment that gives some users read-only access would.
:func:`plain_http` serves fixed answers (a proxy's 502, a web page) and
:func:`silent_socket` accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jupyter_server.auth.authorizer import Authorizer

from .servers import (
    answering_process,
    checkout_env,
    free_port,
    jupyter_server_argv,
    log_tail,
    start_voxcat_serve,
    stop_process,
)


class ReadOnlyAuthorizer(Authorizer):
    """Allows everything but writing to the voxcat resource (tags, notes, jobs)."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return not (resource == "voxcat" and action == "write")


@dataclasses.dataclass(frozen=True)
class Running:
    """A started server: its URL, token and log file."""

    url: str
    token: str
    log: Path

    def log_tail(self, n: int = 40) -> str:
        return log_tail(self.log, n)


@contextlib.contextmanager
def jupyter_server(
    index: Path, workdir: Path, *, authorizer: str | None = None, timeout: float = 90.0
) -> Iterator[Running]:
    """A Jupyter server with the voxcat extension serving ``index``; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    argv = jupyter_server_argv(
        port,
        token,
        workdir,
        "--ServerApp.jpserver_extensions={'jupyter_ext': True}",
        f"--VoxcatExtension.index={index}",
    )
    if authorizer:
        argv.append(f"--ServerApp.authorizer_class={authorizer}")
    env = checkout_env(JUPYTER_RUNTIME_DIR=str(workdir / "runtime"))
    server = Running(f"http://127.0.0.1:{port}", token, workdir / "server.log")
    with answering_process(
        argv,
        env=env,
        cwd=workdir,
        log=server.log,
        url=f"{server.url}/api/status?token={token}",
        timeout=timeout,
    ):
        yield server


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
    proc, url = start_voxcat_serve(index, *args, timeout=timeout)
    drain = threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True)
    drain.start()  # keep reading its log, so it never blocks on a full pipe
    try:
        yield url
    finally:
        stop_process(proc, timeout=40)
