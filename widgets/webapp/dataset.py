"""The dataset page (``dataset?id=...``): the image viewer, metadata, tags and notes,
and the lineage graph of one dataset.

Volumes get three planes (xy, xz, yz), a slider per axis, contrast limits and a
colormap; each slider step reads one plane from the coarsest pyramid level that
fills the view. 2-D images (a stitched mosaic of 32,000 x 27,000 pixels, say) get one
zoomable view: a HoloViews ``DynamicMap`` on a ``RangeXY`` stream reads, after each
zoom or pan, only the window in view at the level that fits the screen.

>>> page = DatasetPage(cat, "k2x9q4m1abcd")                      # doctest: +SKIP
>>> page.viewer.reader.reads[-1]                                 # doctest: +SKIP
"""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from catalog.catalogue import DuckDBCatalog
from catalog.errors import CatalogError, Forbidden

from ..detail import FIELDS, _field, _table
from ..format import axis_unit
from ..slicing import SPATIAL
from . import layout
from .session import can_edit, catalogue_for, current_user, role_of
from .views import FIXES, PlaneViews, RegionReader, display_array

#: colormaps offered (names HoloViews knows, colorcet's included)
COLORMAPS = ("gray", "viridis", "magma", "fire", "kbc", "coolwarm")
#: pixels across a volume plane is read at; a 2-D window is read at twice that
PLANE_SIZE = 512
REGION_SIZE = 1024
INFO_CSS = """
.vx-tags span { display: inline-block; background: #e3ecf5; border-radius: 10px;
  padding: 1px 8px; margin: 2px; font-size: 12px; overflow-wrap: anywhere; }
.vx-notes div { font-size: 12px; margin: 3px 0; overflow-wrap: anywhere; }
table { width: 100%; max-width: 100%; }
th { white-space: nowrap; width: 1%; }
td { overflow-wrap: anywhere; }
a { overflow-wrap: anywhere; }
"""
#: a curator's tag chip: the tag and its remove button in one rounded box
CHIP_CSS = """
:host { background: #e3ecf5; border-radius: 10px; align-items: center; max-width: 100%;
  min-width: 0; }
"""
#: the chip's text: shrinks and wraps anywhere, so a long tag fits a phone
CHIP_TEXT_CSS = """
:host { min-width: 0; flex: 0 1 auto; }
span { font-size: 12px; overflow-wrap: anywhere; }
"""
CHIP_BUTTON_CSS = """
.bk-btn { padding: 0 6px; border: none; background: transparent; font-size: 14px;
  line-height: 18px; color: #30678d; }
.bk-btn:hover { color: #b00020; background: #d3dcea; border-radius: 10px; }
"""


def _coords(plane: Any, dim: str) -> np.ndarray:
    """A plane's coordinate values along ``dim`` (pixel indices when not numeric)."""
    if dim in plane.coords and plane[dim].ndim == 1 and plane[dim].dtype.kind in "iuf":
        return np.asarray(plane[dim].values, dtype=np.float64)
    return np.arange(plane.sizes[dim], dtype=np.float64)


def _edges(plane: Any, dim: str) -> tuple[float, float]:
    """Where the plane's first and last pixels along ``dim`` end (pixel edges)."""
    c = _coords(plane, dim)
    step = (c[-1] - c[0]) / (len(c) - 1) if len(c) > 1 else 1.0
    return float(c[0] - step / 2), float(c[-1] + step / 2)


def _label(plane: Any, dim: str) -> str:
    unit = plane[dim].attrs.get("units") if dim in plane.coords else None
    return f"{dim} ({axis_unit(unit)})" if unit and unit != "index" else f"{dim} (px)"


