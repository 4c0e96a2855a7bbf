"""``browse(cat)``: search panel on top, thumbnail grid below, and the slice browser
and details of the dataset last clicked.

>>> import widgets
>>> app = widgets.browse(cat)          # doctest: +SKIP
>>> app                                # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W

from catalog.catalogue import DuckDBCatalog
from catalog.errors import CatalogError

from .detail import DatasetDetail
from .format import esc
from .grid import ThumbnailGrid
from .search import SearchPanel
from .slices import SliceBrowser
from .style import stylesheet
from .traits import close_tree


class Browser(W.VBox):
    """The composed browser; its parts are ``search``, ``grid``, and once a dataset is
    opened ``detail`` and ``slices`` (``None`` when it cannot be shown as planes;
    ``slice_error`` then says why).

    >>> app = Browser(cat); app.show(next(iter(cat)))     # doctest: +SKIP
    >>> app.grid.selected                                   # doctest: +SKIP
    """

    def __init__(
        self,
        cat: DuckDBCatalog,
        *,
        page_size: int = 24,
        debounce: float = 0.3,
        display_size: int = 360,
    ) -> None:
        super().__init__(layout=W.Layout(width="100%", min_width="0"))
        self.catalog = cat
        self.display_size = display_size
        self.search = SearchPanel(cat, debounce=debounce)
        self.grid = ThumbnailGrid(self.search.result, page_size=page_size)
        self.detail: DatasetDetail | None = None
        self.slices: SliceBrowser | None = None
        self.slice_error = ""
        self.opened = W.VBox(layout=W.Layout(width="100%", min_width="0"))
        self.search.observe(self._new_result, names="result")
        self.grid.observe(self._activated, names="active")
        self.css = stylesheet()  # an invisible <style> with the layout and theme rules
        self.children = [self.css, self.search, self.grid, self.opened]
        self.add_class("voxcat-browser")

    def _new_result(self, change: dict[str, Any]) -> None:
        self.grid.catalog = change["new"]

    def _activated(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.show(change["new"])

    def show(self, dataset_id: str) -> None:
        """Show the slice browser and details of ``dataset_id`` below the grid."""
        cat = self.catalog  # the dataset may have left the current result since
        self._dispose()
        self.detail = DatasetDetail(cat, dataset_id)
        self.detail.observe(lambda _: self.search.refresh(), names="version")
        self.slices, self.slice_error = None, ""
        try:
            self.slices = SliceBrowser(cat, dataset_id, display_size=self.display_size)
            view: W.Widget = self.slices
        except (CatalogError, ValueError, OSError) as exc:  # not an image, or unreadable
            self.slice_error = str(exc)
            view = W.HTML(f"<i>cannot show planes of this dataset: {esc(exc)}</i>")
        close = W.Button(description="close", icon="times", layout={"width": "auto"})
        close.on_click(lambda _: self.close_dataset())
        # the planes, and the details beside them while the width allows, else below
        view.layout.flex, view.layout.max_width = "0 1 auto", "100%"
        self.detail.layout.width, self.detail.layout.flex = "auto", "1 1 320px"
        self.opened.children = [
            W.HBox([close]),
            W.HBox(
                [view, self.detail],
                layout=W.Layout(flex_flow="row wrap", grid_gap="12px", width="100%"),
            ),
        ]

    def close_dataset(self) -> None:
        """Hide the opened dataset."""
        self._dispose()
        self.grid.active = None

    def _dispose(self) -> None:
        old = self.opened.children
        self.opened.children = []
        for widget in old:
            close_tree(widget)  # SliceBrowser.close also drops its event listeners
        self.detail = self.slices = None


def browse(
    cat: DuckDBCatalog, *, page_size: int = 24, debounce: float = 0.3, display_size: int = 360
) -> Browser:
    """Search, page through thumbnails, and open a dataset's planes and details.

    >>> from catalog import open_catalog
    >>> import widgets
    >>> widgets.browse(open_catalog("lab.duckdb"))     # doctest: +SKIP
    """
    return Browser(cat, page_size=page_size, debounce=debounce, display_size=display_size)
