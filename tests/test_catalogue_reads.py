"""Catalogue reads the widgets and the server extension use instead of SQL of their
own: ``page``/``window`` (LIMIT/OFFSET), ``thumbnails``, ``relatives``,
``multiselect_facets``, over an index made
by a real scan of TIFF files written with a seeded RNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog import open_catalog, scan
from catalog.catalogue import DuckDBCatalog
from catalog.errors import QueryError, QueryLimitError
from catalog.index import cache_dir

NAMES = [f"core_{i:02d}.tif" for i in range(7)]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seven TIFF stacks and a text file, scanned once; modality and project set on
    some through the API (CT x4, MR x2, one unset; rocks x3, bones x3, one unset)."""
    base = tmp_path_factory.mktemp("reads")
    drive = base / "drive"
    drive.mkdir()
    rng = np.random.default_rng(20261205)
    for i, name in enumerate(NAMES):
        tifffile.imwrite(
            drive / name,
            rng.integers(0, 4000, (3 + i, 20, 24), dtype=np.uint16),
            photometric="minisblack",
        )
    (drive / "readme.txt").write_text("not an image\n")
    index = base / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {cat[i].metadata["name"]: i for i in cat}
    cat.set([ids[n] for n in NAMES[:4]], modality="CT")
    cat.set([ids[n] for n in NAMES[4:6]], modality="MR")
    cat.set([ids[n] for n in (NAMES[0], NAMES[1], NAMES[4])], project="rocks")
    cat.set([ids[n] for n in (NAMES[2], NAMES[5], NAMES[6])], project="bones")
    return index


@pytest.fixture
def cat(scanned: Path) -> DuckDBCatalog:
    return open_catalog(scanned)


def ident(cat: DuckDBCatalog, name: str) -> str:
    return next(iter(cat.search(name=name)))


# -- page and window --------------------------------------------------------------------
def test_pages_cover_the_order_once_with_an_offset_query(cat: DuckDBCatalog) -> None:
    big_first = cat.sort_by("-size")
    ordered = list(big_first)
    pages = [list(big_first.page(i, 3)) for i in range(4)]
    assert pages == [ordered[0:3], ordered[3:6], ordered[6:9], []]
    assert list(cat.page(1, 3)) == list(cat.head(6) - cat.head(3))  # as before
    sql, params = big_first.page(2, 3)._where()
    assert "OFFSET ?" in sql and params[-2:] == [3, 6]  # LIMIT 3 OFFSET 6, not a difference
    assert "OFFSET" not in big_first.page(0, 3)._where()[0]
    assert list(big_first.page(0, 3)) == ordered[:3]


def test_window_takes_any_offset_and_keeps_the_order(cat: DuckDBCatalog) -> None:
    by_name = cat.sort_by("name")
    ordered = list(by_name)
    assert list(by_name.window(2, 3)) == ordered[2:5]
    assert list(by_name.window(5, 100)) == ordered[5:]
    assert list(by_name.window(0, 0)) == [] and list(by_name.window(50, 3)) == []
    ct = cat.search(modality="CT", sort_by="name")
    assert list(ct.window(1, 2)) == list(ct)[1:3]
    assert list(ct.window(1, 2).df["name"]) == sorted(NAMES[:4])[1:3]
    assert list(cat.page(np.int64(1), np.int32(2))) == list(cat.window(2, 2))


def test_window_and_page_refuse_bad_numbers(cat: DuckDBCatalog) -> None:
    for bad in (-1, 2.5, True, "3", None):
        with pytest.raises(QueryError, match="whole numbers"):
            cat.window(bad, 3)  # type: ignore[arg-type]
        with pytest.raises(QueryError, match="whole numbers"):
            cat.page(1, bad)  # type: ignore[arg-type]
    with pytest.raises(QueryLimitError, match="head"):
        cat.window(2**62, 2**62)


# -- thumbnails -------------------------------------------------------------------------
def test_thumbnails_of_many_ids_in_one_call(cat: DuckDBCatalog, scanned: Path) -> None:
    ids = list(cat)
    thumbs = cat.thumbnails(ids)
    assert sorted(thumbs) == sorted(ids)
    for i in ids:
        path = thumbs[i]
        assert path is not None and path.is_relative_to(cache_dir(scanned))
        assert path.read_bytes()[:4] == b"\x89PNG"
        assert path == cache_dir(scanned) / cat[i].metadata["thumbnail"]
    text = ident(open_catalog(scanned, files=True), "readme.txt")
    got = cat.thumbnails([ids[0], text, "nosuchid000"])
    assert got == {ids[0]: thumbs[ids[0]], text: None}  # a file has none; unknown ids: left out
    assert cat.thumbnails([]) == {} and cat.thumbnails(ids[1]) == {ids[1]: thumbs[ids[1]]}
    assert cat.search(modality="MR").thumbnails([ids[0]]) == {ids[0]: thumbs[ids[0]]}


# -- multi-select facets ----------------------------------------------------------------
def test_multiselect_facets_leave_a_fields_own_filter_off(cat: DuckDBCatalog) -> None:
    got = cat.multiselect_facets("modality", "project", filters={"modality": "CT"})
    assert list(got) == ["modality", "project"]
    assert got["modality"] == {"CT": 4, "MR": 2}  # MR stays on offer
    assert got["project"] == {"rocks": 2, "bones": 1}  # within CT
    both = cat.multiselect_facets(
        "modality", "project", "format", filters={"modality": "CT", "project": "rocks"}
    )
    assert both["modality"] == {"CT": 2, "MR": 1}  # over project=rocks
    assert both["project"] == {"rocks": 2, "bones": 1}  # over modality=CT
    assert both["format"] == cat.search(modality="CT", project="rocks").facets("format")["format"]
    plain = cat.multiselect_facets("modality", "project")
    assert plain == cat.facets("modality", "project")
    assert set(cat.multiselect_facets()) == set(cat.facets())  # the usual facets by default


def test_multiselect_facets_apply_the_text_and_the_limit(cat: DuckDBCatalog) -> None:
    got = cat.multiselect_facets("modality", text="core_00", filters={"modality": "MR"})
    assert got == {"modality": {"CT": 1}}
    top = cat.multiselect_facets("modality", filters={"modality": ["CT", "MR"]}, limit=1)
    assert top == {"modality": {"CT": 4}}


# -- relatives (direct lineage) ---------------------------------------------------------
def test_relatives_lists_direct_parents_and_children(scanned: Path, tmp_path: Path) -> None:
    index = tmp_path / "lab.duckdb"
    index.write_bytes(scanned.read_bytes())
    cat = open_catalog(index)
    a, b, c = (ident(cat, n) for n in NAMES[:3])
    assert cat.relatives(a) == []
    cat.link(b, [a], step="threshold", params={"t": 2000})
    cat.link(c, [b], step="label")
    mid = cat.relatives(b)
    assert [(r["relation"], r["id"], r["name"], r["step"]) for r in mid] == [
        ("parent", a, NAMES[0], "threshold"),
        ("child", c, NAMES[2], "label"),
    ]
    assert mid[0]["params"] == '{"t": 2000}' and mid[0]["user_name"] and mid[0]["time"]
    assert [r["relation"] for r in cat.relatives(a)] == ["child"]
    assert [r["id"] for r in cat.search(modality="MR").relatives(c)] == [b]  # any dataset


# -- scan progress ----------------------------------------------------------------------
