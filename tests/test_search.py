"""Search semantics of ``cat.search``: every value form, every combination, bad keys,
SQL injection. Runs on a real DuckDB index of hand-made rows (tests/catalogue_rows.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from catalog import open_catalog
from catalog.catalogue import DuckDBCatalog
from catalog.errors import CatalogMismatch, DatasetNotFound, QueryError, UnknownFieldError
from catalog.index import SCHEMA_VERSION

from .catalogue_rows import ROWS, write_rows


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("search") / "lab.duckdb"
    write_rows(path)
    return path


@pytest.fixture
def cat(index: Path) -> DuckDBCatalog:
    return open_catalog(index)


def names(c: DuckDBCatalog) -> list[str]:
    return sorted(c.df["name"])


ALL_IMAGES = sorted(r["name"] for r in ROWS if r.get("kind") != "file")


def test_len_iter_contains_and_files_scope(cat: DuckDBCatalog, index: Path) -> None:
    assert len(cat) == len(ALL_IMAGES)
    ids = list(cat)
    assert len(ids) == len(set(ids)) == len(cat)
    assert all(i in cat for i in ids)
    assert "nope" not in cat and 3 not in cat
    assert names(cat) == ALL_IMAGES
    everything = open_catalog(index, files=True)
    assert len(everything) == len(ROWS)
    txt = next(i for i in everything if everything[i].metadata["name"] == "notes.txt")
    assert txt not in cat
    with pytest.raises(DatasetNotFound, match="not in this selection"):
        cat[txt]


# -- text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sandstone", ["sandstone_01_rec", "sandstone_02_rec"]),
        ("SANDSTONE", ["sandstone_01_rec", "sandstone_02_rec"]),
        ("sandstone 2024", ["sandstone_02_rec"]),  # all words, in different fields (path)
        ("sandstone al", ["sandstone_01_rec"]),  # nested metadata value "Al 0.5mm"
        ('"pore network"', ["sandstone_02_rec"]),  # a phrase in a metadata value
        ('"network pore"', []),  # phrases stay together, in order
        ("pore network", ["sandstone_02_rec"]),
        ("anna", ["sandstone_02_rec"]),  # notes
        ("paper-2025", ["sandstone_02_rec"]),  # tags
        ("porosity -2024", ["sandstone_01_rec"]),  # -word excludes
        ("gfp", ["hela_confocal"]),  # channels
        ("skyscan1272 rocks", ["sandstone_01_rec", "sandstone_02_rec"]),
        ("100%", ["100%_done.tif", "brain_T1.nii.gz"]),  # % is literal (name, meta value)
        ("contrast_agent", ["brain_T1.nii.gz"]),  # _ is literal
        ("c_ntrast", []),
        ("sand.*", []),  # never a regex
        ("", ALL_IMAGES),
        ("sand", ["sandstone_01_rec", "sandstone_02_rec"]),  # the start of a word
        ("stone", []),  # not the middle of one
        ("network", ["sandstone_02_rec"]),
        ("%", ["100%_done.tif", "brain_T1.nii.gz"]),  # no word in it: exact text
    ],
)
def test_text(cat: DuckDBCatalog, text: str, expected: list[str]) -> None:
    assert names(cat.search(text)) == expected


def test_phrase_does_not_span_fields(cat: DuckDBCatalog) -> None:
    # name "hela_confocal" is followed by its path in the search text, on another line
    assert names(cat.search('"hela_confocal /lab"')) == []


# -- scalar, list, glob ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"modality": "ct"}, ["sandstone_01_rec", "sandstone_02_rec"]),
        ({"modality": ["CT", "em"]}, ["ribosome.mrc", "sandstone_01_rec", "sandstone_02_rec"]),
        ({"sample": "s02"}, ["sandstone_02_rec"]),
        ({"level": "reconstructed", "sample": "S01"}, ["sandstone_01_rec"]),
        ({"name": "sandstone*"}, ["sandstone_01_rec", "sandstone_02_rec"]),
        ({"name": "*_0?_rec"}, ["sandstone_01_rec", "sandstone_02_rec"]),
        ({"name": "SAND*01*"}, ["sandstone_01_rec"]),
        ({"name": "100%*"}, ["100%_done.tif"]),
        ({"name": "1_0*"}, []),  # _ in a glob is literal, not LIKE's any-char
        ({"name": "sand.*"}, []),
        ({"path": "/lab/2024/*"}, ["hela_confocal", "sandstone_02_rec"]),
        ({"format": ["nifti", "mrc"]}, ["brain_T1.nii.gz", "ribosome.mrc"]),
        ({"modality": None}, ["100%_done.tif", 'quote\'s "x"; DROP TABLE datasets;--.tif']),
        ({"modality": "!=CT", "ndim": 3}, ["brain_T1.nii.gz", "ribosome.mrc"]),
        ({"tags": "porosity"}, ["sandstone_01_rec", "sandstone_02_rec"]),
        ({"tags": "PAPER-2025"}, ["sandstone_02_rec"]),
        ({"tags": "pap*"}, ["sandstone_02_rec"]),
        ({"tag": ["paper-2025", "porosity"]}, ["sandstone_01_rec", "sandstone_02_rec"]),
        ({"notes": "*ring*"}, ["sandstone_02_rec"]),
        ({"channels": "gfp"}, ["hela_confocal"]),
        ({"shape": "50x256x256"}, ["sandstone_02_rec"]),
        ({"shape": "*x512x512"}, ["sandstone_01_rec"]),
        ({"ndim": 4}, ["hela_confocal"]),
        (
            {"ndim": (3, None)},
            [
                "brain_T1.nii.gz",
                "hela_confocal",
                "ribosome.mrc",
                "sandstone_01_rec",
                "sandstone_02_rec",
            ],
        ),
    ],
)
def test_filters(cat: DuckDBCatalog, filters: dict, expected: list[str]) -> None:
    assert names(cat.search(**filters)) == sorted(expected)


# -- ranges, units, times ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"voxel_size": (3e-6, 6.5e-6)}, ["sandstone_01_rec", "sandstone_02_rec"]),  # inclusive
        ({"voxel_size": (None, 1e-6)}, ["hela_confocal", "ribosome.mrc"]),
        ({"voxel_size": "<5um"}, ["hela_confocal", "ribosome.mrc", "sandstone_02_rec"]),
        (
            {"voxel_size": "<=6.5 µm"},
            ["hela_confocal", "ribosome.mrc", "sandstone_01_rec", "sandstone_02_rec"],
        ),
        ({"voxel_size": (None, "5 um")}, ["hela_confocal", "ribosome.mrc", "sandstone_02_rec"]),
        ({"voxel_size": ("1mm", None)}, ["brain_T1.nii.gz"]),
        ({"voxel_size": "3.4 Å"}, ["ribosome.mrc"]),
        ({"voxel": ">0.1 micron", "modality": "LM"}, ["hela_confocal"]),
        ({"size": ">=1GB"}, ["ribosome.mrc", "sandstone_01_rec"]),
        ({"size": ("100 MB", "0.5 GB")}, ["hela_confocal", "sandstone_02_rec"]),
        ({"size": "<1 MiB"}, ["100%_done.tif", 'quote\'s "x"; DROP TABLE datasets;--.tif']),
        ({"acquired": "2024"}, ["hela_confocal", "sandstone_02_rec"]),
        ({"acquired": "2024-03"}, ["hela_confocal"]),
        ({"acquired": "2024-03-05"}, ["hela_confocal"]),
        ({"acquired": dt.date(2024, 3, 5)}, ["hela_confocal"]),
        ({"acquired": dt.datetime(2024, 3, 5, 14, 30)}, ["hela_confocal"]),
        ({"acquired": ("2023", "2023")}, ["sandstone_01_rec"]),  # the whole of 2023
        ({"acquired": ("2023-06", None)}, ["hela_confocal", "sandstone_02_rec"]),
        (
            {"acquired": (None, dt.datetime(2023, 5, 12, 10))},
            ["brain_T1.nii.gz", "sandstone_01_rec"],
        ),
        ({"acquired": ">2023"}, ["hela_confocal", "sandstone_02_rec"]),  # after 2023
        ({"acquired": "<2023"}, ["brain_T1.nii.gz"]),
        ({"acquired": "<=2023-05"}, ["brain_T1.nii.gz", "sandstone_01_rec"]),
        ({"acquired": "2024-03-05T14:30:00+00:00"}, ["hela_confocal"]),
        ({"date": None, "format": "mrc"}, ["ribosome.mrc"]),
    ],
)
def test_ranges_units_times(cat: DuckDBCatalog, filters: dict, expected: list[str]) -> None:
    assert names(cat.search(**filters)) == sorted(expected)


# -- nested metadata -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"meta": {"ExposureTime": 0.5}}, ["sandstone_01_rec"]),
        ({"meta.ExposureTime": (0.1, 1)}, ["sandstone_01_rec"]),
        ({"meta.ExposureTime": ">1"}, ["sandstone_02_rec"]),
        ({"ExposureTime": (None, 0.5)}, ["hela_confocal", "sandstone_01_rec"]),  # bare key
        ({"meta.Scanner.Model": "skyscan1272"}, ["sandstone_01_rec", "sandstone_02_rec"]),
        ({"meta.Model": "SkyScan*"}, ["sandstone_01_rec", "sandstone_02_rec"]),  # dotted tail
        ({"meta": {"Filter": "al*"}}, ["sandstone_01_rec"]),
        ({"meta.exposuretime": [0.05, 1.2]}, ["hela_confocal", "sandstone_02_rec"]),
        ({"meta.Comment": "*%*"}, ["brain_T1.nii.gz"]),
        ({"meta.Objective": None, "modality": "CT"}, ["sandstone_01_rec", "sandstone_02_rec"]),
    ],
)
def test_nested_metadata(cat: DuckDBCatalog, kwargs: dict, expected: list[str]) -> None:
    assert names(cat.search(**kwargs)) == expected


# -- combining -------------------------------------------------------------------------


def test_union_intersection_difference_and_chaining(cat: DuckDBCatalog) -> None:
    ct = cat.search(modality="CT")
    paper = cat.search(tags="paper-2025")
    lm = cat.search(modality="LM")
    # OR across two different fields: CT datasets or anything tagged for the paper
    assert names(ct | lm) == ["hela_confocal", "sandstone_01_rec", "sandstone_02_rec"]
    assert names(cat.search(sample="S01") | paper) == ["sandstone_01_rec", "sandstone_02_rec"]
    assert names(ct & paper) == ["sandstone_02_rec"]
    assert names(ct - paper) == ["sandstone_01_rec"]
    assert names((ct | lm) - ct.search(sample="S02")) == ["hela_confocal", "sandstone_01_rec"]
    assert names(ct.search("2024")) == ["sandstone_02_rec"]  # chained = AND
    assert names(ct.search(voxel_size="<5um").search(tags="porosity")) == ["sandstone_02_rec"]
    # searching is pure: the catalogues it started from are unchanged
    assert len(ct) == 2 and len(cat) == len(ALL_IMAGES)
    assert names(ct.search(modality="LM")) == []


def test_combining_catalogues_of_different_indexes_fails(
    cat: DuckDBCatalog, tmp_path: Path
) -> None:
    other = tmp_path / "other.duckdb"
    write_rows(other)
    with pytest.raises(CatalogMismatch, match="different indexes"):
        cat | open_catalog(other)
    with pytest.raises(TypeError):
        cat | 3  # type: ignore[operator]


def test_equality_and_pages(cat: DuckDBCatalog) -> None:
    assert cat.search(modality="CT") == cat.search(modality="CT")
    assert cat.search(modality="CT") != cat.search(modality="MR")
    assert len({cat.search(modality="CT"), cat.search(modality="CT")}) == 1
    ordered = list(cat.sort_by("name"))
    pages = [list(cat.sort_by("name").page(i, 3)) for i in range(3)]
    assert [i for p in pages for i in p] == ordered and [len(p) for p in pages] == [3, 3, 1]


def test_sort_and_head(cat: DuckDBCatalog) -> None:
    by_size = cat.search(sort_by="-size")
    assert [by_size[i].metadata["name"] for i in list(by_size)[:2]] == [
        "sandstone_01_rec",
        "ribosome.mrc",
    ]
    top = by_size.head(2)
    assert len(top) == 2 and names(top) == ["ribosome.mrc", "sandstone_01_rec"]
    assert len(cat.sort_by("acquired", "name").head(0)) == 0
    assert next(iter(cat.sort_by("voxel_size"))) == cat.search(modality="EM").keys()[0]
    # head composes with the other operations
    assert names(top | cat.search(modality="MR")) == [
        "brain_T1.nii.gz",
        "ribosome.mrc",
        "sandstone_01_rec",
    ]
    assert names(top.search(modality="CT")) == ["sandstone_01_rec"]


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "hint"),
    [
        ({"modalty": "CT"}, "modality"),
        ({"voxelsize": 1}, "voxel_size"),
        ({"meta.ExposureTme": 1}, "meta.ExposureTime"),
        ({"Exposuretim": 1}, "meta.ExposureTime"),
        ({"sort_by": "sizee"}, "size"),
    ],
)
def test_unknown_keys_list_close_valid_keys(cat: DuckDBCatalog, kwargs: dict, hint: str) -> None:
    with pytest.raises(UnknownFieldError, match=hint):
        cat.search(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"voxel_size": (1, 2, 3)},
        {"voxel_size": "<5 furlongs"},
        {"size": "big"},
        {"acquired": "last tuesday"},
        {"acquired": "2024-13"},
        {"acquired": "2024-02-30"},
        {"acquired": ("2023-02-29", None)},
        {"status": "registred"},
        {"status": ["ok", "bogus"]},
        {"kind": "dataset"},
        {"voxel_size": (2e-6, 1e-6)},
        {"modality": []},
        {"ndim": "three"},
        {"modality": True},
        {"modality": {"a": 1}},
        {"text": 3},
    ],
)
def test_bad_values_raise_query_errors(cat: DuckDBCatalog, kwargs: dict) -> None:
    with pytest.raises(QueryError):
        cat.search(**kwargs)


def test_impossible_dates_and_statuses_name_the_problem(cat: DuckDBCatalog) -> None:
    with pytest.raises(QueryError, match="no month 13"):
        cat.search(acquired="2024-13")
    with pytest.raises(QueryError, match="February 2024 has days 01-29"):
        cat.search(acquired="2024-02-30")
    with pytest.raises(QueryError, match="ok, failed, missing, offline, registered"):
        cat.search(status="registred")
    assert len(cat.search(acquired="2024-02-29")) == 0  # a real day: no error
    assert len(cat.search(status=["ok", "missing"])) == len(cat.search(status="ok"))
    assert len(cat.search(status="!=ok")) + len(cat.search(status="o*")) == len(cat)


def test_queries_cannot_be_used_as_booleans(cat: DuckDBCatalog) -> None:
    with pytest.raises(TypeError):
        bool(cat.search(modality="CT")._query)


INJECTIONS = [
    "'; DROP TABLE datasets; --",
    "x' OR '1'='1",
    '" OR 1=1 --',
    "%' OR name LIKE '%",
    "1); DELETE FROM tags; --",
    "\\'; SELECT 1; --",
]


@pytest.mark.parametrize("evil", INJECTIONS)
def test_sql_injection_is_inert(cat: DuckDBCatalog, index: Path, evil: str) -> None:
    assert names(cat.search(evil)) == []
    assert names(cat.search(name=evil)) == []
    assert names(cat.search(modality=[evil, "CT"])) == ["sandstone_01_rec", "sandstone_02_rec"]
    assert names(cat.search(meta={"Comment": evil})) == []
    assert names(cat.search(tags=evil)) == []
    with pytest.raises(UnknownFieldError):
        cat.search(**{evil: 1})
    with pytest.raises(UnknownFieldError):
        cat.search(**{"meta." + evil: 1})
    with pytest.raises(UnknownFieldError):
        cat.search(sort_by=evil)
    with pytest.raises(DatasetNotFound):
        cat[evil]
    con = duckdb.connect(str(index), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM datasets").fetchone()[0] == len(ROWS)
        assert con.execute("SELECT count(*) FROM tags").fetchone()[0] == 3
    finally:
        con.close()


def test_a_name_made_of_sql_is_found_exactly(cat: DuckDBCatalog) -> None:
    evil = 'quote\'s "x"; DROP TABLE datasets;--.tif'
    assert names(cat.search(name=evil)) == [evil]
    assert names(cat.search('"drop table"')) == [evil]


# -- facets, unique, range, df -----------------------------------------------------------


def test_facets_unique_range_and_df(cat: DuckDBCatalog) -> None:
    f = cat.facets("modality", "tags", "channels", "format")
    assert f["modality"] == {"CT": 2, "EM": 1, "LM": 1, "MR": 1}
    assert f["tags"] == {"porosity": 2, "Paper-2025": 1}
    assert f["channels"] == {"DAPI": 1, "GFP": 1}
    assert next(iter(f["format"])) == "tiff"
    assert cat.search(modality="CT").facets("sample") == {"sample": {"S01": 1, "S02": 1}}
    assert cat.unique("modality") == ["CT", "EM", "LM", "MR"]
    assert cat.unique("level") == ["reconstructed"]
    lo, hi = cat.range("voxel_size")
    assert lo == pytest.approx(3.4e-10) and hi == pytest.approx(1e-3)
    assert cat.search(modality="CT").range("acquired") == (
        dt.datetime(2023, 5, 12, 10),
        dt.datetime(2024, 1, 20, 9),
    )
    df = cat.search(modality="CT").df
    assert list(df.index) == list(cat.search(modality="CT"))
    assert df.loc[df["name"] == "sandstone_02_rec", "tags"].iloc[0].tolist() == [
        "Paper-2025",
        "porosity",
    ]
    assert {"name", "modality", "voxel_size", "shape", "path", "tags"} <= set(df.columns)
    assert "ExposureTime" in "".join(cat.meta_keys())
    # nested metadata keys count like fields: each dataset once per value, as text
    assert cat.facets("meta.Scanner.Model") == {"meta.Scanner.Model": {"SkyScan1272": 2}}
    exposure = cat.facets("meta.ExposureTime", "Model")
    assert exposure == {
        "meta.ExposureTime": {"0.05": 1, "0.5": 1, "1.2": 1},
        "Model": {"SkyScan1272": 2},
    }
    assert cat.search(sample="S02").facets("meta.Comment") == {
        "meta.Comment": {"pore network study": 1}
    }
    assert cat.unique("meta.Comment") == ["100% contrast_agent", "pore network study", "tomogram"]
    with pytest.raises(UnknownFieldError, match=r"meta\.ExposureTime"):
        cat.facets("meta.ExposureTme")
    assert "modality" in cat.fields() and "tags" in cat.fields()


def test_an_index_from_an_older_voxcat_is_migrated_on_open(tmp_path: Path) -> None:
    index = tmp_path / "old.duckdb"
    write_rows(index)
    con = duckdb.connect(str(index))
    try:  # what schema 1 looked like: no search_text, tags copy or terms
        con.execute("ALTER TABLE datasets DROP COLUMN search_text")
        con.execute("ALTER TABLE datasets DROP COLUMN tags")
        con.execute("ALTER TABLE datasets DROP COLUMN num")
        con.execute("DROP TABLE terms")
        con.execute("UPDATE settings SET value = '1' WHERE key = 'schema_version'")
    finally:
        con.close()
    cat = open_catalog(index)
    assert names(cat.search("pore network", tags="porosity")) == ["sandstone_02_rec"]
    con = duckdb.connect(str(index), read_only=True)
    try:
        version = con.execute("SELECT value FROM settings WHERE key = 'schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION)
    finally:
        con.close()


def test_a_text_search_stays_live_after_the_index_changes(tmp_path: Path) -> None:
    index = tmp_path / "live.duckdb"
    ids = write_rows(index)
    cat = open_catalog(index)
    sandstone = cat.search("sandstone")
    assert len(sandstone) == 2
    cat.set(ids["brain_T1.nii.gz"], description="sandstone phantom insert")
    assert names(sandstone) == ["brain_T1.nii.gz", "sandstone_01_rec", "sandstone_02_rec"]
    assert names(cat.search("sandstone")) == names(sandstone)
