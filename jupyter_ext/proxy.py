"""The voxcat web app inside JupyterLab: a launcher item that starts ``voxcat serve``
behind jupyter-server-proxy (registered through the ``jupyter_serverproxy_servers``
entry point, so installing voxcat is enough).

The server listens on a Unix socket in a private folder that jupyter-server-proxy
makes, so only the Jupyter server (and the person who owns it) can reach it; every
request has passed Jupyter's own authentication first. It serves the index of
``$VOXCAT_INDEX`` (else ``voxcat.duckdb`` in the folder Jupyter started in) as the
person running Jupyter sees it: the local user, or the voxcat account named by
``$VOXCAT_USER``/``$JUPYTERHUB_USER`` when the index has one. It opens at
``<jupyter>/voxcat-app/``.

>>> server_config()["launcher_entry"]["title"]
'voxcat catalogue'
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

NAME = "voxcat-app"
ICON = Path(__file__).resolve().parent / "icons" / "voxcat.svg"


def command(unix_socket: str, base_url: str) -> list[str]:
    """The ``voxcat serve`` command jupyter-server-proxy runs (its templates filled).

    >>> command("/tmp/x/socket", "/user/ada/")[-4:]
    ['--unix-socket', '/tmp/x/socket', '--base-url', '/user/ada/voxcat-app']
    """
    index = os.environ.get("VOXCAT_INDEX") or "voxcat.duckdb"
    return [
        sys.executable,
        "-m",
        "catalog.cli",
        "serve",
        "--index",
        str(Path(index).expanduser().absolute()),
        "--no-browser",
        "--unix-socket",
        unix_socket,
        "--base-url",
        base_url.rstrip("/") + "/" + NAME,
    ]


def server_config() -> dict[str, Any]:
    """The jupyter-server-proxy configuration of the voxcat web app."""
    return {
        "command": lambda unix_socket, base_url: command(unix_socket, base_url),
        "unix_socket": True,
        "absolute_url": True,  # voxcat serve knows its --base-url
        "timeout": 60,
        "new_browser_tab": True,
        "launcher_entry": {
            "enabled": True,
            "title": "voxcat catalogue",
            "icon_path": str(ICON),
            "category": "Notebook",
        },
    }
