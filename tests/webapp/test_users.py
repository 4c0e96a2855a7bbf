"""The pages as a signed-in user sees them: a viewer reads, a curator annotates
(audited under their name), a restricted dataset does not exist for a viewer.
These need ``open_catalog(index, user=...)`` (voxcat with accounts and access levels)."""

from __future__ import annotations

import panel as pn
import pytest

from catalog import open_catalog
from widgets.webapp.dataset import DatasetPage
from widgets.webapp.search import SearchPage
from widgets.webapp.session import _binds_users, can_edit, catalogue_for
from widgets.webapp.state import SearchState

from ..conftest import q

pytestmark = pytest.mark.skipif(
    not _binds_users(), reason="needs open_catalog(user=): accounts and access levels"
)


@pytest.fixture
def accounts(writable_lab: dict) -> dict:
    from catalog.users import add_user

    index = writable_lab["index"]
    add_user(index, "vera", role="viewer")
    add_user(index, "cora", role="curator")
    open_catalog(index).set(writable_lab["ids"]["tile_00"], access="restricted")
    return writable_lab


def test_a_viewer_reads_but_cannot_annotate(accounts: dict) -> None:
    cat = catalogue_for(accounts["index"], "vera")
    assert not can_edit(cat)
    page = DatasetPage(cat, accounts["ids"]["core_scan"])
    assert not page.editable
    assert page.add_tags("mine") == 0  # refused by the catalogue, said on the page
    assert page.status.visible and "may not add tags" in page.status.object
    assert not page.add_note("hello")
    assert "may not add notes" in page.status.object
    assert "mine" not in (
        open_catalog(accounts["index"]).entry(page.dataset_id).metadata.get("tags") or []
    )


def test_a_viewer_sees_tags_without_a_remove_control(accounts: dict) -> None:
    ident = accounts["ids"]["core_scan"]
    open_catalog(accounts["index"]).tag(ident, "porosity")
    page = DatasetPage(catalogue_for(accounts["index"], "vera"), ident)
    assert page.shown_tags == ["porosity"] and page.remove_buttons == {}
    assert page.tags.select(pn.widgets.Button) == []  # no × anywhere among the chips
    assert "<span>porosity</span>" in page.tags.objects[0].object  # a plain chip
    assert page.remove_tag("porosity") == 0  # a direct call: refused, said on the page
    assert page.status.visible and page.status.alert_type == "danger"
    assert "You may not remove tags" in page.status.object
    assert "needs the role &#x27;curator&#x27;" in page.status.object
    assert open_catalog(accounts["index"]).entry(ident).metadata["tags"] == ["porosity"]
    assert q(accounts["index"], "SELECT count(*) FROM audit WHERE action = 'untag'") == [(0,)]


def test_a_curator_annotates_under_their_name(accounts: dict) -> None:
    cat = catalogue_for(accounts["index"], "cora")
    assert can_edit(cat)
    page = DatasetPage(cat, accounts["ids"]["core_scan"])
    assert page.add_tags("checked") == 1
    assert page.add_note("looks fine")
    notes = open_catalog(accounts["index"]).entry(page.dataset_id).metadata["notes"]
    assert notes[-1]["user"] == "cora" and notes[-1]["text"] == "looks fine"
    assert list(page.remove_buttons) == ["checked"]
    page.remove_buttons["checked"].clicks += 1  # the chip's ×
    assert "checked" not in (
        open_catalog(accounts["index"]).entry(page.dataset_id).metadata.get("tags") or []
    )
    assert page.shown_tags == [] and "removed the tag" in page.status.object
    audit = q(
        accounts["index"],
        "SELECT user_name, dataset_id, detail->>'tag' FROM audit WHERE action = 'untag'",
    )
    assert audit == [("cora", page.dataset_id, "checked")]


def test_a_restricted_dataset_is_nowhere_for_a_viewer(accounts: dict) -> None:
    hidden = accounts["ids"]["tile_00"]
    viewer = SearchPage(catalogue_for(accounts["index"], "vera"), SearchState(text="tile"))
    local = SearchPage(catalogue_for(accounts["index"], None), SearchState(text="tile"))
    assert local.total == viewer.total + 1
    assert viewer.counts["modality"]["EM"] == local.counts["modality"]["EM"] - 1
    ids = []
    while True:
        ids += [r["id"] for r in viewer.rows]
        if viewer.next.disabled:
            break
        viewer.next_page()
    assert hidden not in ids and hidden not in viewer.grid.object
    with pytest.raises(KeyError) as caught:
        DatasetPage(catalogue_for(accounts["index"], "vera"), hidden)
    unknown = str(caught.value)
    with pytest.raises(KeyError) as other:
        DatasetPage(catalogue_for(accounts["index"], "vera"), "zzzzzzzzzzzz")
    # the same words as for an id that never existed
    assert (
        unknown.replace(hidden, "X").split(";")[0]
        == str(other.value).replace("zzzzzzzzzzzz", "X").split(";")[0]
    )
