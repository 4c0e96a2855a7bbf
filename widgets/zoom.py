"""A zoom/pan view of a large 2-D image: only the window in view is requested, at the
pyramid level that fits the screen (``slicer.region(..., max_size=...)``).

Mouse: wheel zooms at the pointer, drag pans, double-click zooms in. Buttons do the
same for keyboards and touch screens.

>>> view = ZoomView(slicer, ("y", "x"), on_change=lambda: None)   # doctest: +SKIP
>>> view.zoom(4); view.pan(0, 100); view.window                    # doctest: +SKIP
((3750, 6250), (3850, 6350))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as W
import xarray as xr
from ipyevents import Event

from .render import Frame, render_png
from .slicing import SlicerLike, oriented, physical_extents, size_of

MIN_WINDOW = 16  # pixels of level 0 on the short side, at the deepest zoom


class ZoomView:
    """One 2-D view with a movable window ``((r0, r1), (c0, c1))`` in level-0 pixels."""

    def __init__(
        self,
        slicer: SlicerLike,
        dims: tuple[str, str],
        *,
        on_change: Callable[[], None],
        display_size: int = 512,
    ) -> None:
        self.slicer = slicer
        self.dims = dims
        self.display_size = int(display_size)
        self.full = (size_of(slicer, dims[0]), size_of(slicer, dims[1]))
        self._on_change = on_change
        self._drag: tuple[float, float] | None = None
        self.window: tuple[tuple[int, int], tuple[int, int]] = (
            (0, self.full[0]),
            (0, self.full[1]),
        )
        self.data: xr.DataArray | None = None
        self.frame: Frame | None = None
        self.requests: list[dict[str, Any]] = []  # what was asked of the slicer, in order
        self._key: tuple | None = None
        self.image = W.Image(format="png")
        self.caption = W.Label()
        self.events = Event(
            source=self.image,
            watched_events=["wheel", "mousedown", "mouseup", "dblclick"],
            prevent_default_action=True,
        )
        self.events.on_dom_event(self.handle_event)
        buttons = []
        for label, icon, action in (
            ("", "search-plus", lambda: self.zoom(2)),
            ("", "search-minus", lambda: self.zoom(0.5)),
            ("", "arrow-left", lambda: self.pan(0, -self._step(1))),
            ("", "arrow-right", lambda: self.pan(0, self._step(1))),
            ("", "arrow-up", lambda: self.pan(-self._step(0), 0)),
            ("", "arrow-down", lambda: self.pan(self._step(0), 0)),
            ("reset", "expand", self.reset),
        ):
            b = W.Button(description=label, icon=icon, layout={"width": "auto"})
            b.on_click(lambda _, a=action: a())
            buttons.append(b)
        self.buttons = W.HBox(buttons, layout=W.Layout(flex_flow="row wrap"))
        self.box = W.VBox(
            [self.buttons, self.image, self.caption],
            layout=W.Layout(align_items="flex-start", min_width="0", max_width="100%"),
        )

    # -- window arithmetic ------------------------------------------------------------
    def _step(self, axis: int) -> int:
        (r0, r1), (c0, c1) = self.window
        return max(1, ((r1 - r0) if axis == 0 else (c1 - c0)) // 4)

    def _set(self, centre: tuple[float, float], size: tuple[float, float]) -> None:
        window = []
        for axis in (0, 1):
            n = self.full[axis]
            length = round(min(max(size[axis], min(MIN_WINDOW, n)), n))
            start = round(centre[axis] - length / 2)
            start = min(max(start, 0), n - length)
            window.append((start, start + length))
        new = (window[0], window[1])
        if new != self.window:
            self.window = new
            self._on_change()

    def zoom(self, factor: float, centre: tuple[float, float] | None = None) -> None:
        """Zoom in (``factor`` > 1) or out around ``centre`` (level-0 pixels; default
        the window's centre), keeping the point under ``centre`` in place."""
        (r0, r1), (c0, c1) = self.window
        h, w = (r1 - r0), (c1 - c0)
        factor = min(factor, min(h, w) / min(MIN_WINDOW, *self.full)) if factor > 1 else factor
        if centre is None:
            centre = ((r0 + r1) / 2, (c0 + c1) / 2)
        # the point under the pointer stays under it: scale the offsets from it
        new_h, new_w = h / factor, w / factor
        cy = centre[0] + ((r0 + r1) / 2 - centre[0]) / factor
        cx = centre[1] + ((c0 + c1) / 2 - centre[1]) / factor
        self._set((cy, cx), (new_h, new_w))

    def pan(self, rows: float, cols: float) -> None:
        """Move the window by ``rows``, ``cols`` level-0 pixels (stops at the edges)."""
        (r0, r1), (c0, c1) = self.window
        self._set(((r0 + r1) / 2 + rows, (c0 + c1) / 2 + cols), (r1 - r0, c1 - c0))

    def reset(self) -> None:
        """Show the whole image."""
        self._set((self.full[0] / 2, self.full[1] / 2), self.full)

    def to_pixels(self, x: float, y: float) -> tuple[float, float] | None:
        """Level-0 ``(row, column)`` under PNG pixel ``(x, y)``, or ``None`` outside."""
        if self.frame is None:
            return None
        frac = self.frame.fraction(x, y)
        if frac is None:
            return None
        (r0, r1), (c0, c1) = self.window
        return r0 + frac[0] * (r1 - r0), c0 + frac[1] * (c1 - c0)

    # -- mouse --------------------------------------------------------------------------
    def handle_event(self, event: Mapping[str, Any]) -> None:
        """React to an ipyevents DOM event (``dataX``/``dataY`` are PNG pixels)."""
        kind = event.get("type")
        x, y = float(event.get("dataX", -1)), float(event.get("dataY", -1))
        point = self.to_pixels(x, y)
        if kind == "wheel" and point is not None:
            self.zoom(1.25 if float(event.get("deltaY", 0)) < 0 else 0.8, point)
        elif kind == "dblclick" and point is not None:
            self.zoom(2, point)
        elif kind == "mousedown":
            self._drag = (x, y)
        elif kind == "mouseup" and self._drag is not None and self.frame is not None:
            dx, dy = x - self._drag[0], y - self._drag[1]
            self._drag = None
            (r0, r1), (c0, c1) = self.window
            rows = -dy / self.frame.plot_height * (r1 - r0)
            cols = -dx / self.frame.plot_width * (c1 - c0)
            if abs(dx) + abs(dy) >= 3:
                self.pan(rows, cols)

    # -- drawing ------------------------------------------------------------------------
    def plot_size(self) -> tuple[int, int]:
        """``(height, width)`` in screen pixels of the window, physical aspect kept."""
        (r0, r1), (c0, c1) = self.window
        ext = physical_extents(self.slicer, self.dims)
        ph = (r1 - r0) * ext[self.dims[0]] / self.full[0]
        pw = (c1 - c0) * ext[self.dims[1]] / self.full[1]
        scale = self.display_size / max(ph, pw)
        return max(32, round(ph * scale)), max(32, round(pw * scale))

    def fetch(self, at: Mapping[str, int]) -> xr.DataArray:
        """The window's pixels (cached until the window or ``at`` changes)."""
        key = (self.window, tuple(sorted(at.items())))
        if key != self._key or self.data is None:
            (r0, r1), (c0, c1) = self.window
            request = {self.dims[0]: (r0, r1), self.dims[1]: (c0, c1)}
            self.requests.append(request)
            region = self.slicer.region(**request, at=dict(at), max_size=self.display_size)
            self.data, self._key = oriented(region, self.dims), key
        return self.data

    def render(self, at: Mapping[str, int], limits: tuple[float, float], cmap: str) -> None:
        data = self.fetch(at)
        png, self.frame = render_png(data, limits, cmap, size=self.plot_size())
        self.image.value = png
        self.frame.fit(self.image)
        (r0, r1), (c0, c1) = self.window
        zoom = self.full[1] / max(1, c1 - c0)
        self.caption.value = (
            f"{self.dims[0]} {r0}–{r1}, {self.dims[1]} {c0}–{c1} of "
            f"{self.full[0]}×{self.full[1]} px · zoom ×{zoom:.3g} · "
            f"shown at {data.shape[0]}×{data.shape[1]}"
        )
