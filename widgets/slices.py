"""The slice browser: three orthogonal views with a linked crosshair for volumes, a
zoom/pan view for 2-D images, sliders for the other axes, contrast and colormap.

Pixels come from a slicer (``catalog.preview.Slicer``): each view asks for one plane
(or the window in view) no larger than the screen, so a terabyte volume browses as
fast as a small one once it has a pyramid. Clicking a view moves the crosshair.

Inside a running kernel the xy view is drawn first and the other two are read in a
worker thread and drawn when they arrive (they cut through every slice: without a
pyramid, from a cold disk, that takes seconds); the kernel stays free meanwhile, and
``loaded`` is the task to await for all of them.

>>> sb = SliceBrowser(cat, "k2x9q4m1abcd")        # doctest: +SKIP
>>> sb.set_position(z=10); sb.cmap = "fire"      # doctest: +SKIP
>>> sb.views["xz"].data                          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import functools
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as W
import numpy as np
import traitlets as T
import xarray as xr
from ipyevents import Event

from catalog.catalogue import DuckDBCatalog
from catalog.errors import PreviewWarning

from .errors import NotDisplayable
from .format import axis_unit
from .jobs import JobLike, PreviewButton
from .render import COLORMAPS, Frame, render_png
from .slicing import (
    SPATIAL,
    SlicerLike,
    display_sizes,
    level_count,
    open_slicer,
    oriented,
    physical_extents,
    size_of,
)
from .traits import close_tree
from .zoom import ZoomView

ORTHO = {"xy": ("y", "x"), "xz": ("z", "x"), "yz": ("y", "z")}
FIXING = {"z": "xy", "y": "xz", "x": "yz"}  # the view whose plane fixes each axis
PERCENTILES = (1.0, 99.5)


def _shrinking() -> W.Layout:
    """A slider's layout: up to 420 px, narrower (down to nothing) in a narrow output."""
    return W.Layout(width="auto", flex="1 1 200px", min_width="0", max_width="420px")


def _column() -> W.Layout:
    """A column of views that narrows with its output (the images scale down)."""
    return W.Layout(min_width="0", max_width="100%", flex="0 1 auto")


def _row(children: list[W.Widget]) -> W.HBox:
    """A row of controls that wraps rather than overflows."""
    return W.HBox(
        children, layout=W.Layout(flex_flow="row wrap", align_items="center", width="100%")
    )


class OrthoView:
    """One of the three orthogonal planes: a PNG, a caption and the plane's data."""

    def __init__(self, name: str, dims: tuple[str, str], size: tuple[int, int]) -> None:
        self.name, self.dims, self.size = name, dims, size
        self.data: xr.DataArray | None = None
        self.frame: Frame | None = None
        self.key: tuple | None = None
        self.image = W.Image(format="png")
        self.caption = W.Label()
        self.events = Event(source=self.image, watched_events=["click"])
        self.box = W.VBox(
            [self.caption, self.image],
            layout=W.Layout(align_items="flex-start", min_width="0", max_width="100%"),
        )


def _read_plane(
    slicer: SlicerLike, dims: tuple[str, str], at: dict[str, int], max_size: int, catch: bool
) -> tuple[xr.DataArray, list[warnings.WarningMessage]]:
    """A plane and, with ``catch``, the warnings reading it raised (shown in the
    browser's notice). Worker threads do not catch: ``catch_warnings`` changes global
    state, and the Slicer hands its advice to ``on_advice`` anyway."""
    if not catch:
        return slicer.plane(dims=dims, at=at, max_size=max_size), []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PreviewWarning)
        plane = slicer.plane(dims=dims, at=at, max_size=max_size)
    return plane, list(caught)


def _scalar_coord(plane: xr.DataArray, dim: str) -> str:
    if dim not in plane.coords or plane[dim].ndim != 0:
        return ""
    value = plane[dim].values.item()
    unit = plane[dim].attrs.get("units")
    if isinstance(value, str):  # a channel name
        return value
    return f"{value:.4g} {axis_unit(unit)}" if unit and unit != "index" else ""


