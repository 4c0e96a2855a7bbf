"""A JupyterLab server for the browser tests, started the way ``voxcat demo`` starts it
(:func:`catalog.demo.lab_command`) plus a port, a token and throwaway settings."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from catalog.demo import lab_command

from ..servers import ServerStartError, answering_process, free_port, log_tail

# JupyterLab user settings: start the notebook's kernel without a dialog, no news
# toast, no update check (nothing is reachable from here anyway).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class LabStartError(ServerStartError):
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
        return log_tail(self.log, n)


#: JavaScript for ``page.evaluate``: the sources of the current notebook's cells
SOURCES = """() => {
    const cells = window.jupyterapp.shell.currentWidget?.content?.model?.cells;
    if (!cells) return null;
    const out = [];
    for (let i = 0; i < cells.length; i++) out.push(cells.get(i).sharedModel.getSource());
    return out;
}"""


def this_checkouts_frontend(workdir: Path) -> list[str]:
    """Arguments that make JupyterLab load the sidebar built in this checkout
    (``jupyter_ext/labextension``, by ``pip install .`` or ``jlpm build``) before an
    installed one, so a worktree's tests see its own front end; none if unbuilt."""
    built = Path(__file__).resolve().parents[2] / "jupyter_ext" / "labextension"
    if not (built / "package.json").is_file():
        return []
    link = workdir / "labextensions" / "@voxcat" / "jupyterlab"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(built, target_is_directory=True)
    return [f"--LabApp.extra_labextensions_path={workdir / 'labextensions'}"]


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
    extra = this_checkouts_frontend(workdir)
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
            *extra,
        ],
    )
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
    )
    server = LabServer(f"http://127.0.0.1:{port}", token, notebook.parent, workdir / "lab.log")
    with answering_process(
        argv,
        env=env,
        cwd=notebook.parent,
        log=server.log,
        url=f"{server.url}/api/status?token={token}",
        timeout=timeout,
        what="JupyterLab",
        error=LabStartError,
    ):
        yield server  # stopped by SIGTERM: the server shuts its kernels down


@contextmanager
def demo_lab(index: Path, workdir: Path) -> Iterator[LabServer]:
    """:func:`running_lab` on ``index`` with the demo notebook installed in
    ``workdir / "root"``; a JupyterLab that does not start fails the test, saying why."""
    import pytest

    from catalog.demo import install_demo_notebook

    notebook = install_demo_notebook(workdir / "root")
    try:
        with running_lab(notebook, index, workdir) as server:
            yield server
    except LabStartError as exc:
        pytest.fail(str(exc))
