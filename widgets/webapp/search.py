"""The search page (the app's home): a search box, facets with counts, a paged
thumbnail grid whose tiles open the dataset page, and the state in the URL.

Each change runs a few catalogue queries (count, one ``LIMIT``/``OFFSET`` page, the
facet counts, one thumbnail lookup); no pixel data is read. The URL's query string
follows every change (``q``, filters as the REST API takes them, ``page``), so a
reloaded or shared URL shows the same view.

>>> page = SearchPage(cat, SearchState(text="rock"))     # doctest: +SKIP
>>> page.set_state(page.state.with_values("modality", ["CT"])); page.total  # doctest: +SKIP
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalog.catalogue import DuckDBCatalog
from catalog.errors import CatalogError

from ..facets import LABELS
from . import layout
from .session import catalogue_for, current_user, role_of
from .state import (
    FACET_LIMIT,
    FACETS,
    PAGE_SIZE,
    SearchState,
    data_uri,
    facet_counts,
    page_count,
    page_rows,
    select,
    to_query_string,
)

GRID_CSS = """
.vx-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr));
  gap: 8px; width: 100%; box-sizing: border-box; }
.vx-tile { display: block; border: 1px solid #ddd; border-radius: 4px; padding: 4px;
  color: inherit; text-decoration: none; min-width: 0; background: #fff; }
.vx-tile:hover { border-color: #1976d2; }
.vx-tile img, .vx-tile .vx-none { width: 100%; height: 110px; object-fit: contain;
  display: block; background: #f2f2f2; }
.vx-name { font-size: 12px; font-weight: 600; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; margin-top: 3px; }
.vx-facts { font-size: 11px; color: #555; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
.vx-empty { font-style: italic; color: #555; }
"""
#: the facets: a column left of the grid, or the whole width above it on a phone
SIDEBAR_CSS = """
:host { flex: 0 0 220px; max-width: 100%; box-sizing: border-box; }
@media (max-width: 600px) { :host { flex: 1 1 100%; } }
"""


def tiles_html(rows: list[dict[str, Any]]) -> str:
    """The grid's HTML: one link to ``dataset?id=...`` per row (all text escaped)."""
    if not rows:
        return '<div class="vx-empty">No datasets match.</div>'
    tiles = []
    for row in rows:
        ident, name = html.escape(row["id"]), html.escape(row["name"])
        picture = (
            f'<img src="{data_uri(row["thumbnail"])}" alt="">'
            if row["thumbnail"]
            else '<div class="vx-none"></div>'
        )
        tiles.append(
            f'<a class="vx-tile" href="dataset?id={ident}" title="{name}" data-id="{ident}">'
            f'{picture}<div class="vx-name">{name}</div>'
            f'<div class="vx-facts">{html.escape(row["facts"])}</div></a>'
        )
    return f'<div class="vx-grid">{"".join(tiles)}</div>'


class SearchPage:
    """The search page's widgets and what they show for ``state``.

    ``total``, ``rows`` (the grid page) and ``counts`` (facet counts) describe what
    is on screen; ``on_state`` (if set) is called with each new state (the URL sync).

    >>> page = SearchPage(cat, SearchState())               # doctest: +SKIP
    >>> page.next_page(); page.state.page                    # doctest: +SKIP
    1
    """

    def __init__(
        self,
        cat: DuckDBCatalog,
        state: SearchState,
        *,
        page_size: int = PAGE_SIZE,
        fields: tuple[str, ...] = FACETS,
    ) -> None:
        import panel as pn

        self.catalog = cat
        self.state = state
        self.page_size = page_size
        self.fields = fields
        self.total = 0
        self.rows: list[dict[str, Any]] = []
        self.counts: dict[str, dict[str, int]] = {}
        self.error = ""
        self.on_state: Callable[[SearchState], None] | None = None
        self._quiet = False
        self.box = pn.widgets.TextInput(
            value=state.text,
            placeholder='words, "phrases", -exclude, field=value',
            sizing_mode="stretch_width",
            min_width=120,
        )
        self.go = pn.widgets.Button(label="Search", color="primary", width=80)
        self.clear = pn.widgets.Button(label="Clear", width=70)
        self.count = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["vx-count"])
        self.alert = layout.message("", "warning")
        self.alert.visible = False
        self.facets = {
            field: pn.widgets.CheckBoxGroup(options={}, value=[], inline=False) for field in fields
        }
        self.facet_cards = {
            field: pn.Column(
                pn.pane.HTML(f"<b>{html.escape(LABELS.get(field, field))}</b>", margin=(0, 5)),
                widget,
                sizing_mode="stretch_width",
                css_classes=[f"vx-facet-{field}"],
            )
            for field, widget in self.facets.items()
        }
        self.grid = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[GRID_CSS])
        self.prev = pn.widgets.Button(label="◀ Previous", width=100)
        self.next = pn.widgets.Button(label="Next ▶", width=100)
        self.where = pn.pane.HTML("", css_classes=["vx-where"], margin=(10, 5))
        self.box.param.watch(lambda e: self._typed(e.new), "value")
        self.go.on_click(lambda _: self._typed(self.box.value or ""))
        self.clear.on_click(lambda _: self._change(SearchState()))
        self.prev.on_click(lambda _: self.go_to(self.state.page - 1))
        self.next.on_click(lambda _: self.go_to(self.state.page + 1))
        for field, widget in self.facets.items():
            widget.param.watch(lambda e, f=field: self._ticked(f, e.new), "value")
        self.sidebar = pn.Card(
            *self.facet_cards.values(),
            title="Filters",
            collapsible=True,
            css_classes=["vx-facets"],
            stylesheets=[SIDEBAR_CSS],
            margin=(0, 4),
        )
        self.results = pn.Column(
            self.grid,
            pn.Row(self.prev, self.where, self.next),
            sizing_mode="stretch_width",
            styles={"flex": "1 1 300px", "min-width": "0"},
            margin=0,
        )
        self.body = pn.Column(
            pn.Row(self.box, self.go, self.clear, sizing_mode="stretch_width"),
            self.alert,
            self.count,
            pn.FlexBox(
                self.sidebar,
                self.results,
                flex_wrap="wrap",
                sizing_mode="stretch_width",
                styles={"gap": "8px"},
            ),
            sizing_mode="stretch_width",
        )
        self.refresh()

    # -- changes ------------------------------------------------------------------------
    def _typed(self, text: str) -> None:
        if self._quiet or " ".join(text.split()) == self.state.text:
            return
        self._change(SearchState(text=" ".join(text.split()), filters=self.state.filters))

    def _ticked(self, field: str, values: list[str]) -> None:
        if self._quiet:
            return
        self._change(self.state.with_values(field, values))

    def go_to(self, page: int) -> None:
        """Show grid page ``page`` (0-based, clamped to the result)."""
        last = page_count(self.total, self.page_size) - 1
        page = min(max(page, 0), last)
        if page != self.state.page:
            self._change(SearchState(self.state.text, self.state.filters, page))

    def next_page(self) -> None:
        self.go_to(self.state.page + 1)

    def _change(self, state: SearchState) -> None:
        self.set_state(state)
        if self.on_state is not None:
            self.on_state(self.state)

    def set_state(self, state: SearchState) -> None:
        """Show ``state`` (as a URL gives it, say)."""
        self.state = state
        self.refresh()

    # -- queries ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Run the state's queries and show their results."""
        try:
            result = select(self.catalog, self.state)
            self.total = len(result)
            last = page_count(self.total, self.page_size) - 1
            if self.state.page > last:  # a URL past the end shows the last page
                self.state = SearchState(self.state.text, self.state.filters, last)
            self.rows = page_rows(result, self.state.page, self.page_size)
            self.counts = facet_counts(self.catalog, self.state, self.fields, FACET_LIMIT)
            self.error = ""
        except (CatalogError, ValueError, KeyError) as exc:
            self.error = str(exc)
            self.total, self.rows = 0, []
        self._show()

    def _show(self) -> None:
        self._quiet = True
        try:
            self.box.value = self.state.text
            self.alert.object = html.escape(self.error)
            self.alert.visible = bool(self.error)
            for field, widget in self.facets.items():
                counts = self.counts.get(field, {})
                widget.options = {f"{value} ({n})": value for value, n in counts.items()}
                widget.value = [v for v in self.state.chosen(field) if v in counts]
                self.facet_cards[field].visible = bool(counts)
        finally:
            self._quiet = False
        pages = page_count(self.total, self.page_size)
        whole = len(self.catalog)
        self.count.object = (
            f"<b>{self.total:,}</b> of {whole:,} datasets"
            if self.total != whole
            else f"<b>{self.total:,}</b> datasets"
        )
        self.grid.object = tiles_html(self.rows)
        self.where.object = f"page {self.state.page + 1} of {pages}"
        self.prev.disabled = self.state.page == 0
        self.next.disabled = self.state.page >= pages - 1


def search_page(index: Path, page_size: int = PAGE_SIZE) -> Any:
    """The search page for the session's user, in the state its URL gives."""
    import panel as pn

    user = current_user()
    try:
        cat = catalogue_for(index, user)
    except (CatalogError, OSError) as exc:
        return layout.error_page("search", str(exc), user)
    state = SearchState.from_query(pn.state.session_args or {})
    page = SearchPage(cat, state, page_size=page_size)

    def sync(new: SearchState) -> None:
        if pn.state.location is not None:
            query = to_query_string(new)
            pn.state.location.search = f"?{query}" if query else ""

    page.on_state = sync
    if page.state != state:  # the URL asked for a page past the end
        sync(page.state)
    return layout.frame("search", [page.body], user, role_of(cat))
