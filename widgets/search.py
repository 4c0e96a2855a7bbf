"""The search panel: a text box and facet filters generated from the index.

Typing and moving filters are debounced (a query runs ``debounce`` seconds after the
last change); each query is a few milliseconds of SQL and never reads pixel data.
Facet counts follow the current result: a field's own filter is left out when its
counts are computed, so the other values of that field stay choosable.

>>> panel = SearchPanel(cat)                       # doctest: +SKIP
>>> panel.text = "sandstone"; panel.flush()        # doctest: +SKIP
>>> panel.result, panel.count                      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import ipywidgets as W
import traitlets as T

from catalog.catalogue import DuckDBCatalog
from catalog.catalogue.core import DEFAULT_FACETS
from catalog.errors import CatalogError

from .facets import CategoryFacet, DateFacet, Facet, LogRangeFacet
from .timers import Debouncer
from .traits import CatalogTrait, close_tree

CATEGORIES = DEFAULT_FACETS
RANGES = ("size", "voxel_size", "acquired")


class SearchPanel(W.VBox):
    """Text search plus facet filters over ``cat``; ``result`` is the matching catalogue.

    Traits: ``text`` (str), ``filters`` (dict of ``cat.search`` keyword filters),
    ``result`` (the current :class:`~catalog.catalogue.DuckDBCatalog`), ``count`` (int),
    ``error`` (the message of a search that could not run, else ``""``).

    >>> panel = SearchPanel(cat, debounce=0)                 # doctest: +SKIP
    >>> panel.observe(lambda ch: print(len(ch["new"])), names="result")  # doctest: +SKIP
    >>> panel.filters = {"modality": ["CT"]}                 # doctest: +SKIP
    """

    text = T.Unicode("")
    filters = T.Dict()
    result = CatalogTrait()
    count = T.Int(0)
    error = T.Unicode("")

    def __init__(
        self,
        cat: DuckDBCatalog,
        *,
        debounce: float = 0.3,
        categories: tuple[str, ...] = CATEGORIES,
        ranges: tuple[str, ...] = RANGES,
        facet_limit: int = 30,
    ) -> None:
        super().__init__(layout=W.Layout(width="100%", min_width="0"))
        self.add_class("voxcat-search")
        self.catalog = cat
        self.categories = categories
        self.ranges = ranges
        self.facet_limit = facet_limit
        self.queries = 0  # how many searches ran (debounced typing runs few)
        self._debouncer = Debouncer(debounce, self._run)
        self._syncing = False
        self.controls: dict[str, Facet] = {}
        self.search_box = W.Text(
            placeholder='words, "phrases", -exclude',
            continuous_update=True,
            layout=W.Layout(flex="1 1 240px", width="auto", min_width="0"),
        )
        self.count_label = W.Label()
        self.error_label = W.Label(
            style={"text_color": "var(--jp-error-color1, #b00)"},
            layout=W.Layout(display="none"),
        )
        self.clear_button = W.Button(description="clear", icon="times", layout={"width": "auto"})
        self.facet_box = W.HBox(
            layout=W.Layout(flex_flow="row wrap", grid_gap="4px 8px", width="100%")
        )
        T.link((self.search_box, "value"), (self, "text"))
        self.clear_button.on_click(lambda _: self.clear())
        self.children = [
            W.HBox(
                [self.search_box, self.clear_button, self.count_label],
                layout=W.Layout(flex_flow="row wrap", align_items="center", width="100%"),
            ),
            self.error_label,
            self.facet_box,
        ]
        self._build_controls()
        self._apply(cat)
        self.observe(lambda _: self._debouncer.trigger(), names="text")
        self.observe(self._on_filters, names="filters")

    # -- building ---------------------------------------------------------------------
    def _build_controls(self) -> None:
        """One control per categorical field with values and per range with a spread."""
        old = {k: c.filter() for k, c in self.controls.items()}
        cat = self.catalog
        counts = cat.facets(*self.categories, limit=self.facet_limit) if self.categories else {}
        controls: dict[str, Facet] = {}
        for field in self.categories:
            if counts.get(field) or old.get(field):
                controls[field] = CategoryFacet(
                    field, counts.get(field, {}), self._controls_changed
                )
        for field in self.ranges:
            lo, hi = cat.range(field)
            if lo is None or hi is None or lo == hi:
                continue
            if field == "acquired":
                if lo.date() != hi.date():
                    controls[field] = DateFacet(field, lo, hi, self._controls_changed)
            elif field == "size":
                controls[field] = LogRangeFacet(field, max(lo, 1), hi, self._controls_changed)
            else:
                controls[field] = LogRangeFacet(
                    field, lo, hi, self._controls_changed, kind="length"
                )
        for field, value in old.items():
            if value is not None and field in controls:
                controls[field].set_filter(value)
        stale = self.facet_box.children
        self.controls = controls
        self.facet_box.children = [c.box for c in controls.values()]
        for box in stale:
            close_tree(box)

    # -- events -----------------------------------------------------------------------
    def _controls_changed(self) -> None:
        if self._syncing:
            return
        new = {k: v for k, v in self.filters.items() if k not in self.controls}
        for field, control in self.controls.items():
            value = control.filter()
            if value is not None:
                new[field] = value
        self.filters = new

    def _on_filters(self, change: dict[str, Any]) -> None:
        self._syncing = True
        try:  # filters set from code: show them in the controls
            for field, control in self.controls.items():
                value = change["new"].get(field)
                if value != control.filter():
                    control.set_filter(value)
        finally:
            self._syncing = False
        self._debouncer.trigger()

    # -- queries ----------------------------------------------------------------------
    def _search(self, filters: dict[str, Any]) -> DuckDBCatalog:
        text = self.text.strip() or None
        if text is None and not filters:
            return self.catalog
        return self.catalog.search(text, **filters)

    def _run(self) -> None:
        self.queries += 1
        try:
            result = self._search(dict(self.filters))
            count = len(result)
        except (CatalogError, ValueError, KeyError) as exc:
            self.error = str(exc)
            self.error_label.value = f"⚠ {exc}"
            self.error_label.layout.display = None
            return
        self.error = ""
        self.error_label.value = ""
        self.error_label.layout.display = "none"  # no empty line above the facets
        self._apply(result, count)

    def _apply(self, result: DuckDBCatalog, count: int | None = None) -> None:
        self.result = result
        self.count = len(result) if count is None else count
        total = self.count if result is self.catalog else len(self.catalog)
        self.count_label.value = f"{self.count} of {total} datasets"
        self._update_counts(result)

    def _update_counts(self, result: DuckDBCatalog) -> None:
        cats = [k for k, c in self.controls.items() if isinstance(c, CategoryFacet)]
        if not cats:
            return
        text = self.text.strip() or None
        counts = self.catalog.multiselect_facets(
            *cats, text=text, filters=dict(self.filters), limit=self.facet_limit
        )
        for field in cats:  # a filtered field counts without its own filter
            control = self.controls[field]
            assert isinstance(control, CategoryFacet)
            control.set_counts(counts[field])

    # -- public -----------------------------------------------------------------------
    def flush(self) -> None:
        """Run a pending (debounced) search now."""
        self._debouncer.flush()

    def refresh(self) -> None:
        """Rebuild the facets from the index (after tags or fields changed) and search."""
        self._debouncer.cancel()
        self._build_controls()
        self._run()

    def clear(self) -> None:
        """Empty the text box and reset every filter."""
        self.text = ""
        self.filters = {}
        self.flush()
