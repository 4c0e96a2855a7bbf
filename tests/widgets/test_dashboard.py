"""``widgets.dashboard``: ten bar charts (datasets and bytes per month, modality,
project, data level, drive) whose data is exactly ``cat.stats``, in a layout that
stretches to the page's width."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import open_catalog
from widgets import dashboard
from widgets.dashboard import GROUPS, UNSET

from ..two_drives import write_two_drives


@pytest.fixture(scope="module")
def two_drives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    return write_two_drives(tmp_path_factory.mktemp("dashboard"))


def _charts(layout) -> list:
    import panel as pn

    return [pane.object for pane in layout.select(pn.pane.HoloViews)]


def test_dashboard_draws_stats_of_every_group(two_drives) -> None:
    import holoviews as hv

    index, sizes = two_drives
    layout = dashboard(open_catalog(index))
    assert layout.sizing_mode == "stretch_width"
    charts = _charts(layout)
    assert len(charts) == 2 * len(GROUPS) == 10
    assert all(isinstance(c, hv.Bars) for c in charts)
    titles = [c.opts.get().kwargs["title"] for c in charts]
    assert titles[:4] == [
        "Datasets per month",
        "Bytes per month",
        "Datasets per modality",
        "Bytes per modality",
    ]
    by_title = dict(zip(titles, charts, strict=True))
    month = by_title["Datasets per month"].data
    assert list(month["month"]) == ["2023-11", "2024-03", "2024-05"]
    assert list(month["datasets"]) == [1, 2, 2]
    s = sizes
    modality = by_title["Bytes per modality"].data
    assert list(modality["modality"]) == ["CT", "MR", UNSET]
    assert list(modality["bytes"]) == [s["a"] + s["b"] + s["d"], s["c"], s["e"]]
    drive = by_title["Datasets per drive"].data
    assert list(drive["drive"]) == ["one", "two"]  # named by folder, path on hover
    assert [Path(d).name for d in drive["path"]] == ["one", "two"]
    assert list(drive["datasets"]) == [3, 2]
    assert f"{len(sizes)} datasets" in layout[0].object


def test_dashboard_of_a_selection_and_of_chosen_groups(two_drives) -> None:
    index, sizes = two_drives
    ct = open_catalog(index).search(modality="CT")
    charts = _charts(dashboard(ct, groups=("project", "data_level")))
    assert len(charts) == 4
    project = charts[1].data
    assert list(project["project"]) == ["rocks"]
    assert list(project["bytes"]) == [sizes["a"] + sizes["b"] + sizes["d"]]
    assert list(charts[2].data["data_level"]) == [UNSET]


def test_dashboard_of_nothing_says_so(two_drives) -> None:
    layout = dashboard(open_catalog(two_drives[0]).search(modality="none"), groups=("month",))
    assert _charts(layout) == []
    import panel as pn

    texts = [pane.object for pane in layout.select(pn.pane.Markdown)]
    assert texts == ["**0 datasets, 0 B**", "No datasets to count per month."]
