"""Facet controls of the search panel: each turns one widget into one search filter.

A control's :meth:`filter` is ``None`` while it filters nothing (nothing chosen, or a
range slider at its full extent, so datasets without a value stay in), else a value
``cat.search(**{field: value})`` understands.

>>> f = CategoryFacet("modality", {"CT": 4, "LM": 2}, on_change=lambda: None)
>>> f.widget.value = ("CT",); f.filter()
['CT']
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as W

from catalog.catalogue.values import parse_bytes, parse_length_value
from catalog.errors import CatalogError

from .format import human_bytes, human_length

LABELS = {
    "modality": "Modality",
    "format": "Format",
    "data_level": "Data level",
    "project": "Project",
    "sample": "Sample",
    "tags": "Tags",
    "instrument": "Instrument",
    "size": "Size",
    "voxel_size": "Voxel size",
    "acquired": "Acquired",
}
# a facet takes 160 px and grows to 300 px to fill its row; rows wrap
_FACET_LAYOUT = {"width": "auto", "flex": "1 1 160px", "min_width": "0", "max_width": "300px"}


def _label(field: str) -> str:
    return LABELS.get(field, field.replace("_", " ").capitalize())


class CategoryFacet:
    """A multi-select of a categorical field's values with their counts."""

    def __init__(
        self, field: str, counts: Mapping[Any, int], on_change: Callable[[], None]
    ) -> None:
        self.field = field
        self._on_change = on_change
        self._quiet = False
        self.widget = W.SelectMultiple(
            options=[], rows=5, layout=W.Layout(width="auto"), description_allow_html=False
        )
        self.box = W.VBox([W.Label(_label(field)), self.widget], layout=W.Layout(**_FACET_LAYOUT))
        self.box.add_class("voxcat-facet")
        self.set_counts(counts)
        self.widget.observe(self._changed, names="value")

    def _changed(self, _: Any) -> None:
        if not self._quiet:
            self._on_change()

    def set_counts(self, counts: Mapping[Any, int]) -> None:
        """Show ``value (count)`` options; chosen values stay chosen (with 0 if absent)."""
        chosen = tuple(self.widget.value)
        merged = dict(counts)
        for value in chosen:
            merged.setdefault(value, 0)
        options = [(f"{value} ({n})", value) for value, n in merged.items()]
        self._quiet = True
        try:
            self.widget.options = options
            self.widget.value = chosen
            self.widget.rows = max(2, min(6, len(options)))
        finally:
            self._quiet = False

    @property
    def counts(self) -> dict[Any, int]:
        """``{value: count}`` as currently shown."""
        return {value: int(label.rsplit("(", 1)[1][:-1]) for label, value in self.widget.options}

    def filter(self) -> list[Any] | None:
        return list(self.widget.value) or None

    def set_filter(self, value: Any) -> None:
        """Choose the values of a filter set from code (unknown values are added)."""
        values = (
            [] if value is None else list(value) if isinstance(value, list | tuple) else [value]
        )
        self._quiet = True
        try:
            missing = [v for v in values if v not in [o[1] for o in self.widget.options]]
            if missing:
                self.widget.options = [*self.widget.options, *((f"{v} (0)", v) for v in missing)]
            self.widget.value = tuple(values)
        finally:
            self._quiet = False


