"""A snapshot of an index that changed since it was built keeps answering, exactly as
DuckDB does: the rows that changed (tagged, set, restricted, noted, rewritten, deleted)
or are new are asked of DuckDB, every other row comes from the snapshot
(catalog.index.listing.overlay).

Every write below goes through the catalogue's own API (or, for what a rescan does to
a rewritten dataset, the same SQL the scanner's writer runs), with the background
refresher switched off, so the snapshot stays as it was built.
"""

from __future__ import annotations

import numpy as np
import pytest

from catalog import import_table, open_catalog
from catalog.index import listing, transaction
from catalog.index.listing import overlay, refresher
from catalog.index.search_text import refresh_search_text

from .catalogue_rows import write_rows
from .test_listing import QUERIES, random_table, same


def _frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """No rebuild of the snapshot: neither the background refresher nor a bulk
    writer's rebuild at its end."""
    monkeypatch.setattr(listing, "_spawn_refresh", lambda source: None)
    monkeypatch.setattr(refresher, "_spawn_refresh", lambda source: None)
    monkeypatch.setattr(refresher, "refresh", lambda *a, **k: False)


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """An index with a snapshot, then changed in every way a lab changes it."""
    path = tmp_path_factory.mktemp("overlay") / "lab.duckdb"
    write_rows(path)
    import_table(random_table(np.random.default_rng(21), 3000), path)
    listing.build(path)
    built = listing.current(path)
    assert built is not None
    mp = pytest.MonkeyPatch()
    _frozen(mp)
    try:
        cat = open_catalog(path)
        ids = list(cat.sort_by("name"))
        cat.tag(ids[0:40], "porosity", "fresh-tag")
        cat.untag(ids[40:50], "porosity", "qc-ok")
        cat.set(ids[50:80], modality="ct", project="NewProject", sample="Straße")
        cat.set(ids[80:90], access="restricted")
        cat.note(ids[90], "anna looked at this sand again")
        # a rescan rewrites a dataset: deleted and inserted again under a new num
        with transaction(path) as con:
            con.execute(
                "CREATE TEMP TABLE _again AS SELECT * REPLACE "
                "(nextval('dataset_num_seq') AS num, 'rewritten_' || name AS name) "
                "FROM datasets WHERE id = ?",
                [ids[95]],
            )
            con.execute("DELETE FROM datasets WHERE id IN (?, ?)", [ids[95], ids[96]])
            con.execute("INSERT INTO datasets SELECT * FROM _again")
            refresh_search_text(con, [ids[95]])
        # new datasets, as a scan or an import adds them (no rebuild at its end)
        more = random_table(np.random.default_rng(22), 150)
        more["path"] = [p.replace("/arch/", "/new/") for p in more["path"]]
        import_table(more, path)
    finally:
        mp.undo()
    assert listing.current(path) is None  # the snapshot is of an earlier state
    return {"index": path, "ids": ids, "rows": built.rows}


@pytest.fixture
def cat(changed: dict, monkeypatch: pytest.MonkeyPatch):
    _frozen(monkeypatch)
    return open_catalog(changed["index"])


def test_the_overlay_names_what_changed(changed: dict) -> None:
    index = changed["index"]
    cat = open_catalog(index)
    with cat._connect() as con:
        found = overlay.view(index, con)
    assert found is not None
    snap, ov = found
    assert ov is not None and ov.stamp != snap.stamp
    # changed in place: 40 tagged + 10 untagged (those that had a tag) + 30 set + 10
    # restricted + 1 noted; rewritten: 1 (a new num); new: 150; deleted: 2 (the
    # rewritten one's old row and the one gone)
    assert 150 < len(ov.nums) <= 40 + 10 + 30 + 10 + 1 + 1 + 150
    assert 2 < len(ov.stale) <= 40 + 10 + 30 + 10 + 1 + 2
    gone = {changed["ids"][96]}
    with cat._connect() as con:
        present = set(con.execute("SELECT num FROM datasets").fetchnumpy()["num"].tolist())
    assert not set(ov.nums.tolist()) - present  # every changed row is there now
    stale_nums = set(snap.num[ov.stale].tolist())
    assert stale_nums - present  # and the deleted ones are among the stale
    assert gone.isdisjoint(cat)