def _controls(views: PlaneViews, dims: list[str]) -> tuple[dict[str, Any], Any, Any]:
    """A viewer's controls, at the middle of the data: a slider for each of ``dims``
    longer than one, the contrast limits (whole steps for integer data, 500 steps
    across the value range otherwise) and the colormap."""
    import panel as pn

    start = views.middle()
    sliders = {
        d: pn.widgets.IntSlider(
            label=d, start=0, end=views.size(d) - 1, value=start[d], step=1, width=240
        )
        for d in dims
        if views.size(d) > 1
    }
    limits = views.limits(start)
    lo, hi = views.value_range(limits)
    step = 1.0 if np.dtype(views.slicer.dtype).kind in "ui" else (hi - lo) / 500
    contrast = pn.widgets.RangeSlider(
        label="Contrast", start=lo, end=hi, value=limits, step=step, width=240
    )
    cmap = pn.widgets.Select(label="Colormap", options=list(COLORMAPS), width=120)
    return sliders, contrast, cmap


def _control_bar(sliders: Mapping[str, Any], contrast: Any, cmap: Any) -> Any:
    """The controls in a row that wraps on a narrow screen."""
    import panel as pn

    return pn.FlexBox(
        *sliders.values(), contrast, cmap, sizing_mode="stretch_width", styles={"gap": "4px 16px"}
    )


