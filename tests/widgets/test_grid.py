"""The thumbnail grid over the scanned demo drive: paging that fetches one page of
rows, single and multiple selection as a catalogue, thumbnails, escaping."""

from __future__ import annotations

import pytest

from catalog.catalogue import DuckDBCatalog
from catalog.index import cache_dir
from widgets import ThumbnailGrid

from .conftest import EVIL, ident


def test_pages_show_consecutive_ids(demo: DuckDBCatalog) -> None:
    ids = list(demo)
    grid = ThumbnailGrid(demo, page_size=4)
    assert grid.page_count == 4 == -(-len(ids) // 4)
    assert grid.page_ids == ids[:4]
    grid.page = 1
    assert grid.page_ids == ids[4:8]
    grid.next_button.click()
    assert grid.page == 2 and grid.page_ids == ids[8:12]
    grid.page = 99  # clamped to the last page
    assert grid.page == 3 and grid.page_ids == ids[12:]
    assert grid.next_button.disabled and not grid.prev_button.disabled
    grid.prev_button.click()
    assert grid.page_ids == ids[8:12]
    assert grid.status.value.startswith(f"page 3 of 4 · {len(ids)} datasets")
    assert len(grid.cells.children) == 4
    grid.page_size = 10
    assert grid.page_ids == ids[10:]  # page 1 of 10


def test_only_one_page_of_rows_is_fetched(
    demo: DuckDBCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetched: list[int] = []
    df = DuckDBCatalog.df.fget
    assert df is not None
    monkeypatch.setattr(DuckDBCatalog, "df", property(lambda self: _count(df(self), fetched)))
    listed: list[int] = []
    iterate = DuckDBCatalog.__iter__
    monkeypatch.setattr(
        DuckDBCatalog, "__iter__", lambda self: iter(_count(list(iterate(self)), listed))
    )
    grid = ThumbnailGrid(demo, page_size=3)
    grid.page = 2
    grid.page = 4
    assert fetched == [3, 3, 3]  # one page of rows per render, never the whole result
    assert listed == []  # and no listing of every id


def _count(rows, log: list[int]):  # type: ignore[no-untyped-def]
    log.append(len(rows))
    return rows


def test_selection_single_and_multiple(demo: DuckDBCatalog) -> None:
    grid = ThumbnailGrid(demo, page_size=6)
    a, b, c = grid.page_ids[:3]
    grid.click(a)
    assert grid.selected_ids == [a] and grid.active == a
    sel = grid.selected
    assert isinstance(sel, DuckDBCatalog) and list(sel) == [a]
    grid.click(b, multi=True)
    grid.click(c, multi=True)
    assert set(grid.selected) == {a, b, c}
    grid.click(b, multi=True)  # toggles off
    assert set(grid.selected_ids) == {a, c}
    assert grid.active == a  # ctrl-click selects without opening
    cards = {card.dataset_id: card for card in grid._cards}
    assert cards[a].check.value and cards[c].check.value and not cards[b].check.value
    assert cards[a].box.layout.border.startswith("2px")
    cards[b].check.value = True  # the card's checkbox
    assert set(grid.selected_ids) == {a, b, c}
    cards[a].check.value = False
    assert set(grid.selected_ids) == {b, c}
    grid.clear_button.click()
    assert grid.selected_ids == [] and len(grid.selected) == 0
    grid.select_page_button.click()
    assert grid.selected_ids == grid.page_ids
    assert "6 selected" in grid.status.value


def test_dom_clicks_and_open_button(demo: DuckDBCatalog) -> None:
    grid = ThumbnailGrid(demo, page_size=6)
    first, second = grid._cards[0], grid._cards[1]
    first.events._handle_mouse_msg(None, {"type": "click", "ctrlKey": False}, [])
    assert grid.selected_ids == [first.dataset_id] and grid.active == first.dataset_id
    second.events._handle_mouse_msg(None, {"type": "click", "metaKey": True}, [])
    assert grid.selected_ids == [first.dataset_id, second.dataset_id]
    opened = []
    grid.observe(lambda ch: opened.append(ch["new"]), names="active")
    second.open_button.click()
    first.open_button.click()
    first.open_button.click()  # opening the same dataset again fires again
    assert [o for o in opened if o] == [second.dataset_id, first.dataset_id, first.dataset_id]


def test_new_catalogue_starts_at_page_zero_and_keeps_selected_matches(
    demo: DuckDBCatalog,
) -> None:
    grid = ThumbnailGrid(demo, page_size=2)
    rec, nc = ident(demo, "sandstone_01_rec"), ident(demo, "sandstone_01_filtered.nc")
    grid.select([rec, nc])
    grid.page = 3
    grid.catalog = demo.search(format="slices")
    assert grid.page == 0 and grid.page_ids == [rec]
    assert grid.selected_ids == [rec]
    grid.catalog = demo.search("no-such-word-anywhere")
    assert grid.page_ids == [] and grid.cells.children == () and grid.selected_ids == []


def test_thumbnails_and_labels(demo: DuckDBCatalog) -> None:
    rec = ident(demo, "sandstone_01_rec")
    grid = ThumbnailGrid(demo.search(id=rec))
    card = grid._cards[0]
    thumb = demo[rec].metadata["thumbnail"]
    assert card.image.value == (cache_dir(demo.index) / thumb).read_bytes()
    assert card.image.value[:4] == b"\x89PNG"
    assert "sandstone_01_rec" in card.label.value
    assert "CT · 48×96×96 · " in card.label.value
    empty = ThumbnailGrid(demo.search(name="empty.tif"))._cards[0]
    assert empty.image.value[:4] == b"\x89PNG"  # a placeholder


def test_names_render_as_text_not_html(demo: DuckDBCatalog) -> None:
    grid = ThumbnailGrid(demo.search(name=EVIL))
    label = grid._cards[0].label.value
    assert "<img" not in label
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.tif" in label
