"""The limits every user input meets (catalog.inputs, README "Limits"), through the
Python API and the command line: long searches, numbers out of range or in other
scripts' digits, tags and notes with control characters or over their size."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from catalog import open_catalog
from catalog.catalogue import DuckDBCatalog
from catalog.cli import main
from catalog.cli_catalogue import cli_value
from catalog.errors import (
    AnnotationError,
    AnnotationLimitError,
    InputLimitError,
    QueryError,
    QueryLimitError,
)
from catalog.index import connect
from catalog.inputs import (
    MAX_FILTER_VALUES,
    MAX_NOTE_CHARS,
    MAX_QUERY_CHARS,
    MAX_QUERY_WORDS,
    MAX_TAG_CHARS,
    number,
    parse_float,
    parse_int,
)

from .catalogue_rows import write_rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("inputs") / "lab.duckdb"
    return path, write_rows(path)


@pytest.fixture
def cat(rows) -> DuckDBCatalog:
    return open_catalog(rows[0])


@pytest.fixture
def fresh(tmp_path: Path) -> tuple[DuckDBCatalog, dict[str, str]]:
    """An index of its own, for tests that annotate."""
    ids = write_rows(tmp_path / "lab.duckdb")
    return open_catalog(tmp_path / "lab.duckdb"), ids


def names(c: DuckDBCatalog) -> list[str]:
    return sorted(c.df["name"])


def test_limit_errors_are_value_errors_of_their_family() -> None:
    assert issubclass(QueryLimitError, QueryError) and issubclass(QueryLimitError, ValueError)
    assert issubclass(AnnotationLimitError, AnnotationError)
    assert issubclass(AnnotationLimitError, InputLimitError)


# -- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["٣", "３", "१२", "1_000", "inf", "-inf", "nan", "0x10", "", "1e"]
)
def test_only_ascii_digits_are_numbers(text: str) -> None:
    assert number(text) is None
    assert cli_value(text) == text  # stays text: a field that wants a number refuses it
    with pytest.raises(QueryLimitError, match="digits 0-9"):
        parse_int(text, "limit")


def test_ascii_numbers_parse() -> None:
    assert number(" 12 ") == 12 and number("-3") == -3 and number("+5") == 5
    assert number("2.5e-3") == 0.0025 and number(".5") == 0.5
    assert number("9" * 400) == int("9" * 400)  # range is checked where it is used
    assert parse_int("7", "offset", 0, 10) == 7
    with pytest.raises(QueryLimitError, match="between 0 and 10"):
        parse_int("11", "offset", 0, 10)
    with pytest.raises(QueryLimitError, match="digits"):
        parse_int("9" * 400, "offset")
    assert parse_float("99.5", "p") == 99.5
    with pytest.raises(QueryLimitError, match="out of range"):
        parse_float("9" * 400, "p")


@pytest.mark.parametrize(
    "filters",
    [
        {"ndim": "٣"},
        {"ndim": "３"},
        {"levels": "1_0"},
        {"ndim": "9" * 400},
        {"ndim": 10**30},
        {"ndim": float("nan")},
        {"size": float("inf")},
        {"size": "1e400"},
        {"size": 10**30},
        {"size": (-1e308, 1e308)},
        {"size": ">" + "9" * 400},
        {"voxel_size": float("inf")},
        {"voxel_size": "٥um"},
        {"ExposureTime": 10**400},
        {"ExposureTime": [0.5, float("nan")]},
        {"ExposureTime": ">1e400"},
    ],
)
def test_numbers_out_of_range_or_in_other_digits_are_refused(cat, filters: dict) -> None:
    key = next(iter(filters))
    with pytest.raises(QueryLimitError) as info:
        cat.search(**filters)
    assert str(info.value).startswith(f"{key}: ")  # names the field


def test_numbers_in_range_still_work(cat) -> None:
    assert names(cat.search(ndim=3, voxel_size="<5um")) == names(
        cat.search(ndim="3", voxel_size=(None, 5e-6))
    )
    assert names(cat.search(size=(0, 2**63 - 1))) == names(cat.search(size=">=0"))
    assert names(cat.search(ExposureTime=[0.5, 1.2])) == ["sandstone_01_rec", "sandstone_02_rec"]


def test_whole_numbers_with_leading_zeros_stay_text() -> None:
    """``0001`` (a year) or ``007`` (a sample) would change as numbers."""
    assert cli_value("0001") == "0001" and cli_value("007") == "007"
    assert cli_value("0001..0002") == ("0001", "0002")
    assert cli_value("0") == 0 and cli_value("10") == 10 and cli_value("0.5") == 0.5


def test_the_ends_of_the_calendar(cat) -> None:
    assert names(cat.search(acquired="9999")) == []  # the year after 9999 does not exist
    assert names(cat.search(acquired="9999-12-31")) == []
    assert names(cat.search(acquired=">9999-12-31")) == []
    assert len(cat.search(acquired=("0001", "9999"))) == len(cat.search(acquired="<=9999"))
    assert len(cat.search(acquired=cli_value("0001..9999"))) == len(cat.search(acquired="<=9999"))
    for bad, why in [("0000", "years start at 0001"), ("9999-99", "no month 99")]:
        with pytest.raises(QueryError, match=why):
            cat.search(acquired=bad)
    with pytest.raises(QueryError):
        cat.search(acquired="٢٠٢٤")


def test_text_ranges_of_numbers_compare_as_text(cat) -> None:
    # the command line reads 1..9 as numbers; a text field compares them as text
    assert names(cat.search(name=cli_value("0..9"))) == ["100%_done.tif"]
    assert names(cat.search(tags=cli_value("1.."))) == names(cat.search(tags=("1", None)))


# -- text search --------------------------------------------------------------------------


def words(n: int, prefix: str = "w") -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def test_a_long_search_is_refused_clearly(cat) -> None:
    """3,000 words made DuckDB fail (expression depth) with an error that was no
    QueryError; now the limit is stated."""
    with pytest.raises(QueryLimitError, match=f"longer than {MAX_QUERY_CHARS:,} characters"):
        cat.search(words(3000))
    with pytest.raises(QueryLimitError, match=f"at most {MAX_QUERY_WORDS} are searched"):
        cat.search(words(MAX_QUERY_WORDS + 1, "a"))
    with pytest.raises(QueryLimitError, match="words"):  # a phrase's words count too
        cat.search('"' + "-".join("x" * 2 for _ in range(MAX_QUERY_WORDS + 1)) + '"')


@pytest.mark.parametrize(
    "text",
    [
        words(MAX_QUERY_WORDS, "a"),
        " ".join(f"-a{i}" for i in range(MAX_QUERY_WORDS)),
        " ".join(f'"a-b{i}"' for i in range(MAX_QUERY_WORDS // 2)),
    ],
)
def test_searches_at_the_word_limit_work(cat, text: str) -> None:
    found = cat.search(text)
    assert len(found) == (len(cat) if text.startswith("-") else 0)


def test_search_text_refuses_control_characters(cat) -> None:
    with pytest.raises(QueryLimitError, match="U\\+0000"):
        cat.search("sand\x00stone")
    with pytest.raises(QueryLimitError, match="surrogate"):
        cat.search("\ud800")
    assert names(cat.search("sandstone\tnetwork\n")) == ["sandstone_02_rec"]


# -- filters ------------------------------------------------------------------------------


def test_many_values_of_one_filter_work_up_to_the_limit(cat, rows) -> None:
    _, ids = rows
    many = [f"zz{i:010d}" for i in range(MAX_FILTER_VALUES - 1)] + [ids["hela_confocal"]]
    t0 = time.perf_counter()
    assert names(cat.search(id=many)) == ["hela_confocal"]
    assert time.perf_counter() - t0 < 5  # one list parameter, not 10,000 ORs
    with pytest.raises(QueryLimitError, match="at most 10,000"):
        cat.search(id=[*many, "one-more"])


def test_a_long_list_of_metadata_values_is_one_lookup(cat) -> None:
    """3,000 values of a metadata key exceeded DuckDB's depth (one subquery each)."""
    values = [str(i) for i in range(3000)] + ["SkyScan1272"]
    assert names(cat.search(**{"Scanner.Model": values})) == [
        "sandstone_01_rec",
        "sandstone_02_rec",
    ]
    numbers = [float(i) for i in range(3000)] + [1.2, None]
    assert "sandstone_02_rec" in names(cat.search(ExposureTime=numbers))