class SliceBrowser(W.VBox):
    """Browse one dataset of ``cat`` plane by plane.

    Traits: ``position`` (``{dim: index}`` at level 0: the crosshair and the other
    axes), ``limits`` (contrast ``(lo, hi)``), ``cmap`` (one of :data:`COLORMAPS`).
    ``views`` maps ``"xy"``, ``"xz"``, ``"yz"`` (volumes) or ``"xy"`` (2-D) to views
    whose ``data`` is the plane shown.

    ``display_size``: the longest side of the views in screen pixels (2-D: twice that);
    ``max_size``: planes are read from the level that still has this many pixels
    (default twice ``display_size``); ``slicer``: any object with the
    ``catalog.preview.Slicer`` interface (default ``Slicer.from_catalog(cat, id)``);
    ``preview_threshold``: bytes above which a dataset without a pyramid gets a
    "build preview" button (default ``catalog.preview.PREVIEW_MIN_BYTES``);
    ``job_factory(index, id)``: starts the build (default ``preview_job``).

    >>> sb = SliceBrowser(cat, ident, display_size=300)   # doctest: +SKIP
    >>> sb.views["xy"].data.sel(x=50.0, method="nearest")  # doctest: +SKIP
    """

    position = T.Dict()
    limits = T.Tuple(T.Float(), T.Float(), default_value=(0.0, 1.0))
    cmap = T.Enum(COLORMAPS, default_value="gray")

    def __init__(
        self,
        cat: DuckDBCatalog,
        dataset_id: str,
        *,
        slicer: SlicerLike | None = None,
        max_size: int | None = None,
        display_size: int = 360,
        preview_threshold: float | None = None,
        job_factory: Callable[[Any, str], JobLike] | None = None,
    ) -> None:
        super().__init__(layout=W.Layout(min_width="0", max_width="100%"))
        self.add_class("voxcat-slices")
        self.catalog, self.dataset_id = cat, dataset_id
        self.display_size = int(display_size)
        # planes are read at about twice the screen size (from the level that fits)
        self.max_size = int(max_size) if max_size else 2 * self.display_size
        self.slicer = slicer if slicer is not None else open_slicer(cat, dataset_id)
        dims = list(self.slicer.dims)
        self.spatial = [d for d in dims if d in SPATIAL]
        self.others = [d for d in dims if d not in SPATIAL]
        if len(self.spatial) not in (2, 3):
            raise NotDisplayable(
                f"dataset {dataset_id} has dims {dims}; the slice browser needs two or three "
                "of z, y, x"
            )
        if hasattr(self.slicer, "on_advice"):  # shown in the notice, never as a warning
            self.slicer.on_advice = lambda _message: None
        self.views: dict[str, Any] = {}
        self.zoom: ZoomView | None = None
        self.notice = W.Label()  # slow reads the slicer warns about
        self._syncing = False
        self.sliders = {
            d: self._slider(d) for d in (self.spatial if self.volume else []) + self.others
        }
        self.readouts = {d: W.Label() for d in self.sliders}
        self._build_contrast()
        self.set_trait("position", {d: self._start(d) for d in dims})
        self.preview = self._preview_button(preview_threshold, job_factory)
        self._build_views()
        self._sync_sliders()
        self.observe(self._on_position, names="position")
        self.observe(lambda _: self.render(), names=["limits", "cmap"])
        #: the task drawing the views after the first (``None`` when all were drawn at once)
        self.loaded: asyncio.Task[None] | None = None
        self._pending: set[str] = set()  # views the task has yet to draw
        self._first_render()

    def close(self) -> None:
        """Close the browser, its views and their mouse-event listeners."""
        if self.loaded is not None:
            self.loaded.cancel()
        for view in self.views.values():
            view.events.close()
        for child in self.children:
            close_tree(child)
        super().close()

    @property
    def volume(self) -> bool:
        """Whether the dataset has three spatial axes (orthogonal views)."""
        return len(self.spatial) == 3

    def _start(self, dim: str) -> int:
        return size_of(self.slicer, dim) // 2 if dim in SPATIAL else 0

    # -- controls ---------------------------------------------------------------------
    def _slider(self, dim: str) -> W.IntSlider:
        n = size_of(self.slicer, dim)
        slider = W.IntSlider(
            min=0, max=max(0, n - 1), description=dim, continuous_update=False,
            disabled=n <= 1, layout=_shrinking(),
        )  # fmt: skip
        slider.observe(lambda ch, d=dim: self._slid(d, ch["new"]), names="value")
        return slider

    def _slid(self, dim: str, value: int) -> None:
        if not self._syncing:
            self.set_position(**{dim: value})

    def _build_contrast(self) -> None:
        lo, hi = self.slicer.contrast(percentiles=PERCENTILES)
        full = self.slicer.contrast(percentiles=(0.0, 100.0))
        fmin, fmax = float(min(full[0], lo)), float(max(full[1], hi))
        if not fmax > fmin:
            fmax = fmin + 1.0
        self.contrast_slider = W.FloatRangeSlider(
            min=fmin, max=fmax, step=(fmax - fmin) / 1000, value=(float(lo), float(hi)),
            description="contrast", continuous_update=False, readout=False,
            layout=_shrinking(),
        )  # fmt: skip
        # as wide as its label, never squeezed by the slider beside it
        self.auto_button = W.Button(
            description="auto",
            tooltip="percentiles 1–99.5",
            layout=W.Layout(width="auto", min_width="fit-content", flex="0 0 auto"),
        )
        self.cmap_dropdown = W.Dropdown(options=COLORMAPS, description="colormap")
        self.contrast_readout = W.Label()
        T.link((self.contrast_slider, "value"), (self, "limits"))
        self._show_limits()
        self.observe(lambda _: self._show_limits(), names="limits")
        T.link((self.cmap_dropdown, "value"), (self, "cmap"))
        self.auto_button.on_click(lambda _: self.auto_contrast())

    def _show_limits(self) -> None:
        lo, hi = self.limits
        self.contrast_readout.value = f"{lo:.5g} – {hi:.5g}"

    def auto_contrast(self, percentiles: tuple[float, float] = PERCENTILES) -> tuple[float, float]:
        """Set the contrast limits from percentiles of the data at the current t and c;
        returns them."""
        at = {d: int(self.position[d]) for d in self.others}
        lo, hi = self.slicer.contrast(percentiles=percentiles, at=at)
        s = self.contrast_slider
        s.min, s.max = min(s.min, float(lo)), max(s.max, float(hi))
        self.limits = (float(lo), float(hi))
        return self.limits

    def _preview_button(
        self, threshold: float | None, factory: Callable[[Any, str], JobLike] | None
    ) -> PreviewButton | None:
        """A "build preview" button when the dataset is big and has no pyramid."""
        if level_count(self.slicer) > 1:
            return None
        if threshold is None:
            from catalog.preview import PREVIEW_MIN_BYTES

            threshold = PREVIEW_MIN_BYTES
        itemsize = np.dtype(getattr(self.slicer, "dtype", None) or "uint8").itemsize
        if math.prod(int(n) for n in self.slicer.shape) * itemsize < threshold:
            return None
        return PreviewButton(
            self.catalog.index, self.dataset_id, on_done=self._preview_ready, job_factory=factory
        )

    def _preview_ready(self, _: Any) -> None:
        self.slicer.refresh()  # picks up the new preview pyramid
        self.notice.value = ""  # its advice is taken
        for view in self.views.values():
            if isinstance(view, ZoomView):
                view.slicer, view._key = self.slicer, None
            else:
                view.key = None
        self.render()

    def _build_views(self) -> None:
        controls = W.VBox(
            [_row([self.sliders[d], self.readouts[d]]) for d in self.sliders]
            + [
                _row([self.contrast_slider, self.contrast_readout, self.auto_button]),
                self.cmap_dropdown,
            ],
            layout=W.Layout(min_width="0", max_width="100%"),
        )
        top = [self.notice] + ([self.preview.box] if self.preview is not None else [])
        if self.volume:
            sizes = display_sizes(
                physical_extents(self.slicer, self.spatial), ORTHO, self.display_size
            )
            for name, dims in ORTHO.items():
                view = OrthoView(name, dims, sizes[name])
                view.events.on_dom_event(lambda e, v=view: self.handle_click(v.name, e))
                self.views[name] = view
            v = self.views
            # xy above xz (x aligned), yz beside xy (y aligned) and the controls beside
            # them while they fit; each wraps below the others where the width ends
            controls.layout.flex = "1 1 300px"
            grid = W.HBox(
                [
                    W.VBox([v["xy"].box, v["xz"].box], layout=_column()),
                    W.VBox([v["yz"].box], layout=_column()),
                    controls,
                ],
                layout=W.Layout(flex_flow="row wrap", grid_gap="6px 12px", width="100%"),
            )
            self.children = [*top, grid]
        else:
            dims = (self.spatial[0], self.spatial[1])
            self.zoom = ZoomView(
                self.slicer, dims, on_change=self.render, display_size=2 * self.display_size
            )
            self.views["xy"] = self.zoom
            self.children = [*top, self.zoom.box, controls]

    # -- position ---------------------------------------------------------------------
    def set_position(self, **dims: int) -> None:
        """Move the crosshair or the other axes: ``set_position(z=10, c=1)`` (clamped)."""
        new = dict(self.position)
        for dim, value in dims.items():
            if dim not in new:
                raise NotDisplayable(f"{dim!r} is not a dim of this dataset ({list(new)})")
            new[dim] = min(max(int(value), 0), size_of(self.slicer, dim) - 1)
        self.position = new

    def handle_click(self, view_name: str, event: Mapping[str, Any]) -> None:
        """Move the crosshair to a click on an orthogonal view (an ipyevents event)."""
        view = self.views[view_name]
        if not isinstance(view, OrthoView) or view.frame is None:
            return
        frac = view.frame.fraction(float(event.get("dataX", -1)), float(event.get("dataY", -1)))
        if frac is None:
            return
        r, c = view.dims
        self.set_position(
            **{
                r: int(frac[0] * size_of(self.slicer, r)),
                c: int(frac[1] * size_of(self.slicer, c)),
            }
        )

    def _on_position(self, change: dict[str, Any]) -> None:
        old, new = change["old"], change["new"]
        changed = {d for d in new if old.get(d) != new[d]}
        self._sync_sliders()
        self.render(changed)

    def _sync_sliders(self) -> None:
        self._syncing = True
        try:
            for dim, slider in self.sliders.items():
                slider.value = self.position[dim]
        finally:
            self._syncing = False

    # -- drawing ----------------------------------------------------------------------
    def _at(self, dims: tuple[str, str]) -> dict[str, int]:
        return {d: int(i) for d, i in self.position.items() if d not in dims}

    def _first_render(self) -> None:
        """Draw xy now; in a running event loop, the other views from a worker thread."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or self.zoom is not None:
            self.render()
            return
        self._pending = {"yz", "xz"}
        self.render(views=("xy",))
        for name in self._pending:
            self.views[name].caption.value = f"{name} · reading…"
        self.loaded = loop.create_task(self._fill(("yz", "xz")))

    async def _fill(self, names: tuple[str, ...]) -> None:
        loop = asyncio.get_running_loop()
        for name in names:
            view = self.views[name]
            at = self._at(view.dims)
            read = functools.partial(_read_plane, self.slicer, view.dims, at, self.max_size, False)
            try:
                plane, caught = await loop.run_in_executor(None, read)
            except Exception as exc:  # shown, like any other reading problem
                self._pending.discard(name)
                view.caption.value = f"{name} · cannot read: {exc}"
                continue
            self._pending.discard(name)
            self._notice(caught)
            self._show_advice()
            view.data, view.key = oriented(plane, view.dims), tuple(sorted(at.items()))
            self.render(views=(name,))  # reads again only if the position moved meanwhile

    def render(
        self, changed: set[str] | None = None, views: tuple[str, ...] | None = None
    ) -> None:
        """Redraw the views (only those whose plane or crosshair ``changed`` dims touch,
        and only ``views`` when given)."""
        limits, cmap = self.limits, self.cmap
        if self.zoom is not None:
            if changed is None or changed & set(self.others):
                self.zoom.render(self._at(self.zoom.dims), limits, cmap)
                self._show_advice()
                self._caption_readouts()
            return
        for view in self.views.values():
            at = self._at(view.dims)
            if (view.name in self._pending) if views is None else (view.name not in views):
                continue  # a view the background task draws when its plane arrives
            if changed is not None and not changed & (set(at) | set(view.dims)):
                continue
            key = tuple(sorted(at.items()))
            if view.key != key or view.data is None:
                plane, caught = _read_plane(self.slicer, view.dims, at, self.max_size, True)
                view.data, view.key = oriented(plane, view.dims), key
                self._notice(caught)
                self._show_advice()
            r, c = view.dims
            cross = (
                (self.position[r] + 0.5) / size_of(self.slicer, r),
                (self.position[c] + 0.5) / size_of(self.slicer, c),
            )
            png, view.frame = render_png(view.data, limits, cmap, size=view.size, crosshair=cross)
            view.image.value = png
            view.frame.fit(view.image)
            fixed = next(d for d in self.spatial if d not in view.dims)
            where = _scalar_coord(view.data, fixed)
            view.caption.value = f"{view.name} · {fixed} = {at[fixed]}" + (
                f" ({where})" if where else ""
            )
        self._caption_readouts()

    def _show_advice(self) -> None:
        """The slicer's advice to build a preview (``catalog.preview.Slicer.advice``)."""
        advice = getattr(self.slicer, "advice", None)
        if advice:
            self.notice.value = f"⚠ {advice}"

    def _notice(self, caught: list[warnings.WarningMessage]) -> None:
        for w in caught:
            if issubclass(w.category, PreviewWarning):
                self.notice.value = f"⚠ {w.message}"
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def _caption_readouts(self) -> None:
        """The physical position (or channel name) next to each slider."""
        for dim, label in self.readouts.items():
            view = self.views[FIXING[dim]] if self.volume and dim in FIXING else self.views["xy"]
            label.value = _scalar_coord(view.data, dim) if view.data is not None else ""
