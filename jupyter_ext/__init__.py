"""JupyterLab integration of voxcat: a Jupyter server extension with a REST API under
``/voxcat/api/`` (see :mod:`jupyter_ext.handlers`), enabled on install by
``jupyter-config/server-config/voxcat.json``; configured with ``c.VoxcatExtension``;
and the JupyterLab sidebar (TypeScript in ``frontend/``, built into ``labextension/``
and installed as ``share/jupyter/labextensions/@voxcat/jupyterlab``).

``import jupyter_ext`` stays light: the server parts load when the server asks.
"""

from __future__ import annotations

from typing import Any

from catalog import __version__

from .errors import ExtensionError


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """The extension point Jupyter server loads: the :class:`VoxcatExtension` app."""
    from .app import VoxcatExtension

    return [{"module": "jupyter_ext", "app": VoxcatExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built front end is (for ``jupyter labextension develop``)."""
    return [{"src": "labextension", "dest": "@voxcat/jupyterlab"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Load the extension into ``serverapp`` (for servers that call the module-level
    hook; newer ones load :class:`VoxcatExtension` through the extension point)."""
    from .app import VoxcatExtension

    VoxcatExtension._load_jupyter_server_extension(serverapp)


__all__ = ["ExtensionError", "__version__"]