def test_too_many_filters_or_fields_are_refused(cat) -> None:
    with pytest.raises(QueryLimitError, match="filters in one search"):
        cat.search(meta={f"k{i}": 1 for i in range(65)})
    with pytest.raises(QueryLimitError, match="fields to count"):
        cat.facets(*["modality"] * 65)
    with pytest.raises(QueryLimitError, match="sorting by"):
        cat.search(sort_by=["name"] * 65)


def test_pages_are_bounded(cat) -> None:
    assert len(cat.head(2**63 - 1)) == len(cat)
    with pytest.raises(QueryLimitError, match="head"):
        cat.head(2**63)
    with pytest.raises(QueryLimitError, match="head"):
        cat.page(2**62, 4)
    with pytest.raises(QueryError, match="whole number"):
        cat.head(2.5)


def test_unpaired_surrogates_in_text_filters_are_refused(cat) -> None:
    with pytest.raises(QueryLimitError, match=r"^name: .*surrogate"):
        cat.search(name="\ud800")
    # a file name's undecodable bytes (surrogate escapes) are a valid path to look for
    assert names(cat.search(path="/lab/\udce9.tif")) == []


# -- annotations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("a\x00b", "U\\+0000 is a control character"),
        ("bell\x07", "control character"),
        ("\ud800", "unpaired surrogate"),
        ("safe\u202egnp.exe", "invisible layout control"),
        ("x" * (MAX_TAG_CHARS + 1), "longer than 200 characters"),
    ],
)
def test_tags_are_printable_and_bounded(fresh, tag: str, why: str) -> None:
    cat, ids = fresh
    ident = ids["hela_confocal"]
    with pytest.raises(AnnotationLimitError, match=why):
        cat.tag(ident, tag)
    assert open_catalog(cat.index)[ident].metadata["tags"] == []  # nothing written


