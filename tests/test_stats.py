"""``cat.stats(by)``: datasets and bytes per month, modality, project, data level and
drive, on a real index of TIFFs on two drives (exact counts and byte sums)."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import open_catalog
from catalog.catalogue import DuckDBCatalog
from catalog.errors import QueryError

from .two_drives import write_two_drives


@pytest.fixture(scope="module")
def stats_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    return write_two_drives(tmp_path_factory.mktemp("stats"))


@pytest.fixture
def cat(stats_index: tuple[Path, dict[str, int]]) -> DuckDBCatalog:
    return open_catalog(stats_index[0])


@pytest.fixture
def sizes(stats_index: tuple[Path, dict[str, int]]) -> dict[str, int]:
    return stats_index[1]


def _groups(cat: DuckDBCatalog, by: str) -> list[tuple]:
    frame = cat.stats(by)
    assert list(frame.columns) == [by, "datasets", "bytes"]
    return [(g, int(n), int(b)) for g, n, b in frame.itertuples(index=False)]


def test_stats_per_month_uses_acquired_else_file_time(cat, sizes) -> None:
    s = sizes
    assert _groups(cat, "month") == [
        ("2023-11", 1, s["d"]),
        ("2024-03", 2, s["a"] + s["b"]),
        ("2024-05", 2, s["c"] + s["e"]),
    ]


def test_stats_per_field_unset_last(cat, sizes) -> None:
    s = sizes
    assert _groups(cat, "modality") == [
        ("CT", 3, s["a"] + s["b"] + s["d"]),
        ("MR", 1, s["c"]),
        (None, 1, s["e"]),
    ]
    assert _groups(cat, "project") == [
        ("rocks", 3, s["a"] + s["b"] + s["d"]),
        ("brains", 1, s["c"]),
        (None, 1, s["e"]),
    ]
    assert _groups(cat, "data_level") == [
        ("raw", 2, s["c"] + s["e"]),
        (None, 3, s["a"] + s["b"] + s["d"]),
    ]


def test_stats_per_drive_is_the_scan_root(cat, sizes, stats_index) -> None:
    s = sizes
    base = stats_index[0].parent
    groups = _groups(cat, "drive")
    assert [(Path(g).resolve(), n, b) for g, n, b in groups] == [
        ((base / "one").resolve(), 3, s["a"] + s["b"] + s["c"]),
        ((base / "two").resolve(), 2, s["d"] + s["e"]),
    ]


def test_stats_cover_the_selection_only(cat, sizes) -> None:
    s = sizes
    ct = cat.search(modality="CT")
    assert _groups(ct, "month") == [("2023-11", 1, s["d"]), ("2024-03", 2, s["a"] + s["b"])]
    assert _groups(ct, "modality") == [("CT", 3, s["a"] + s["b"] + s["d"])]
    assert _groups(cat.search(modality="nothing"), "project") == []


def test_stats_by_unknown_group_names_the_valid_ones(cat) -> None:
    with pytest.raises(QueryError, match="month, modality, project, data_level, drive"):
        cat.stats("size")
