"""A JupyterLab server for the browser tests, started the way ``voxcat demo`` starts it
(:func:`catalog.demo.lab_command`) plus a port, a token and throwaway settings."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from catalog.demo import lab_command

# JupyterLab user settings: start the notebook's kernel without a dialog, no news
# toast, no update check (nothing is reachable from here anyway).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class LabStartError(RuntimeError):
    """JupyterLab exited or did not answer; the message ends with its log."""


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: its base URL, token, served folder and log file."""

    url: str
    token: str
    root: Path
    log: Path

    def tree_url(self, path: str) -> str:
        """The URL that opens ``path`` (relative to ``root``) in a fresh workspace."""
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"

    def log_tail(self, n: int = 40) -> str:
        """The last ``n`` lines of the server's log."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_until_up(server: LabServer, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status = f"{server.url}/api/status?token={server.token}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabStartError(f"JupyterLab exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(status, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise LabStartError(f"JupyterLab did not answer in {timeout:.0f} s:\n{server.log_tail()}")


@contextmanager
def running_lab(
    notebook: Path, index: Path, workdir: Path, *, timeout: float = 90.0
) -> Iterator[LabServer]:
    """JupyterLab on 127.0.0.1 (a free port, a random token) serving ``notebook``'s
    folder with ``VOXCAT_INDEX=index``; settings, workspaces and runtime files live in
    ``workdir``. Stopped, kernels included, on exit."""
    settings = workdir / "settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    argv, env = lab_command(
        notebook,
        index,
        extra_args=[
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            "--LabApp.expose_app_in_browser=True",
        ],
    )
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
    )
    server = LabServer(f"http://127.0.0.1:{port}", token, notebook.parent, workdir / "lab.log")
    with server.log.open("wb") as log:
        proc = subprocess.Popen(
            argv, env=env, cwd=notebook.parent, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_up(server, proc, timeout)
        yield server
    finally:
        proc.terminate()  # SIGTERM: the server shuts its kernels down
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