def test_good_tags_keep_their_letters(fresh) -> None:
    cat, ids = fresh
    ident = ids["hela_confocal"]
    cat.tag(ident, "porosité", "  paper\t2025 ", "x" * MAX_TAG_CHARS, "β-sheet 🧪")
    tags = cat[ident].metadata["tags"]
    assert {"porosité", "paper 2025", "x" * MAX_TAG_CHARS, "β-sheet 🧪"} <= set(tags)
    with pytest.raises(AnnotationLimitError, match="at most 100"):
        cat.tag(ident, *[f"t{i}" for i in range(101)])


def test_a_tag_stored_before_the_rules_can_still_be_removed(fresh) -> None:
    cat, ids = fresh
    ident = ids["hela_confocal"]
    with connect(cat.index) as con:  # as an older voxcat wrote it
        con.execute("INSERT INTO tags VALUES (?, 'a\x00b', 'old', now())", [ident])
    assert cat.untag(ident, "a\x00b") == 1
    assert cat[ident].metadata["tags"] == []


def test_notes_have_a_size_and_no_control_characters(fresh) -> None:
    cat, ids = fresh
    ident = ids["hela_confocal"]
    with pytest.raises(AnnotationLimitError, match="longer than 20,000 characters"):
        cat.note(ident, "x" * 5_000_000)
    with pytest.raises(AnnotationLimitError, match="U\\+0000"):
        cat.note(ident, "before\x00after")
    cat.note(ident, "line one\n\tline two\r\n" + "y" * (MAX_NOTE_CHARS - 22))
    notes = cat[ident].metadata["notes"]
    assert len(notes) == 1 and notes[0]["text"].startswith("line one\n\tline two")


def test_user_fields_are_bounded(fresh) -> None:
    cat, ids = fresh
    ident = ids["hela_confocal"]
    with pytest.raises(AnnotationLimitError, match="sample"):
        cat.set(ident, sample="S\x0001")
    with pytest.raises(AnnotationLimitError, match="longer than 1,000"):
        cat.set(ident, project="p" * 1001)
    assert cat.set(ident, description="two\nlines", sample="S07") == 1
    assert cat[ident].metadata["description"] == "two\nlines"


# -- the command line ---------------------------------------------------------------------


def test_the_command_line_refuses_the_same_inputs(rows, capsys) -> None:
    path, ids = rows
    assert main(["search", words(3000), "--index", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("voxcat: error: the search text") and err.count("\n") == 1
    assert main(["search", "--where", "ndim=٣", "--index", str(path)]) == 2
    assert "ndim: '٣' is not a number" in capsys.readouterr().err
    assert (
        main(["tag", ids["hela_confocal"], "--tag", "esc\x1bape", "--index", str(path)]) == 2
    )  # bad input: usage
    err = capsys.readouterr().err
    assert "U+001B is a control character" in err and "Traceback" not in err


# -- lineage and export -------------------------------------------------------------------


def test_lineage_steps_and_params_are_bounded(fresh) -> None:
    cat, ids = fresh
    child, parent = ids["hela_confocal"], ids["brain_T1.nii.gz"]
    with pytest.raises(AnnotationLimitError, match=r"step .*control character"):
        cat.link(child, parents=[parent], step="thresh\x00old")
    with pytest.raises(AnnotationLimitError, match="longer than 200 characters"):
        cat.link(child, parents=[parent], step="s" * 201)
    with pytest.raises(AnnotationLimitError, match="at most 100,000"):
        cat.link(child, parents=[parent], step="fit", params={"weights": list(range(30_000))})
    assert open_catalog(cat._index).lineage(child).edges == []
    assert cat.link(child, parents=[parent], step="fit", params={"sigma": 2}) == 1


def test_an_export_refuses_an_unbounded_organization(fresh, tmp_path) -> None:
    from catalog.export import export_catalog

    cat, ids = fresh
    with pytest.raises(AnnotationLimitError, match="organization is longer than 1,000"):
        export_catalog(cat, tmp_path / "out", ids=[ids["hela_confocal"]], organization="o" * 1001)
    assert not (tmp_path / "out").exists()
