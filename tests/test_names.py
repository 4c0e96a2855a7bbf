"""Readable dataset names: a middle ellipsis that keeps the distinguishing end, on two
lines, the full name on hover, in the widget grid and the catalogue's HTML view.

The cases of :data:`SAME_AS_TS` are those of jupyter_ext/frontend/tests/names.test.ts:
both sides shorten names by one rule.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog import open_catalog, scan
from catalog.catalogue.html import NAME_CHARS, catalogue_html
from catalog.formatting import middle_ellipsis, name_html

SAME_AS_TS = [
    ("sandstone_03_top_scan_recon_0042.tif", 27, "sandstone_0…_recon_0042.tif"),
    ("sandstone_03_top_scan_recon_0042.tif", 20, "sandstone_…_0042.tif"),
    ("verylongnamewithoutanyseparatorsatall_0001.tiff", 27, "verylongna…satall_0001.tiff"),
    ("recon_sample-A_2021-03-04_slice_00042.tif", 20, "recon_sam…_00042.tif"),
    ("a<b>_scan_0001.tif", 12, "a<…_0001.tif"),
    ("a" * 50, 10, "aaa…aaaaaa"),
    ("short.tif", 27, "short.tif"),
    ("short.tif", 9, "short.tif"),
    ("short.tif", 3, "…if"),
    ("short.tif", 1, "…"),
    ("short.tif", 0, ""),
]


@pytest.mark.parametrize(("name", "limit", "short"), SAME_AS_TS)
def test_middle_ellipsis_as_the_front_end_does(name: str, limit: int, short: str) -> None:
    assert middle_ellipsis(name, limit) == short


def test_middle_ellipsis_never_exceeds_its_limit() -> None:
    for name in ("sandstone_03_top_scan_recon_0042.tif", "_._._._._._._._._._", "x" * 80):
        for limit in range(1, 45):
            short = middle_ellipsis(name, limit)
            assert len(short) == min(limit, len(name)), (name, limit, short)
            assert short == name or "…" in short


def test_name_html_two_lines_full_name_in_title_escaped() -> None:
    evil = '<img src=x onerror="alert(1)">_' + "x" * 40 + "_0042.tif"
    block = name_html(evil, 30, style="font-size:12px")
    assert "<img" not in block
    title = re.search(r'title="([^"]*)"', block)
    assert title and title[1] == evil.replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;"
    )
    text = re.search(r">([^<]*)</div>$", block)
    assert text and text[1].endswith("_0042.tif") and "…" in text[1]
    assert "-webkit-line-clamp:2" in block and "font-size:12px" in block


@pytest.fixture
def long_names(tmp_path: Path, rng: np.random.Generator) -> Path:
    drive = tmp_path / "drive"
    drive.mkdir()
    for i in (41, 42):
        volume = rng.integers(0, 4000, (4, 16, 16), dtype=np.uint16)
        tifffile.imwrite(drive / f"sandstone_03_top_scan_of_the_core_recon_{i:04d}.tif", volume)
    index = tmp_path / "x.duckdb"
    scan(drive, index, jobs=1, progress=False)
    return index


def test_catalogue_html_keeps_the_ends_that_differ(long_names: Path) -> None:
    page = catalogue_html(open_catalog(long_names))
    shown = re.findall(r'class="voxcat-name" title="([^"]+)"[^>]*>([^<]+)</div>', page)
    assert len(shown) == 2
    for full, short in shown:
        assert len(short) <= NAME_CHARS < len(full) and "…" in short
        assert short.endswith(full[-9:])  # ..._0041.tif / ..._0042.tif
    assert shown[0][1] != shown[1][1]


def test_widget_grid_names(long_names: Path) -> None:
    pytest.importorskip("ipywidgets")
    from widgets.grid import NAME_CHARS as GRID_CHARS
    from widgets.grid import ThumbnailGrid

    grid = ThumbnailGrid(open_catalog(long_names))
    labels = [card.label.value for card in grid._cards[:2]]
    shown = [re.search(r'title="([^"]+)"[^>]*>([^<]+)</div>', v) for v in labels]
    assert all(shown)
    for m in shown:
        assert m is not None
        full, short = m[1], m[2]
        assert len(short) <= GRID_CHARS < len(full) and short.endswith(full[-9:])