def test_the_overlay_is_worked_out_once_per_state(changed: dict, monkeypatch) -> None:
    index = changed["index"]
    cat = open_catalog(index)
    calls = []
    real = overlay.changes
    monkeypatch.setattr(overlay, "changes", lambda *a: calls.append(1) or real(*a))
    overlay._found.clear()
    for _ in range(3):
        with cat._connect() as con:
            assert overlay.view(index, con) is not None
    assert len(calls) == 1


@pytest.mark.parametrize("query", QUERIES, ids=[repr(q) for q in QUERIES])
def test_every_filter_form_answers_as_duckdb_after_writes(cat, monkeypatch, query) -> None:
    query = dict(query)
    same(cat.search(query.pop("text", None), **query), monkeypatch)


@pytest.mark.parametrize(
    "query",
    [
        {"tags": "fresh-tag"},
        {"tags": "porosity"},
        {"project": "NewProject"},
        {"modality": "CT", "sample": "straße"},
        {"text": "rewritten"},
        {"text": "anna"},
        {"notes": "*sand again*"},
        {"path": "/new/*"},
        {"access": "restricted"},
    ],
    ids=repr,
)
def test_what_changed_is_found_as_it_is_now(cat, monkeypatch, query) -> None:
    query = dict(query)
    found = cat.search(query.pop("text", None), **query)
    same(found, monkeypatch)
    assert len(found) > 0


@pytest.mark.parametrize("order", [("name",), ("-size",), ("sample", "-acquired"), ("shape",)])
def test_pages_sorts_and_combinations_after_writes(cat, monkeypatch, order) -> None:
    base = cat.search(modality=["CT", "MR", None]).sort_by(*order)
    n = len(base)
    for offset, limit in ((0, 5), (5, 5), (n - 3, 10), (0, n)):
        same(base.window(offset, limit), monkeypatch)
    ct, raw = cat.search(modality="CT"), cat.search(data_level="raw")
    for combined in (ct | raw, ct & raw, ct - raw, ct.head(7)):
        same(combined, monkeypatch)


def test_an_account_never_sees_what_was_restricted_since(changed, cat, monkeypatch) -> None:
    from catalog.users import add_user

    _frozen(monkeypatch)
    add_user(changed["index"], "olga", role="viewer")
    olga = open_catalog(changed["index"], user="olga")
    hidden = set(changed["ids"][80:90])
    with olga._connect() as con:
        assert olga._listed(con) is not None  # answered with the overlay
    assert hidden.isdisjoint(olga)
    assert hidden.isdisjoint(olga.df.index)
    fast = olga.facets("modality", "project", limit=None)
    with monkeypatch.context() as m:
        m.setattr(listing, "ENABLED", False)
        assert olga.facets("modality", "project", limit=None) == fast
    for page in range(3):
        same(olga.sort_by("-size").page(page, 7), monkeypatch)


def test_facet_counts_add_the_changed_rows(cat, monkeypatch) -> None:
    fields = ("modality", "project", "sample", "tags")
    with cat._connect() as con:
        assert cat._listed(con) is not None
    fast = cat.facets(*fields, limit=None)
    with monkeypatch.context() as m:
        m.setattr(listing, "ENABLED", False)
        slow = cat.facets(*fields, limit=None)
    assert fast == slow
    assert fast["project"]["NewProject"] == 30
    assert fast["tags"]["fresh-tag"] == 40


def test_too_many_changes_leave_it_to_duckdb(changed: dict, monkeypatch) -> None:
    index = changed["index"]
    monkeypatch.setattr(overlay, "MAX_SHARE", 0.001)
    monkeypatch.setattr(overlay, "limit", lambda rows: 10)
    overlay._found.clear()
    cat = open_catalog(index)
    with cat._connect() as con:
        assert overlay.view(index, con) is None
        assert cat._listed(con) is None
    assert len(cat) > 3000
    overlay._found.clear()
