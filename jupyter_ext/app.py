"""``VoxcatExtension``: the Jupyter server extension and its configuration.

    c.VoxcatExtension.index = "/data/lab.duckdb"        # else $VOXCAT_INDEX, else
                                                        # voxcat.duckdb in root_dir
    c.VoxcatExtension.allowed_roots = ["/mnt/drives"]   # more folders jobs may use
    c.VoxcatExtension.open_sidebar = True               # show the sidebar at start
    c.VoxcatExtension.scheduler = "tcp://head:8786"     # scan/verify jobs on this cluster
                                                        # (else $VOXCAT_DASK_SCHEDULER,
                                                        # else Dask's configuration)

Relative index paths start at the server's ``root_dir``. Jobs may read and write
only under ``root_dir``, the index's folder and ``allowed_roots``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, List, Unicode

from catalog.service.jobs import JobManager
from catalog.service.rest import Service
from catalog.service.tasks import Context

from .handlers import ROUTES


class VoxcatExtension(ExtensionApp):
    """REST access to a voxcat index under ``/voxcat/api/`` (search, facets, datasets,
    annotations, thumbnails, slices, background jobs)."""

    name = "voxcat"
    load_other_extensions = True

    index = Unicode(
        "",
        help="The voxcat index (DuckDB file) to serve; default $VOXCAT_INDEX, else "
        "voxcat.duckdb in the server's root_dir. Relative paths start at root_dir.",
    ).tag(config=True)

    allowed_roots = List(
        Unicode(),
        help="Folders besides root_dir and the index's folder that scan and export jobs "
        "may use (absolute paths); URLs in object storage (s3://bucket/prefix) are where "
        "export jobs may write, with the server's credentials and AWS_ENDPOINT_URL.",
    ).tag(config=True)

    open_sidebar = Bool(
        False,
        help="Open the voxcat sidebar when JupyterLab starts (``voxcat demo`` sets it).",
    ).tag(config=True)

    scheduler = Unicode(
        "",
        help="The Dask scheduler scan and verify jobs run on, e.g. tcp://head:8786; default "
        "$VOXCAT_DASK_SCHEDULER, else Dask's scheduler-address configuration, else local "
        "worker processes. Its workers must see the data at the same paths.",
    ).tag(config=True)

    request_threads = Int(
        8, help="Threads running catalogue calls for requests (they may wait for the lock)."
    ).tag(config=True)

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        raw = self.index or os.environ.get("VOXCAT_INDEX") or "voxcat.duckdb"
        path = Path(raw).expanduser()
        if not path.is_absolute():
            path = Path(self.serverapp.root_dir).expanduser() / path
        self.index_path = Path(os.path.abspath(path))
        self.service = Service(self.context(), self.request_threads)
        if self.open_sidebar:  # read by the front end through PageConfig
            page_config = self.serverapp.web_app.settings.setdefault("page_config_data", {})
            page_config["voxcatOpenSidebar"] = True
        self.log.info("voxcat: serving the index %s under /voxcat/api/", self.index_path)

    def initialize_handlers(self) -> None:
        self.handlers.extend(ROUTES)

    def context(self) -> Context:
        """Where jobs may work: the index, root_dir and the allowed roots."""
        assert self.serverapp is not None
        root_dir = Path(os.path.abspath(Path(self.serverapp.root_dir).expanduser()))
        from catalog.remote import is_remote

        paths = [r for r in self.allowed_roots if not is_remote(r)]
        urls = tuple(r.rstrip("/") for r in self.allowed_roots if is_remote(r))
        extra = tuple(Path(os.path.abspath(Path(r).expanduser())) for r in paths)
        return Context(self.index_path, root_dir, extra, self.scheduler.strip() or None, urls)

    @property
    def jobs(self) -> JobManager:
        return self.service.jobs

    def info(self) -> dict[str, Any]:
        """Version, index path and state, the fields search accepts and the dataset
        columns (the registry of :mod:`catalog.index.columns`: front ends list fields
        from it)."""
        return self.service.info(None)

    def current_activity(self) -> list[dict[str, Any]] | None:
        """Running jobs count as activity, so an idle culler leaves the server alone."""
        active = self.jobs.active() if hasattr(self, "service") else []
        return [j.to_dict() for j in active] or None

    async def stop_extension(self) -> None:
        """Cancel running jobs (scans stop cleanly) and stop the request threads."""
        if hasattr(self, "service"):
            await asyncio.get_running_loop().run_in_executor(None, self.service.shutdown)
