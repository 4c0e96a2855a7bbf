"""The search panel over hand-made rows: text, facets with counts, log-scale and date
ranges, debouncing, filters set from code, errors."""

from __future__ import annotations

import math

import pytest

from catalog.catalogue import DuckDBCatalog
from widgets import SearchPanel
from widgets.facets import CategoryFacet, DateFacet, LogRangeFacet

GB = 10**9


def names(cat: DuckDBCatalog) -> set[str]:
    return set(cat.df["name"])


def test_facets_only_for_fields_with_values_and_options_show_counts(rows: DuckDBCatalog) -> None:
    panel = SearchPanel(rows, debounce=0)
    assert panel.count == len(rows) == 7
    assert set(panel.controls) == {
        "modality", "format", "data_level", "project", "sample", "tags",
        "size", "voxel_size", "acquired",
    }  # fmt: skip  # no instrument: no row has one
    modality = panel.controls["modality"]
    assert isinstance(modality, CategoryFacet)
    assert modality.counts == {"CT": 2, "EM": 1, "LM": 1, "MR": 1}
    labels = [label for label, _ in modality.widget.options]
    assert "CT (2)" in labels
    assert panel.controls["tags"].counts == {"porosity": 2, "Paper-2025": 1}
    assert isinstance(panel.controls["size"], LogRangeFacet)
    assert isinstance(panel.controls["acquired"], DateFacet)


def test_text_search_changes_result_and_count(rows: DuckDBCatalog) -> None:
    panel = SearchPanel(rows, debounce=0)
    seen = []
    panel.observe(lambda ch: seen.append(len(ch["new"])), names="result")
    panel.search_box.value = "sandstone"  # what typing does
    assert panel.text == "sandstone"
    assert names(panel.result) == {"sandstone_01_rec", "sandstone_02_rec"}
    assert panel.count == 2 and seen == [2]
    assert panel.count_label.value == "2 of 7 datasets"
    # facet counts follow the result
    assert panel.controls["modality"].counts == {"CT": 2}
    assert panel.controls["project"].counts == {"rocks": 2}


def test_typing_is_debounced_and_flush_runs_one_query(rows: DuckDBCatalog) -> None:
    panel = SearchPanel(rows, debounce=30)
    before = panel.queries
    for text in ("s", "sa", "san", "sand"):
        panel.text = text
    assert panel.queries == before and panel.count == 7  # nothing ran yet
    panel.flush()
    assert panel.queries == before + 1
    assert panel.count == 2
    panel.flush()  # nothing pending
    assert panel.queries == before + 1


def test_category_facet_filters_and_keeps_its_other_values(rows: DuckDBCatalog) -> None:
    panel = SearchPanel(rows, debounce=0)
    modality = panel.controls["modality"]
    modality.widget.value = ("CT",)
    assert panel.filters == {"modality": ["CT"]}
    assert names(panel.result) == {"sandstone_01_rec", "sandstone_02_rec"}
    # the field's own counts leave its filter out, so other values stay choosable
    assert modality.counts == {"CT": 2, "EM": 1, "LM": 1, "MR": 1}
    assert modality.widget.value == ("CT",)
    assert panel.controls["format"].counts == {"slices": 1, "tiff": 1}
    modality.widget.value = ("CT", "LM")
    assert panel.count == 3
    panel.controls["tags"].widget.value = ("Paper-2025",)
    assert names(panel.result) == {"sandstone_02_rec"}
    # counts under the tag filter; the chosen LM stays listed, with 0
    assert panel.controls["modality"].counts == {"CT": 1, "LM": 0}


def test_log_range_sliders_for_size_and_voxel_size(rows: DuckDBCatalog) -> None:
    panel = SearchPanel(rows, debounce=0)
    size = panel.controls["size"]
    assert isinstance(size, LogRangeFacet)
    assert size.filter() is None  # full extent: datasets without a size stay in
    size.widget.value = (math.log10(50e6), size.hi)
    lo, hi = panel.filters["size"]
    assert hi is None and 49e6 < lo < 51e6
    assert all(s >= 50e6 for s in panel.result.df["size"])
    assert panel.count == 4  # 2 GB, 500 MB, 100 MB, 1 GB
    assert size.readout.value.startswith("50.0 MB")
    voxel = panel.controls["voxel_size"]
    voxel.widget.value = (math.log10(1e-6), math.log10(1e-5))
    assert "µm" in voxel.readout.value
    assert names(panel.result) == {"sandstone_01_rec", "sandstone_02_rec"}


def test_date_range_slider(rows: DuckDBCatalog) -> None:
    panel = SearchPanel(rows, debounce=0)
    acquired = panel.controls["acquired"]
    assert isinstance(acquired, DateFacet)
    steps = acquired.steps
    assert steps[0] == "2022-11" and steps[-1] == "2024-03"  # months: the span is 16 months
    acquired.widget.index = (steps.index("2024-01"), len(steps) - 1)
    assert panel.filters == {"acquired": ("2024-01", None)}
    assert names(panel.result) == {"sandstone_02_rec", "hela_confocal"}


def test_filters_set_from_code_show_in_controls(rows: DuckDBCatalog) -> None:
    panel = SearchPanel(rows, debounce=0)
    panel.filters = {"modality": "CT", "size": (None, "1 GB"), "sample": "S01"}
    assert panel.controls["modality"].widget.value == ("CT",)
    assert panel.controls["sample"].widget.value == ("S01",)
    assert panel.count == 0  # S01 is 2 GB
    panel.filters = {"project": "rocks"}
    assert panel.count == 2
    assert panel.controls["modality"].widget.value == ()


def test_bad_filter_shows_an_error_and_keeps_the_result(rows: DuckDBCatalog) -> None:
    panel = SearchPanel(rows, debounce=0)
    panel.text = "sandstone"
    panel.filters = {"voxel_size": "<5 parsecs"}
    assert "parsecs" in panel.error
    assert panel.error_label.value.startswith("⚠")
    assert panel.count == 2  # the last good result
    panel.clear()
    assert panel.error == "" and panel.count == 7 and panel.text == ""


def test_refresh_picks_up_new_tags(writable: DuckDBCatalog) -> None:
    panel = SearchPanel(writable, debounce=0)
    assert "tags" not in panel.controls
    writable.tag(next(iter(writable)), "checked")
    panel.refresh()
    assert panel.controls["tags"].counts == {"checked": 1}


@pytest.mark.parametrize("debounce", [0, 0.01])
def test_debounced_query_runs_by_itself(rows: DuckDBCatalog, debounce: float) -> None:
    import time

    panel = SearchPanel(rows, debounce=debounce)
    panel.text = "hela"
    deadline = time.monotonic() + 5
    while panel.count != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert panel.count == 1
