"""The browser web app of ``voxcat serve``: Panel pages over one index.

``pages(index)`` gives the page functions a Panel server mounts: ``"search"`` (the
home page: search box, facets, thumbnail grid), ``"dataset"`` (``dataset?id=...``:
slice viewer or zoomable mosaic, metadata, tags, notes, lineage graph) and
``"dashboard"``. Each call builds one browser session's page for the signed-in user
(``pn.state.user``). Panel and HoloViews are imported when a page is built, not here.

>>> import panel as pn
>>> from widgets.webapp import pages
>>> pn.serve(pages("lab.duckdb"), port=8000, show=False)    # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

PAGES = ("search", "dataset", "dashboard")


def pages(index: str | os.PathLike[str]) -> dict[str, Callable[[], Any]]:
    """``{"search", "dataset", "dashboard"}`` -> a function building that page (a
    Panel viewable) for the current session's user.

    >>> routes = pages("lab.duckdb"); sorted(routes)
    ['dashboard', 'dataset', 'search']
    """
    path = Path(index)

    def search() -> Any:
        from .search import search_page

        return search_page(path)

    def dataset() -> Any:
        from .dataset import dataset_page

        return dataset_page(path)

    def dashboard() -> Any:
        from .dashboard import dashboard_page

        return dashboard_page(path)

    return {"search": search, "dataset": dataset, "dashboard": dashboard}


__all__ = ["PAGES", "pages"]
