"""A paged grid of thumbnails with single and multiple selection.

Only the current page's rows are fetched (``cat.page``, so a result of a million
datasets costs one page of rows). Clicking a thumbnail selects it and makes
it the ``active`` dataset; ctrl-, cmd- or shift-click adds or removes it from the
selection, as does each card's checkbox. Names are rendered as text, never as HTML,
on at most two lines: a longer name keeps its start and its distinguishing end around
an ellipsis (:func:`catalog.formatting.middle_ellipsis`), the full name on hover.

>>> grid = ThumbnailGrid(cat)                              # doctest: +SKIP
>>> grid.page = 1; grid.click(grid.page_ids[0]); grid.selected   # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import ipywidgets as W
import traitlets as T
from ipyevents import Event

from catalog.catalogue import DuckDBCatalog
from catalog.formatting import name_html

from .format import esc, human_bytes, human_shape, missing
from .traits import CatalogTrait

# the theme's colours (JupyterLab's CSS variables), the same width selected or not
_SELECTED = "2px solid var(--jp-brand-color1, #1976d2)"
_PLAIN = "2px solid var(--jp-border-color2, #ddd)"
#: the narrowest a grid cell gets (px); cells share the width left over
CELL_MIN_WIDTH = 168
#: a card's name: at most this many characters (two lines of a narrow cell at 12 px),
#: longer ones shortened in the middle, the full name on hover
NAME_CHARS = 36


def _placeholder_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()  # transparent: the card's background (the theme's) shows
    Image.new("LA", (4, 3), (0, 0)).save(buf, format="PNG")
    return buf.getvalue()


PLACEHOLDER = _placeholder_png()


class _Card:
    """The widgets of one grid cell, reused from page to page."""

    def __init__(self, grid: ThumbnailGrid) -> None:
        self.dataset_id: str | None = None
        self.image = W.Image(
            format="png",
            layout=W.Layout(width="auto", height="120px", object_fit="contain"),
        )
        self.image.add_class("voxcat-thumbnail")
        self.label = W.HTML(layout=W.Layout(width="auto", min_width="0"))
        self.check = W.Checkbox(description="select", indent=False, layout={"width": "70px"})
        self.open_button = W.Button(description="open", icon="eye", layout={"width": "72px"})
        actions = W.HBox(
            [self.check, self.open_button], layout=W.Layout(flex_flow="row wrap", min_width="0")
        )
        self.box = W.VBox(
            [self.image, self.label, actions],
            layout=W.Layout(border=_PLAIN, padding="4px", width="auto", min_width="0"),
        )
        self.box.add_class("voxcat-card")
        self.events = Event(source=self.image, watched_events=["click"])
        self.events.on_dom_event(lambda e: self.dataset_id and grid._dom_click(self.dataset_id, e))
        self.check.observe(lambda ch: grid._check(self.dataset_id, ch["new"]), names="value")
        self.open_button.on_click(lambda _: self.dataset_id and grid.activate(self.dataset_id))


class ThumbnailGrid(W.VBox):
    """Pages of thumbnails of ``cat`` with name, modality, shape and size.

    Traits: ``catalog`` (settable: a new search result shows from page 0), ``page``
    (0-based), ``page_size``, ``selected_ids`` (list), ``active`` (the id last clicked
    or opened, else ``None``). ``selected`` is the selection as a catalogue.
    The cells are at least 168 px wide and as many as fit the width share a row
    (at most ``columns`` when given).

    >>> grid = ThumbnailGrid(cat, page_size=12)        # doctest: +SKIP
    >>> grid.click(grid.page_ids[0]); grid.click(grid.page_ids[1], multi=True)  # doctest: +SKIP
    >>> grid.selected.df                               # doctest: +SKIP
    """

    catalog = CatalogTrait()
    page = T.Int(0)
    page_size = T.Int(24)
    selected_ids = T.List(T.Unicode())
    active = T.Unicode(None, allow_none=True)

    def __init__(
        self, cat: DuckDBCatalog, *, page_size: int = 24, columns: int | None = None
    ) -> None:
        super().__init__(layout=W.Layout(width="100%", min_width="0"))
        self.add_class("voxcat-grid")
        self._cards: list[_Card] = []
        self._total = 0
        self._syncing = False
        self.page_ids: list[str] = []
        self.rows: list[dict[str, Any]] = []
        # as many columns as fit, at most ``columns``
        least = f"{CELL_MIN_WIDTH}px"
        if columns:
            least = f"max({least}, calc((100% - {6 * (columns - 1)}px) / {columns}))"
        self.cells = W.GridBox(
            layout=W.Layout(
                grid_template_columns=f"repeat(auto-fill, minmax({least}, 1fr))",
                grid_gap="6px",
                width="100%",
                min_width="0",
            )
        )
        self.prev_button = W.Button(description="previous", icon="chevron-left")
        self.next_button = W.Button(description="next", icon="chevron-right")
        self.status = W.Label()
        self.select_page_button = W.Button(description="select page", icon="check-square")
        self.clear_button = W.Button(description="clear selection", icon="square")
        self.prev_button.on_click(lambda _: self._go(-1))
        self.next_button.on_click(lambda _: self._go(1))
        self.select_page_button.on_click(lambda _: self.select(self.page_ids, add=True))
        self.clear_button.on_click(lambda _: self.select([]))
        bar = W.HBox(
            [
                self.prev_button,
                self.next_button,
                self.status,
                self.select_page_button,
                self.clear_button,
            ],
            layout=W.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.children = [bar, self.cells]
        self.set_trait("page_size", int(page_size))
        self.catalog = cat
        self.observe(self._on_page, names=["page", "page_size"])
        self.observe(self._on_selection, names="selected_ids")

    # -- paging -----------------------------------------------------------------------
    @property
    def page_count(self) -> int:
        """Number of pages of the current catalogue (at least 1)."""
        return max(1, math.ceil(self._total / max(1, self.page_size)))

    def _page_catalog(self) -> DuckDBCatalog:
        return self.catalog.page(self.page, self.page_size)

    def _fetch(self) -> list[dict[str, Any]]:
        """The rows of the current page only, with their thumbnail files."""
        frame = self._page_catalog().df
        ids = list(frame.index)
        thumbs = self.catalog.thumbnails(ids)
        rows = []
        for ident, rec in zip(ids, frame.to_dict("records")):
            rows.append({"id": ident, **rec, "thumbnail": thumbs.get(ident)})
        return rows

    @T.observe("catalog")
    def _on_catalog(self, change: dict[str, Any]) -> None:
        self._total = len(change["new"])
        if self.selected_ids:
            keep = set(change["new"].search(id=list(self.selected_ids)))
            self.selected_ids = [i for i in self.selected_ids if i in keep]
        if self.page != 0:
            self.page = 0  # renders through _on_page
        else:
            self._render()

    def _on_page(self, _: Any) -> None:
        clamped = min(max(self.page, 0), self.page_count - 1)
        if clamped != self.page:
            self.page = clamped
            return
        self._render()

    def _go(self, step: int) -> None:
        self.page = min(max(self.page + step, 0), self.page_count - 1)

    # -- drawing ----------------------------------------------------------------------
    def _thumbnail(self, path: Path | None) -> bytes:
        if path is None:
            return PLACEHOLDER
        try:
            return path.read_bytes()
        except OSError:
            return PLACEHOLDER

    def _render(self) -> None:
        self.rows = self._fetch()
        self.page_ids = [r["id"] for r in self.rows]
        while len(self._cards) < len(self.rows):
            self._cards.append(_Card(self))
        for card, row in zip(self._cards, self.rows):
            card.dataset_id = row["id"]
            card.image.value = self._thumbnail(row["thumbnail"])
            kinds = (row.get("modality"), row.get("format"))
            facts = " · ".join(
                [
                    esc(next((v for v in kinds if not missing(v)), "?")),
                    esc(human_shape(row.get("shape"))),
                    esc(human_bytes(row.get("size"))),
                ]
            )
            card.label.value = name_html(
                row["name"], NAME_CHARS, style="font-size:12px;font-weight:600"
            ) + (f'<div style="font-size:11px;color:var(--jp-ui-font-color2)">{facts}</div>')
        self.cells.children = [c.box for c in self._cards[: len(self.rows)]]
        self._on_selection(None)
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.page_count - 1

    def _on_selection(self, _: Any) -> None:
        chosen = set(self.selected_ids)
        self._syncing = True
        try:
            for card in self._cards[: len(self.rows)]:
                on = card.dataset_id in chosen
                card.check.value = on
                card.box.layout.border = _SELECTED if on else _PLAIN
        finally:
            self._syncing = False
        self.status.value = (
            f"page {self.page + 1} of {self.page_count} · {self._total} datasets"
            f" · {len(self.selected_ids)} selected"
        )

    # -- selection ----------------------------------------------------------------------
    @property
    def selected(self) -> DuckDBCatalog:
        """The selected datasets as a catalogue (``cat.search(id=[...])``)."""
        if not self.selected_ids:
            return self.catalog.head(0)
        return self.catalog.search(id=list(self.selected_ids))

    def select(self, ids: list[str], *, add: bool = False) -> None:
        """Select ``ids`` (added to the selection with ``add=True``)."""
        base = list(self.selected_ids) if add else []
        self.selected_ids = list(dict.fromkeys([*base, *ids]))

    def click(self, dataset_id: str, *, multi: bool = False) -> None:
        """What a click on a thumbnail does: select it alone and make it ``active``;
        with ``multi`` (ctrl/cmd/shift) toggle it in the selection instead."""
        if multi:
            ids = list(self.selected_ids)
            self.selected_ids = (
                [i for i in ids if i != dataset_id] if dataset_id in ids else [*ids, dataset_id]
            )
            return
        self.selected_ids = [dataset_id]
        self.activate(dataset_id)

    def activate(self, dataset_id: str) -> None:
        """Make ``dataset_id`` the ``active`` dataset (``browse`` shows its details)."""
        if self.active == dataset_id:
            self.active = None  # fire again for a second click on the same card
        self.active = dataset_id

    def _dom_click(self, dataset_id: str, event: dict[str, Any]) -> None:
        multi = any(event.get(k) for k in ("ctrlKey", "metaKey", "shiftKey"))
        self.click(dataset_id, multi=multi)

    def _check(self, dataset_id: str | None, on: bool) -> None:
        if self._syncing or dataset_id is None:
            return
        ids = [i for i in self.selected_ids if i != dataset_id]
        self.selected_ids = [*ids, dataset_id] if on else ids
