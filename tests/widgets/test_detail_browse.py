"""Dataset details (escaped metadata, tags and notes written through the catalogue and
audited, lineage) and ``browse`` composing search, grid, details and slices."""

from __future__ import annotations

from catalog.catalogue import DuckDBCatalog
from catalog.index import connect
from widgets import Browser, DatasetDetail, SearchPanel, SliceBrowser, ThumbnailGrid, browse

from .conftest import EVIL, ident


def audit(cat: DuckDBCatalog, dataset_id: str) -> list[tuple[str, str]]:
    with connect(cat.index, read_only=True) as con:
        return con.execute(
            "SELECT action, detail::VARCHAR FROM audit WHERE dataset_id = ? "
            "AND action IN ('tag', 'untag', 'note') ORDER BY seq",
            [dataset_id],
        ).fetchall()


def test_metadata_table_is_escaped(demo: DuckDBCatalog) -> None:
    d = DatasetDetail(demo, ident(demo, EVIL))
    html = d.title.value + d.table.value
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    rec = DatasetDetail(demo, ident(demo, "sandstone_01_rec"))
    assert "48×96×96 zyx" in rec.table.value and "6.5 µm" in rec.table.value
    assert "slice stack" in rec.meta_view.value  # the format's own metadata
    assert rec.lineage == [] and rec.lineage_box.layout.display == "none"


def test_tags_edited_through_the_catalogue_and_audited(writable: DuckDBCatalog) -> None:
    i = ident(writable, "sandstone_01_rec")
    d = DatasetDetail(writable, i)
    versions = []
    d.observe(lambda ch: versions.append(ch["new"]), names="version")
    d.tag_input.value = ["porosity", "paper 2025"]  # typed into the tags box
    assert writable[i].metadata["tags"] == ["paper 2025", "porosity"]
    assert d.tags == ["paper 2025", "porosity"]
    d.tag_input.value = ["porosity"]
    assert writable[i].metadata["tags"] == ["porosity"]
    assert [a for a, _ in audit(writable, i)] == ["tag", "tag", "untag"]
    assert versions == [1, 2]
    assert d.add_tags("porosity") == 0  # already there
    assert d.remove_tags("porosity") == 1 and d.tag_input.value == []


def test_notes_added_through_the_catalogue_escaped_and_audited(writable: DuckDBCatalog) -> None:
    i = ident(writable, "liver_ct")
    d = DatasetDetail(writable, i)
    assert "no notes" in d.notes_view.value
    d.note_text.value = "ring artefacts <script>alert(1)</script>"
    d.note_button.click()
    assert d.note_text.value == ""
    assert [n["text"] for n in writable[i].metadata["notes"]] == [
        "ring artefacts <script>alert(1)</script>"
    ]
    assert "<script>" not in d.notes_view.value and "&lt;script&gt;" in d.notes_view.value
    assert audit(writable, i)[0][0] == "note"
    d.note_text.value = "   "
    d.note_button.click()
    assert d.message.startswith("⚠") and len(d.notes) == 1


def test_lineage_rows_when_present(writable: DuckDBCatalog) -> None:
    rec, labels = (
        ident(writable, "sandstone_01_rec"),
        ident(writable, "sandstone_01_pores_labels.tif"),
    )
    writable.link(labels, [rec], step="threshold", params={"t": 1200})
    child = DatasetDetail(writable, labels)
    assert [(r["relation"], r["id"], r["step"]) for r in child.lineage] == [
        ("parent", rec, "threshold")
    ]
    assert "sandstone_01_rec" in child.lineage_view.value
    assert child.lineage_box.layout.display is None
    parent = DatasetDetail(writable, rec)
    assert [(r["relation"], r["id"]) for r in parent.lineage] == [("child", labels)]


def test_browse_composes_and_a_click_opens_the_dataset(writable: DuckDBCatalog) -> None:
    app = browse(writable, page_size=4, debounce=0)
    assert isinstance(app, Browser)
    assert isinstance(app.search, SearchPanel) and isinstance(app.grid, ThumbnailGrid)
    assert app.children == (app.css, app.search, app.grid, app.opened)
    assert app.css.layout.display == "none" and "voxcat-card" in app.css.value
    app.search.text = "sandstone"
    assert app.grid.catalog is app.search.result
    assert set(app.grid.page_ids) <= set(app.search.result) and app.grid.page_ids
    rec = ident(writable, "sandstone_01_rec")
    app.search.text = "sandstone_01_rec"
    card = app.grid._cards[0]
    assert card.dataset_id == rec
    card.events._handle_mouse_msg(None, {"type": "click"}, [])  # a click on the thumbnail
    assert isinstance(app.detail, DatasetDetail) and app.detail.dataset_id == rec
    assert isinstance(app.slices, SliceBrowser) and app.slices.dataset_id == rec
    assert app.slices in app.opened.children[1].children
    # an edit in the details refreshes the facets
    assert "tags" not in app.search.controls
    app.detail.add_tags("checked")
    assert app.search.controls["tags"].counts == {"checked": 1}
    # a dataset that is not an image opens its details and says why there are no planes
    app.search.clear()
    old = app.slices
    app.grid.activate(ident(writable, "empty.tif"))
    # the views of the dataset shown before are closed, mouse listeners included
    assert old.comm is None and old.views["xy"].image.comm is None
    assert old.views["xy"].events.comm is None and old.sliders["z"].comm is None
    assert app.slices is None and "empty" in app.slice_error
    assert app.detail is not None and app.detail.dataset_id == ident(writable, "empty.tif")
    app.close_dataset()
    assert app.opened.children == () and app.grid.active is None


def test_images_shown_in_a_page_close_after_their_views_are_gone(
    writable: DuckDBCatalog,
) -> None:
    """ipyevents makes the front end count an image's views and report each one it
    removes; closed before that report, the kernel logs "No such comm"."""
    app = browse(writable, page_size=4, debounce=0)
    app.show(ident(writable, "sandstone_01_rec"))
    old = app.slices
    assert old is not None
    images = [view.image for view in old.views.values()]
    for image in images:  # what JupyterLab sends once it shows the views
        image.set_state({"_view_count": 1})
    app.show(ident(writable, "water phantom"))
    assert old.comm is None and all(view.events.comm is None for view in old.views.values())
    assert all(image.comm is not None for image in images)  # still shown in the page
    for image in images:  # the page removed the views
        image.set_state({"_view_count": 0})
    assert all(image.comm is None for image in images)
    assert old.sliders["z"].comm is None