class LogRangeFacet:
    """A range slider on a log scale for sizes (bytes) or lengths (metres)."""

    def __init__(
        self, field: str, lo: float, hi: float, on_change: Callable[[], None], kind: str = "bytes"
    ) -> None:
        self.field = field
        self.kind = kind
        self._quiet = False
        self._on_change = on_change
        self.lo, self.hi = math.log10(max(lo, 1e-12)), math.log10(max(hi, 1e-12))
        self.widget = W.FloatRangeSlider(
            min=self.lo,
            max=self.hi,
            value=(self.lo, self.hi),
            step=(self.hi - self.lo) / 200,
            readout=False,
            continuous_update=False,
            layout=W.Layout(width="auto"),
        )
        self.readout = W.Label()
        self.box = W.VBox(
            [W.Label(_label(field)), self.widget, self.readout], layout=W.Layout(**_FACET_LAYOUT)
        )
        self.box.add_class("voxcat-facet")
        self._show()
        self.widget.observe(self._changed, names="value")

    def _fmt(self, log_value: float) -> str:
        value = 10**log_value
        return human_bytes(value) if self.kind == "bytes" else human_length(value)

    def _show(self) -> None:
        a, b = self.widget.value
        self.readout.value = f"{self._fmt(a)} – {self._fmt(b)}"

    def _changed(self, _: Any) -> None:
        self._show()
        if not self._quiet:
            self._on_change()

    def filter(self) -> tuple[float | None, float | None] | None:
        a, b = self.widget.value
        tol = (self.hi - self.lo) / 1000
        lo = None if a <= self.lo + tol else 10**a
        hi = None if b >= self.hi - tol else 10**b
        if lo is None and hi is None:
            return None
        if self.kind == "bytes":
            lo = None if lo is None else math.floor(lo)
            hi = None if hi is None else math.ceil(hi)
        return (lo, hi)

    def _log(self, value: Any, default: float) -> float:
        if value is None:
            return default
        parse = parse_bytes if self.kind == "bytes" else parse_length_value
        try:
            number = float(parse(value))
        except (CatalogError, ValueError, TypeError):
            return default
        return min(max(math.log10(max(number, 1e-300)), self.lo), self.hi)

    def set_filter(self, value: Any) -> None:
        """Show a ``(lo, hi)`` filter set from code (other forms show the full range)."""
        lo, hi = value if isinstance(value, tuple) and len(value) == 2 else (None, None)
        a, b = self._log(lo, self.lo), self._log(hi, self.hi)
        self._quiet = True
        try:
            self.widget.value = (a, b)
        finally:
            self._quiet = False


def _date_steps(lo: dt.datetime, hi: dt.datetime) -> list[str]:
    """Days, months or years between ``lo`` and ``hi`` as ISO periods (at most ~400)."""
    if (hi.date() - lo.date()).days <= 400:
        n = (hi.date() - lo.date()).days
        return [(lo.date() + dt.timedelta(days=i)).isoformat() for i in range(n + 1)]
    months = (hi.year - lo.year) * 12 + hi.month - lo.month
    if months <= 400:
        return [
            f"{lo.year + (lo.month - 1 + i) // 12:04d}-{(lo.month - 1 + i) % 12 + 1:02d}"
            for i in range(months + 1)
        ]
    return [f"{y:04d}" for y in range(lo.year, hi.year + 1)]


class DateFacet:
    """A range slider over acquisition dates (days, months or years, by the span)."""

    def __init__(
        self, field: str, lo: dt.datetime, hi: dt.datetime, on_change: Callable[[], None]
    ) -> None:
        self.field = field
        self._quiet = False
        self._on_change = on_change
        self.steps = _date_steps(lo, hi)
        self.widget = W.SelectionRangeSlider(
            options=self.steps,
            index=(0, len(self.steps) - 1),
            continuous_update=False,
            layout=W.Layout(width="auto"),
        )
        self.box = W.VBox([W.Label(_label(field)), self.widget], layout=W.Layout(**_FACET_LAYOUT))
        self.box.add_class("voxcat-facet")
        self.widget.observe(self._changed, names="value")

    def _changed(self, _: Any) -> None:
        if not self._quiet:
            self._on_change()

    def filter(self) -> tuple[str | None, str | None] | None:
        a, b = self.widget.index
        lo = None if a == 0 else self.steps[a]
        hi = None if b == len(self.steps) - 1 else self.steps[b]
        return None if lo is None and hi is None else (lo, hi)

    def set_filter(self, value: Any) -> None:
        lo, hi = value if isinstance(value, tuple) else (None, None)

        def pick(v: Any, default: int) -> int:
            if v is None:
                return default
            text = v.isoformat() if hasattr(v, "isoformat") else str(v)
            before = [i for i, s in enumerate(self.steps) if s <= text[: len(s)]]
            return before[-1] if before else 0

        self._quiet = True
        try:
            self.widget.index = (pick(lo, 0), pick(hi, len(self.steps) - 1))
        finally:
            self._quiet = False


Facet = CategoryFacet | LogRangeFacet | DateFacet