class VolumeViewer:
    """Three planes of a volume with sliders, contrast and colormap (a 2-D image
    with other axes, t or c, gets one plane and their sliders)."""

    def __init__(self, views: PlaneViews) -> None:
        hv = layout.holoviews()
        import panel as pn

        self.views = views
        #: a slider moves the planes as it is dragged when they read fast (a pyramid,
        #: a preview or a small dataset), else when it is let go
        self.follows = "value" if _fast(views) else "value_throttled"
        self.problem = layout.message("", "warning")
        self.problem.visible = False
        moving = [
            d
            for d in views.slicer.dims
            if (d in FIXES.values() and views.volume) or d not in SPATIAL
        ]
        self.sliders, self.contrast, self.cmap = _controls(views, moving)
        #: the physical edges of each spatial dim, from the planes shown
        self.extents: dict[str, tuple[float, float]] = {}
        self.panes: dict[str, Any] = {}
        for view in views.views:
            fixed = [d for d in views.slicer.dims if d not in views.views[view]]
            bound: dict[str, Any] = {
                d: self.sliders[d].param[self.follows] for d in fixed if d in self.sliders
            }
            image: Callable[..., Any] = functools.partial(self._image, view)
            dmap = hv.DynamicMap(pn.bind(image, **bound))
            styled = dmap.apply.opts(cmap=self.cmap.param.value, clim=self.contrast.param.value)
            if views.volume:  # a click on one view moves the other two there
                tap = hv.streams.Tap(source=styled)
                tap.add_subscriber(functools.partial(self.tapped, view))
            self.panes[view] = pn.pane.HoloViews(
                styled,
                linked_axes=False,
                sizing_mode="stretch_width",
                min_width=260,
                styles={"flex": "1 1 300px"},
                css_classes=[f"vx-view-{view}"],
            )
        self.panel = pn.Column(
            self.problem,
            _control_bar(self.sliders, self.contrast, self.cmap),
            pn.FlexBox(*self.panes.values(), sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    def _image(self, view: str, **at: int) -> Any:
        hv = layout.holoviews()

        position = self.views.middle()
        position.update({d: int(w.value or 0) for d, w in self.sliders.items()})
        position.update({d: int(v) for d, v in at.items()})
        try:
            plane = self.views.plane(view, position)
        except (CatalogError, OSError, ValueError) as exc:  # files gone, unreadable...
            self.problem.object = html.escape(f"Cannot read the {view} plane: {exc}")
            self.problem.visible = True
            return hv.Image(np.zeros((1, 1), np.float32), kdims=["x", "y"], vdims=["value"])
        rows, cols = self.views.views[view]
        (left, right), (top, bottom) = _edges(plane, cols), _edges(plane, rows)
        self.extents[cols], self.extents[rows] = (left, right), (top, bottom)
        fixed = FIXES.get(view) if self.views.volume else None
        title = f"{view}" + (f" · {fixed} = {position[fixed]}" if fixed else "")
        ratio = abs(right - left) / max(abs(bottom - top), 1e-300)
        # the first array row goes to the top bound, rows grow downwards
        return hv.Image(
            np.flipud(display_array(plane.values)),
            bounds=(left, top, right, bottom),
            kdims=[
                hv.Dimension(f"{view}_{cols}", label=_label(plane, cols)),
                hv.Dimension(f"{view}_{rows}", label=_label(plane, rows)),
            ],
            vdims=["value"],
        ).opts(
            invert_yaxis=True,
            responsive=True,
            aspect=min(max(ratio, 0.25), 4.0),
            title=title,
            tools=["hover"],
            toolbar="above",
        )

    def tapped(self, view: str, x: float | None = None, y: float | None = None) -> None:
        """A click at ``(x, y)`` of ``view`` (plot coordinates): the sliders of its two
        dims move there, so the other views show the planes through that point."""
        import param

        if x is None or y is None:
            return
        rows, cols = self.views.views[view]
        for dim, value in ((cols, x), (rows, y)):
            edges = self.extents.get(dim)
            slider = self.sliders.get(dim)
            if edges is None or slider is None or edges[1] == edges[0]:
                continue
            n = self.views.size(dim)
            index = min(max(int((value - edges[0]) / (edges[1] - edges[0]) * n), 0), n - 1)
            with param.edit_constant(slider):  # set from code, not dragged: both move
                slider.param.update(value=index, value_throttled=index)


class MosaicViewer:
    """One zoomable view of a 2-D image: zoom and pan read only the window in view."""

    def __init__(self, views: PlaneViews, *, max_size: int = REGION_SIZE) -> None:
        hv = layout.holoviews()
        import panel as pn

        self.views = views
        self.reader = RegionReader(views.slicer, max_size=max_size)
        self.sliders, self.contrast, self.cmap = _controls(views, views.others)
        self.caption = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["vx-caption"])
        streams: list[Any] = [hv.streams.RangeXY()]
        for d, w in self.sliders.items():
            streams.append(hv.streams.Params(w, ["value"], rename={"value": d}))
        dmap = hv.DynamicMap(self._image, streams=streams)
        styled = dmap.apply.opts(cmap=self.cmap.param.value, clim=self.contrast.param.value)
        rows, cols = self.reader.rows, self.reader.cols
        #: the plot's width over its height: the whole image's, within 1:3 and 3:1
        self.aspect = min(max(cols / max(rows, 1), 1 / 3), 3.0)
        self.pane = pn.pane.HoloViews(
            styled,
            sizing_mode="stretch_width",
            linked_axes=False,
            min_width=260,
            css_classes=["vx-view-mosaic"],
        )
        self.panel = pn.Column(
            _control_bar(self.sliders, self.contrast, self.cmap),
            self.pane,
            self.caption,
            pn.pane.HTML(
                f"<small>{rows:,} × {cols:,} pixels, {len(views.slicer.levels)} pyramid "
                "level(s): scroll or pinch to zoom, drag to pan.</small>",
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )

    def _image(self, x_range: Any = None, y_range: Any = None, **at: int) -> Any:
        hv = layout.holoviews()

        try:
            values, (left, top, right, bottom) = self.reader.read(x_range, y_range, at)
        except (CatalogError, OSError, ValueError) as exc:  # files gone, unreadable...
            self.caption.object = html.escape(f"Cannot read this window: {exc}")
            return hv.Image(np.zeros((1, 1), np.float32), kdims=["x", "y"], vdims=["value"])
        last = self.reader.reads[-1]
        (r0, r1), (c0, c1) = last.window
        self.caption.object = (
            f"<small>rows {r0:,}–{r1:,}, columns {c0:,}–{c1:,} · read "
            f"{last.shape[0]:,} × {last.shape[1]:,} px from level {last.level}</small>"
        )
        # hv.Image puts the first array row at the top bound; y (the row) grows down
        return hv.Image(
            np.flipud(values),
            bounds=(left, top, right, bottom),
            kdims=["x", "y"],
            vdims=["value"],
        ).opts(
            invert_yaxis=True,
            responsive=True,
            aspect=self.aspect,
            tools=["hover"],
            active_tools=["wheel_zoom"],
            xlabel="x (px)",
            ylabel="y (px)",
        )


#: a dataset without a pyramid this big is slow to cut across: sliders act on release
FAST_BYTES = 64 << 20


def _fast(views: PlaneViews) -> bool:
    """Whether planes of the dataset read fast (from a pyramid or a preview, or
    small enough to read from its own files)."""
    slicer = views.slicer
    if getattr(slicer, "source", "original") != "original":
        return True
    nbytes = int(np.prod(slicer.shape)) * np.dtype(getattr(slicer, "dtype", "u1")).itemsize
    return nbytes < FAST_BYTES


def _viewer(cat: DuckDBCatalog, dataset_id: str) -> tuple[Any, Any]:
    """The image viewer of a dataset and the panel showing it (or why it cannot)."""
    import panel as pn

    from catalog.preview import Slicer

    try:
        slicer = Slicer.from_catalog(cat, dataset_id)
        views = PlaneViews(slicer, max_size=PLANE_SIZE)
        viewer: Any = VolumeViewer(views) if views.volume else MosaicViewer(views)
    except (CatalogError, ValueError, OSError) as exc:
        return None, layout.message(f"No images of this dataset: {exc}", "warning")
    advice = layout.message("", "info")
    advice.visible = False

    def advise(text: str) -> None:  # a slow view says how to make views fast
        advice.object = html.escape(text)
        advice.visible = True

    slicer.on_advice = advise
    return viewer, pn.Column(advice, viewer.panel, sizing_mode="stretch_width")


class DatasetPage:
    """Everything the dataset page shows of ``cat[dataset_id]``; ``viewer`` is the
    :class:`VolumeViewer` or :class:`MosaicViewer` (``None`` for data without images).

    >>> page = DatasetPage(cat, ident); page.add_tags("porosity")    # doctest: +SKIP
    """

    def __init__(self, cat: DuckDBCatalog, dataset_id: str) -> None:
        import panel as pn

        self.catalog, self.dataset_id = cat, dataset_id
        self.metadata: dict[str, Any] = dict(cat.entry(dataset_id).metadata)
        self.editable = can_edit(cat)
        name = html.escape(str(self.metadata.get("name")))
        self.title = pn.pane.HTML(
            f"<h2 style='margin:4px 0;overflow-wrap:anywhere'>{name} "
            f"<small><code>{html.escape(dataset_id)}</code></small></h2>",
            sizing_mode="stretch_width",
        )
        self.viewer, viewer_panel = _viewer(cat, dataset_id)
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[INFO_CSS])
        self.extra = pn.pane.HTML("", sizing_mode="stretch_width")
        #: the tags as chips; a curator's have a remove button each (``remove_buttons``)
        self.tags = pn.FlexBox(
            sizing_mode="stretch_width",
            css_classes=["vx-tags-pane"],
            styles={"gap": "0 4px"},
            margin=(0, 3),
        )
        self.remove_buttons: dict[str, Any] = {}
        self.notes = pn.pane.HTML(
            "", sizing_mode="stretch_width", stylesheets=[INFO_CSS], css_classes=["vx-notes-pane"]
        )
        self.status = layout.message("", "info")
        self.status.visible = False
        self.tag_input = pn.widgets.TextInput(
            placeholder="add tags (comma-separated)", sizing_mode="stretch_width", min_width=120
        )
        self.tag_button = pn.widgets.Button(label="Add tag", width=90)
        self.note_input = pn.widgets.TextAreaInput(
            placeholder="add a note", height=70, sizing_mode="stretch_width"
        )
        self.note_button = pn.widgets.Button(label="Add note", width=90)
        # Enter or the button adds what is typed; not a change of ``value``, which the
        # browser also sends on blur and again with Enter (the tags would be added twice,
        # the second time saying "added 0 tag(s)")
        self.tag_button.on_click(lambda _: self._tags_typed(self.tag_input.value_input))
        self.tag_input.param.watch(
            lambda _: self._tags_typed(self.tag_input.value_input), "enter_pressed"
        )
        self.note_button.on_click(lambda _: self._note_typed(self.note_input.value))
        if self.editable:
            editing: list[Any] = [
                pn.Row(self.tag_input, self.tag_button, sizing_mode="stretch_width"),
                self.note_input,
                self.note_button,
            ]
        else:
            role = role_of(cat) or "viewer"
            editing = [
                pn.pane.HTML(
                    f"<i style='font-size:12px'>Read only: you are a {html.escape(role)}; "
                    "curators add and remove tags and add notes.</i>",
                    sizing_mode="stretch_width",
                    css_classes=["vx-readonly"],
                )
            ]
        self.lineage = pn.Column(sizing_mode="stretch_width", css_classes=["vx-lineage"])
        self.reload()
        info = pn.Column(
            pn.pane.HTML("<h3>Tags and notes</h3>", margin=(0, 5)),
            self.tags,
            self.notes,
            *editing,
            self.status,
            pn.pane.HTML("<h3>Lineage</h3>", margin=(0, 5)),
            self.lineage,
            pn.pane.HTML("<h3>Details</h3>", margin=(0, 5)),
            self.table,
            pn.Card(
                self.extra, title="Format metadata", collapsed=True, sizing_mode="stretch_width"
            ),
            sizing_mode="stretch_width",
            min_width=260,
            styles={"flex": "1 1 300px"},
        )
        main = pn.Column(
            viewer_panel, sizing_mode="stretch_width", min_width=260, styles={"flex": "3 1 560px"}
        )
        self.body = pn.Column(
            self.title,
            pn.FlexBox(
                main, info, flex_wrap="wrap", sizing_mode="stretch_width", styles={"gap": "8px"}
            ),
            sizing_mode="stretch_width",
        )
        self._draw_lineage()

    # -- shown ---------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the dataset's row, tags and notes again."""
        self.metadata = dict(self.catalog.entry(self.dataset_id).metadata)
        meta = self.metadata
        self.table.object = _table([(k, _field(meta, k)) for k in FIELDS if k in meta])
        nested = json.dumps(meta.get("meta") or {}, indent=1, default=str, ensure_ascii=False)
        self.extra.object = (
            "<pre style='font-size:11px;max-height:300px;overflow:auto;white-space:pre-wrap'>"
            f"{html.escape(nested)}</pre>"
        )
        self._show_tags(list(meta.get("tags") or []))
        notes = list(meta.get("notes") or [])
        self.notes.object = (
            '<div class="vx-notes">'
            + "".join(
                f"<div><b>{html.escape(str(n['user']))}</b> "
                f"<small>{html.escape(str(n['time'])[:19].replace('T', ' '))}</small>: "
                f"<span style='white-space:pre-wrap'>{html.escape(str(n['text']))}</span></div>"
                for n in notes
            )
            + "</div>"
            if notes
            else "<i style='font-size:12px'>no notes</i>"
        )

    def _show_tags(self, tags: list[str]) -> None:
        """One chip per tag: plain for viewers, with a remove (×) button for curators."""
        import panel as pn

        self.remove_buttons = {}
        if not tags:
            self.tags.objects = [pn.pane.HTML("<i style='font-size:12px'>no tags</i>", margin=0)]
            return
        if not self.editable:
            self.tags.objects = [
                pn.pane.HTML(
                    '<div class="vx-tags">'
                    + "".join(f"<span>{html.escape(t)}</span>" for t in tags)
                    + "</div>",
                    sizing_mode="stretch_width",
                    stylesheets=[INFO_CSS],
                    margin=0,
                )
            ]
            return
        chips = []
        for tag in tags:
            button = pn.widgets.Button(
                label="×",
                description=f"Remove the tag {tag!r}",
                margin=0,
                stylesheets=[CHIP_BUTTON_CSS],
                css_classes=["vx-untag"],
            )
            button.on_click(functools.partial(self._remove_clicked, tag))
            self.remove_buttons[tag] = button
            chips.append(
                pn.Row(
                    pn.pane.HTML(
                        f"<span>{html.escape(tag)}</span>",
                        margin=(0, 0, 0, 8),
                        stylesheets=[CHIP_TEXT_CSS],
                    ),
                    button,
                    margin=2,
                    stylesheets=[CHIP_CSS],
                    css_classes=["vx-chip"],
                )
            )
        self.tags.objects = chips

    @property
    def shown_tags(self) -> list[str]:
        """The tags the page shows (as read at the last :meth:`reload`)."""
        return list(self.metadata.get("tags") or [])

    def _say(self, text: str, kind: str = "info") -> None:
        self.status.object = html.escape(text)
        self.status.alert_type = kind
        self.status.visible = True

    # -- edits ---------------------------------------------------------------------------
    def _tags_typed(self, text: str | None) -> None:
        if text:
            self.add_tags(*text.split(","))

    def _note_typed(self, text: str | None) -> None:
        self.add_note(text or "")

    def _edit(self, change: Callable[[], Any], action: str, failed: str) -> tuple[bool, Any]:
        """``(True, change())``, or ``(False, None)`` with what went wrong on the page:
        "You may not {action}: ..." (``Forbidden``) or "{failed}: ..." (another error)."""
        try:
            return True, change()
        except Forbidden as exc:
            self._say(f"You may not {action}: {exc}", "danger")
        except CatalogError as exc:
            self._say(f"{failed}: {exc}", "danger")
        return False, None

    def add_tags(self, *tags: str) -> int:
        """Tag the dataset (``cat.tag``: audited, curators only); shows the outcome."""
        tags = tuple(t.strip() for t in tags if t.strip())
        if not tags:
            return 0
        done, n = self._edit(
            lambda: self.catalog.tag(self.dataset_id, *tags), "add tags", "Tag not added"
        )
        if not done:
            return 0
        self.tag_input.param.update(value="", value_input="")
        self.reload()
        self._say(f"added {n} tag(s)")
        return int(n)

    def _remove_clicked(self, tag: str, _event: Any = None) -> None:
        self.remove_tag(tag)

    def remove_tag(self, tag: str) -> int:
        """Remove ``tag`` from the dataset (``cat.untag``: audited, curators only);
        shows the outcome and the tags left. Returns 1 when it was removed, else 0.

        >>> page.remove_tag("porosity")                                  # doctest: +SKIP
        1
        """
        done, n = self._edit(
            lambda: self.catalog.untag(self.dataset_id, tag), "remove tags", "Tag not removed"
        )
        if not done:
            return 0
        self.reload()
        if n:
            self._say(f"removed the tag {tag!r}")
        else:  # removed meanwhile (another tab, another curator)
            self._say(f"the tag {tag!r} was not on this dataset (any more)", "warning")
        return int(n)

    def add_note(self, text: str) -> bool:
        """Attach a note (``cat.note``: audited, curators only); shows the outcome."""
        if not text.strip():
            return False
        done, _ = self._edit(
            lambda: self.catalog.note(self.dataset_id, text), "add notes", "Note not added"
        )
        if not done:
            return False
        self.note_input.value = ""
        self.reload()
        self._say("note added")
        return True

    # -- lineage -------------------------------------------------------------------------
    def _draw_lineage(self) -> None:
        import panel as pn

        try:
            graph = self.catalog.lineage(self.dataset_id)
        except CatalogError as exc:
            self.lineage.objects = [layout.message(str(exc), "warning")]
            return
        if not graph.edges:
            self.lineage.objects = [pn.pane.HTML("<i style='font-size:12px'>none recorded</i>")]
            return
        self.graph = graph
        links = "".join(
            f'<li><a href="dataset?id={html.escape(i)}">'
            f"{html.escape(str(n.get('name') or i))}</a>"
            f"{' (this dataset)' if i == self.dataset_id else ''}</li>"
            for i, n in graph.nodes.items()
        )
        self.lineage.objects = [
            pn.pane.HoloViews(
                lineage_plot(graph, on_tap=navigate),
                sizing_mode="stretch_width",
                height=220,
                min_width=200,
            ),
            pn.pane.HTML(
                f"<ul style='font-size:12px;margin:0'>{links}</ul>",
                sizing_mode="stretch_width",
                stylesheets=[INFO_CSS],
            ),
        ]


def lineage_layout(graph: Any) -> dict[str, tuple[float, float]]:
    """Node positions: one row per generation (oldest on top), spread evenly."""
    out: dict[str, tuple[float, float]] = {}
    for depth, ids in enumerate(graph.generations()):
        for i, ident in enumerate(ids):
            out[ident] = ((i + 1) / (len(ids) + 1), -float(depth))
    return out


def lineage_plot(graph: Any, on_tap: Any = None) -> Any:
    """The lineage as a HoloViews ``Graph`` (nodes labelled by name, the dataset
    itself highlighted); tapping a node calls ``on_tap(id)``."""
    hv = layout.holoviews()

    where = lineage_layout(graph)
    ids = list(where)
    nodes = hv.Nodes(
        (
            [where[i][0] for i in ids],
            [where[i][1] for i in ids],
            ids,
            [str(graph.nodes[i].get("name") or i) for i in ids],
            ["this" if i == graph.root else "other" for i in ids],
        ),
        vdims=["name", "role"],
    )
    edges = (
        [e["parent"] for e in graph.edges],
        [e["child"] for e in graph.edges],
        [str(e.get("step") or "") for e in graph.edges],
    )
    plot = hv.Graph((edges, nodes), vdims=["step"]).opts(
        node_color="role",
        cmap={"this": "#d95f02", "other": "#30678d"},
        node_size=14,
        directed=True,
        arrowhead_length=0.04,
        responsive=True,
        height=220,
        xaxis=None,
        yaxis=None,
        tools=["hover", "tap"],
        padding=0.25,
        toolbar=None,
    )
    labels = hv.Labels(
        (
            [where[i][0] for i in ids],
            [where[i][1] - 0.25 for i in ids],
            [str(graph.nodes[i].get("name") or i)[:24] for i in ids],
        ),
    ).opts(text_font_size="9pt")
    if on_tap is not None:
        tap = hv.streams.Tap(source=plot)

        def tapped(x: float | None = None, y: float | None = None) -> None:
            hit = nearest_node(where, x, y)
            if hit is not None:
                on_tap(hit)

        tap.add_subscriber(tapped)
    return plot * labels


def nearest_node(
    where: Mapping[str, tuple[float, float]], x: float | None, y: float | None
) -> str | None:
    """The node drawn at (or within a quarter of a generation of) a tapped point."""
    if x is None or y is None or not where:
        return None
    ident, (nx, ny) = min(where.items(), key=lambda kv: (kv[1][0] - x) ** 2 + (kv[1][1] - y) ** 2)
    return ident if abs(nx - x) < 0.15 and abs(ny - y) < 0.3 else None


def navigate(dataset_id: str) -> None:
    """Open another dataset's page in this browser tab."""
    from urllib.parse import urlencode

    import panel as pn

    loc = pn.state.location
    if loc is None:
        return
    loc.search = "?" + urlencode({"id": dataset_id})
    loc.reload = True


def dataset_page(index: Path) -> Any:
    """The page of the dataset the URL's ``id`` names, for the session's user."""
    import panel as pn

    user = current_user()
    args: Mapping[str, Any] = pn.state.session_args or {}
    raw = (args.get("id") or [b""])[-1]
    ident = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if not ident:
        return layout.error_page(
            "dataset", "No dataset chosen: open one from the search page.", user
        )
    try:
        cat = catalogue_for(index, user)
        page = DatasetPage(cat, ident)
    except (CatalogError, KeyError, OSError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return layout.error_page("dataset", str(text), user)
    return layout.frame("dataset", [page.body], user, role_of(cat))
