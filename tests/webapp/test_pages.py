"""The web app's pages on a real scanned lab, without a browser: search, facets and
paging; the slice viewer and the mosaic's zoom reading only what is in view; tags,
notes and lineage; the catalogue bound to the signed-in user."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from catalog import open_catalog
from widgets.errors import WebAppError
from widgets.webapp import pages
from widgets.webapp.dataset import DatasetPage, lineage_layout, lineage_plot, nearest_node
from widgets.webapp.search import SearchPage, tiles_html
from widgets.webapp.session import _binds_users, can_edit, catalogue_for
from widgets.webapp.state import SearchState
from widgets.webapp.views import RegionReader

from ..webapp_lab import MOSAIC, SMALL


def test_pages_are_the_three_routes(lab: dict) -> None:
    routes = pages(lab["index"])
    assert sorted(routes) == ["dashboard", "dataset", "search"]
    assert all(callable(f) for f in routes.values())


def test_importing_the_web_app_leaves_panel_out() -> None:
    code = (
        "import widgets.webapp, widgets.webapp.state, widgets.webapp.views, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('panel', 'holoviews', 'hvplot', 'bokeh')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- search ---------------------------------------------------------------------------------
def test_search_pages_through_every_result_once(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    page = SearchPage(cat, SearchState(), page_size=7)
    assert page.total == len(cat) == SMALL + 3
    seen = [r["id"] for r in page.rows]
    while not page.next.disabled:
        page.next_page()
        seen += [r["id"] for r in page.rows]
    assert sorted(seen) == sorted(cat)  # every dataset once, in pages of 7
    assert page.state.page == 4 and page.where.object == "page 5 of 5"
    page.go_to(99)  # clamped
    assert page.state.page == 4


def test_facets_count_and_combine_with_or(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    page = SearchPage(cat, SearchState())
    assert page.counts["modality"] == {"LM": 20, "EM": 10, "CT": 2, "SEM": 1}
    states = []
    page.on_state = states.append
    page.facets["modality"].value = ["CT"]  # as a click in the browser sets it
    assert page.total == 2 and states[-1].filters == {"modality": ("CT",)}
    # the field's own counts stay (OR), the others follow the selection
    assert page.counts["modality"]["LM"] == 20
    assert page.counts["project"] == {"rocks": 2}
    page.facets["modality"].value = ["CT", "SEM"]
    assert page.total == 3
    assert {r["name"] for r in page.rows} == {
        "core_scan.tif",
        "core_segmented.tif",
        "wafer_mosaic.tif",
    }
    assert "3</b> of 33" in page.count.object


def test_search_box_takes_words_and_fields(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    page = SearchPage(cat, SearchState())
    page.box.value = "tile project=brains"
    assert page.total == 10 and page.error == ""
    assert page.facets["project"].value == []  # a box filter is no facet choice
    page.box.value = "size=lots"
    assert page.total == 0 and "size" in page.error and page.alert.visible
    page.clear.clicks += 1
    assert page.total == len(cat) and not page.alert.visible


def test_a_url_past_the_end_shows_the_last_page(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    page = SearchPage(cat, SearchState(filters={"modality": ("EM",)}, page=50), page_size=4)
    assert page.total == 10 and page.state.page == 2 and len(page.rows) == 2


def test_tiles_link_to_datasets_and_escape_names(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    page = SearchPage(cat, SearchState(text="core"))
    markup = page.grid.object
    for row in page.rows:
        assert f'href="dataset?id={row["id"]}"' in markup
        assert row["thumbnail"].startswith(b"\x89PNG")  # the scan's PNG, not pixels
    evil = [
        {"id": "x", "name": '<img src=x onerror="alert(1)">', "facts": "<b>", "thumbnail": None}
    ]
    out = tiles_html(evil)
    assert "<img src=x" not in out and html.escape(evil[0]["name"]) in out


# -- dataset: volume ------------------------------------------------------------------------
def test_volume_slider_reads_one_new_plane(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    page = DatasetPage(cat, lab["ids"]["core_scan"])
    viewer = page.viewer
    assert set(viewer.panes) == {"xy", "xz", "yz"}
    assert set(viewer.sliders) == {"z", "y", "x"}
    views = viewer.views
    first = viewer._image("xy", z=20)
    n = len(views.reads)
    moved = viewer._image("xy", z=3)
    assert len(views.reads) == n + 1
    view, dims, at, shape = views.reads[-1]
    assert (view, dims, at["z"], shape) == ("xy", ("y", "x"), 3, (64, 80))
    values = lambda img: np.asarray(img.dimension_values(2))  # noqa: E731
    assert not np.array_equal(values(first), values(moved))  # the ball is not at z=3
    lo, hi = viewer.contrast.value
    assert 0 <= lo < hi <= 3400 and viewer.cmap.value == "gray"


# -- dataset: mosaic ------------------------------------------------------------------------
def _rchar() -> int:
    text = Path("/proc/self/io").read_text()
    return int(re.search(r"rchar: (\d+)", text).group(1))


def test_mosaic_zoom_reads_only_the_window(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    page = DatasetPage(cat, lab["ids"]["wafer_mosaic"])
    viewer = page.viewer
    reader: RegionReader = viewer.reader
    rows, cols = MOSAIC
    whole = viewer._image()  # the first view: all of it, from a coarse level
    full = reader.reads[-1]
    assert full.window == ((0, rows), (0, cols)) and full.level > 0
    assert max(full.shape) <= 2 * reader.max_size
    before = _rchar()
    zoomed = viewer._image(x_range=(4000.0, 4600.0), y_range=(3000.0, 3450.0))
    read_bytes = _rchar() - before
    last = reader.reads[-1]
    assert last.window == ((3000, 3450), (4000, 4600))
    assert last.level == 0 and last.shape == (450, 600)  # small enough for level 0
    assert last.area < full.area / 150
    # bytes read from files: the window's tiles, nowhere near the 48 MB mosaic
    assert read_bytes < 4_000_000, read_bytes
    # the image sits where the window is, rows growing downwards
    assert zoomed.bounds.lbrt() == (4000, 3000, 4600, 3450)
    assert whole.bounds.lbrt() == (0, 0, cols, rows)
    assert "read 450 × 600 px from level 0" in viewer.caption.object


def test_region_reader_clips_and_rounds(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    reader = DatasetPage(cat, lab["ids"]["wafer_mosaic"]).viewer.reader
    assert reader.window((-500.0, 1e9), (None, None)) == ((0, MOSAIC[0]), (0, MOSAIC[1]))
    assert reader.window((10.2, 10.4), (5.5, 5.6)) == ((5, 6), (10, 11))
    assert reader.window((float("nan"), 3.0), None)[1] == (0, MOSAIC[1])


# -- dataset: info ----------------------------------------------------------------------------
def test_tags_and_notes_by_the_local_user(writable_lab: dict) -> None:
    cat = catalogue_for(writable_lab["index"], None)
    assert can_edit(cat)
    page = DatasetPage(cat, writable_lab["ids"]["core_scan"])
    page.tag_input.value_input = "porosity, paper-2025"  # typed, then Enter
    page.tag_input.enter_pressed = True
    assert set(open_catalog(writable_lab["index"]).entry(page.dataset_id).metadata["tags"]) == {
        "porosity",
        "paper-2025",
    }
    assert set(page.shown_tags) == {"porosity", "paper-2025"} and page.tag_input.value == ""
    assert page.tag_input.value_input == "" and "added 2 tag(s)" in page.status.object
    # the browser sends the typed value with Enter too (and on blur): not added twice
    page.tag_input.value = "porosity, paper-2025"
    assert "added 2 tag(s)" in page.status.object
    assert set(page.remove_buttons) == {"porosity", "paper-2025"}  # a chip each, with ×
    assert page.add_note("ring <artefacts> at z=40")
    assert "ring &lt;artefacts&gt; at z=40" in page.notes.object
    assert page.add_note("   ") is False


def test_the_local_user_removes_a_tag_with_its_chip(writable_lab: dict) -> None:
    cat = catalogue_for(writable_lab["index"], None)
    page = DatasetPage(cat, writable_lab["ids"]["core_scan"])
    assert page.add_tags("porosity", "<b>odd</b>") == 2
    page.remove_buttons["porosity"].clicks += 1  # as a click in the browser sets it
    assert open_catalog(writable_lab["index"]).entry(page.dataset_id).metadata["tags"] == [
        "<b>odd</b>"
    ]
    assert page.shown_tags == ["<b>odd</b>"] and list(page.remove_buttons) == ["<b>odd</b>"]
    assert page.status.visible and "removed the tag &#x27;porosity&#x27;" in page.status.object
    assert page.status.alert_type == "info"
    chip = page.tags.objects[0]
    assert "&lt;b&gt;odd&lt;/b&gt;" in chip.objects[0].object  # the tag's text is escaped
    # gone meanwhile (another tab): said, not an error; the page shows what is left
    open_catalog(writable_lab["index"]).untag(page.dataset_id, "<b>odd</b>")
    assert page.remove_tag("<b>odd</b>") == 0
    assert page.status.alert_type == "warning" and "was not on this dataset" in page.status.object
    assert page.shown_tags == [] and page.remove_buttons == {}
    assert "no tags" in page.tags.objects[0].object


def test_lineage_graph_links_parent_and_child(lab: dict) -> None:
    import holoviews as hv

    cat = open_catalog(lab["index"])
    scan_id, seg_id = lab["ids"]["core_scan"], lab["ids"]["core_segmented"]
    page = DatasetPage(cat, seg_id)
    graph = cat.lineage(seg_id)
    where = lineage_layout(graph)
    assert where[scan_id][1] > where[seg_id][1]  # the parent is drawn above
    tapped: list[str] = []
    plot = lineage_plot(graph, on_tap=tapped.append)
    g = plot.get(0)
    assert isinstance(g, hv.Graph)
    assert list(zip(g.data["start"], g.data["end"])) == [(scan_id, seg_id)]
    assert nearest_node(where, *where[scan_id]) == scan_id
    assert nearest_node(where, 5.0, 5.0) is None
    links = page.lineage.objects[-1].object
    assert f"dataset?id={scan_id}" in links and "(this dataset)" in links


def test_a_named_user_gets_a_bound_catalogue_or_nothing(writable_lab: dict) -> None:
    if _binds_users():  # the lead's user= is merged: the user is bound
        from catalog.users import add_user

        add_user(writable_lab["index"], "vera", role="viewer")
        cat = catalogue_for(writable_lab["index"], "vera")
        assert cat.user.name == "vera" and not can_edit(cat)
    else:  # fails closed: never everything for a named user
        with pytest.raises(WebAppError, match="cannot limit the catalogue"):
            catalogue_for(writable_lab["index"], "vera")


def test_a_plane_whose_file_went_away_says_so(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    page = DatasetPage(cat, lab["ids"]["core_scan"])
    viewer = page.viewer
    assert viewer.follows == "value"  # a small volume: planes follow the drag
    path = Path(cat.entry(page.dataset_id).metadata["path"])
    aside = path.with_name(path.name + ".away")
    path.rename(aside)  # the session's lab is shared: put it back afterwards
    try:
        viewer.views.slicer.close()
        image = viewer._image("xz", y=7)
    finally:
        aside.rename(path)
    assert viewer.problem.visible and "Cannot read the xz plane" in viewer.problem.object
    assert image.data is not None  # an empty image, not an exception in the server


@pytest.mark.slow
def test_a_hundred_thousand_datasets_page_fast(tmp_path: Path) -> None:
    import time

    from benchmarks.catalogue import prepare

    index = prepare(100_000, tmp_path)
    cat = open_catalog(index)
    page = SearchPage(cat, SearchState())  # warm: imports, the listing snapshot
    assert page.total == 100_000
    timings = {}
    for name, state in {
        "all, deep page": SearchState(page=3000),
        "facets OR": SearchState(filters={"modality": ("CT", "EM")}, page=500),
        "text and field": SearchState(text="granite size=>1GB"),
    }.items():
        t = time.perf_counter()
        page.set_state(state)
        page.next_page()
        timings[name] = (time.perf_counter() - t) / 2
        assert page.error == "" and len(page.rows) == 24
    assert page.state.page == 1 and page.total > 100
    assert max(timings.values()) < 0.5, timings  # about 40 ms each on a laptop


def test_a_click_on_a_view_moves_the_other_planes(lab: dict) -> None:
    cat = open_catalog(lab["index"])
    viewer = DatasetPage(cat, lab["ids"]["core_scan"]).viewer
    for view in ("xy", "xz", "yz"):
        viewer._image(view)  # what the page draws first
    # voxels are 2 µm, centred on 0, 2, 4...: x = 30 µm is column 15, y = 100 µm row 50
    viewer.tapped("xy", x=30.0, y=100.0)
    assert (viewer.sliders["x"].value, viewer.sliders["y"].value) == (15, 50)
    assert viewer.sliders["y"].value_throttled == 50  # slow datasets follow too
    viewer.tapped("yz", x=-100.0, y=1e6)  # outside: clamped to the edges
    assert (viewer.sliders["z"].value, viewer.sliders["y"].value) == (0, 63)
    n = len(viewer.views.reads)
    viewer._image("xz", y=viewer.sliders["y"].value)
    assert viewer.views.reads[n][2]["y"] == 63
