"""The sidebar's tiles in a real browser, as a person sees them: thumbnails that are not
blank (labels in colour), names that fit their tile on two lines with the full name on
hover; at 1024, 1440 and 1920 px wide, in JupyterLab's light and dark themes.

Screenshots are saved under ``$VOXCAT_SHOTS`` (else the test's temporary folder); the
test prints where.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from catalog import scan
from tests.conftest import q
from tests.test_thumbnail_look import MIN_SPREAD, write_corpus

from .lab import LabServer, demo_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 60_000  # ms; a round trip through the server on a loaded 2-core machine
KERNEL_TIMEOUT = 120_000
WIDTHS = (1024, 1440, 1920)
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
#: names long enough to be shortened, differing only near their end
LONG = [f"sandstone_03_top_scan_recon_{i:04d}.tif" for i in (41, 42)]

# every loaded thumbnail of a tile: its luminance spread and distinct colours, read
# through a canvas (the images are same-origin object URLs)
THUMB_PIXELS = """() => [...document.querySelectorAll('.voxcat-tile[data-id]')].map(tile => {
    const img = tile.querySelector('img.voxcat-thumb');
    const name = tile.querySelector('.voxcat-tile-name').title;
    if (!img.dataset.src) return {name, missing: true};
    if (!img.complete || img.naturalWidth === 0) return {name, loading: true};
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0, sum2 = 0;
    const colours = new Set();
    const n = data.length / 4;
    for (let i = 0; i < data.length; i += 4) {
        const y = 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
        sum += y; sum2 += y * y;
        if (colours.size < 1000) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
    const mean = sum / n;
    return {name, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), colours: colours.size};
})"""

# every tile's name: its text, its title, and whether it fits its tile
NAME_BOXES = """() => [...document.querySelectorAll('.voxcat-tile[data-id]')].map(tile => {
    const el = tile.querySelector('.voxcat-tile-name');
    const box = el.getBoundingClientRect(), outer = tile.getBoundingClientRect();
    return {
        text: el.textContent, title: el.getAttribute('title'),
        width: box.width, tileWidth: outer.width, left: box.left - outer.left,
        scrollWidth: el.scrollWidth, clientWidth: el.clientWidth,
        scrollHeight: el.scrollHeight, clientHeight: el.clientHeight,
        lineHeight: parseFloat(getComputedStyle(el).lineHeight),
    };
})"""


def shots_folder(tmp_path: Path) -> Path:
    """Where screenshots go: ``$VOXCAT_SHOTS`` (kept after the run), else ``tmp_path``."""
    folder = Path(os.environ.get("VOXCAT_SHOTS") or tmp_path) / "tiles"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def tiles_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServer, set[str]]]:
    """JupyterLab on an index of the thumbnail corpus (labels, float CT, RGB, a 3-D
    volume, a 2-D image, a constant image) plus two long, nearly equal names."""
    work = tmp_path_factory.mktemp("tiles")
    corpus = work / "corpus"
    write_corpus(corpus, np.random.default_rng(20261122))
    for name in LONG:
        shutil.copy(corpus / "image2d.tif", corpus / name)
    index = work / "lab.duckdb"
    report = scan(corpus, index=index, jobs=1, progress=False)
    assert report["failed"] == 0
    names = {r[0] for r in q(index, "SELECT name FROM datasets")}
    assert "cells.tif" in names and len(names) == 9
    with demo_lab(index, work) as server:
        yield server, names


COLUMNS = """() => getComputedStyle(document.querySelector('.voxcat-grid-tiles'))
    .gridTemplateColumns.split(' ').length"""


def _columns(page: Page) -> int:
    return int(page.evaluate(f"({COLUMNS})()"))


def _widen_sidebar(page: Page, pixels: int) -> None:
    """Drag the handle between the left sidebar and the main area ``pixels`` right."""
    box = page.evaluate(
        """() => {
        const left = document.querySelector('#jp-left-stack').getBoundingClientRect();
        const handle = [...document.querySelectorAll('#jp-main-split-panel > .lm-SplitPanel-handle')]
            .map(h => h.getBoundingClientRect())
            .find(r => r.width > 0 && Math.abs(r.left - left.right) < 8);
        return handle && {x: handle.left + handle.width / 2, y: handle.top + handle.height / 2};
    }"""
    )
    assert box, "no handle beside the left sidebar"
    page.mouse.move(box["x"], box["y"])
    page.mouse.down()
    page.mouse.move(box["x"] + pixels / 2, box["y"], steps=5)
    page.mouse.move(box["x"] + pixels, box["y"], steps=5)
    page.mouse.up()


def _every_tile(page: Page, shots: Path, label: str) -> tuple[list[dict], list[dict]]:
    """Thumbnail pixels and name boxes of every tile, the grid scrolled from top to
    bottom (it builds tiles only for the rows in view); a screenshot at each stop."""
    grid = page.locator(".voxcat-grid")
    expect(page.locator(".voxcat-tile[data-id]").first).to_be_visible(timeout=TIMEOUT)
    thumbs: dict[str, dict] = {}
    boxes: dict[str, dict] = {}
    for stop, where in enumerate(("0", "g.scrollHeight")):
        grid.evaluate(f"g => {{ g.scrollTop = {where}; }}")
        page.wait_for_timeout(300)  # the grid re-renders on the next animation frame
        page.wait_for_function(
            "() => { const t = [...document.querySelectorAll('.voxcat-tile[data-id] img')];"
            " return t.length > 0 && t.every(i => !i.dataset.src"
            " || (i.complete && i.naturalWidth > 0)); }",
            timeout=TIMEOUT,
        )
        page.screenshot(path=shots / f"sidebar-{label}-{stop}.png")
        page.locator("#voxcat-sidebar").screenshot(path=shots / f"tiles-{label}-{stop}.png")
        thumbs.update({t["name"]: t for t in page.evaluate(THUMB_PIXELS)})
        boxes.update({b["title"]: b for b in page.evaluate(NAME_BOXES)})
    return list(thumbs.values()), list(boxes.values())


@pytest.mark.parametrize("theme", list(THEMES))
def test_tiles_show_the_data_and_readable_names(
    page: Page, tiles_lab: tuple[LabServer, set[str]], theme: str, tmp_path: Path
) -> None:
    lab, names = tiles_lab
    shots = shots_folder(tmp_path)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")
    expect(page.locator("#voxcat-sidebar")).to_be_visible(timeout=KERNEL_TIMEOUT)
    page.wait_for_function(
        "() => window.jupyterapp?.commands?.hasCommand('apputils:change-theme')"
    )
    page.evaluate(
        "theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})",
        THEMES[theme],
    )
    light = "true" if theme == "light" else "false"
    page.wait_for_function(
        f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=TIMEOUT
    )
    tiles = page.locator(".voxcat-tile[data-id]")
    expect(tiles.first).to_be_visible(timeout=TIMEOUT)
    for width, wide in [*((w, False) for w in WIDTHS), (WIDTHS[-1], True)]:
        page.set_viewport_size({"width": width, "height": 1000})
        if wide:  # the sidebar dragged wider: more columns, each name fitted again
            before = _columns(page)
            _widen_sidebar(page, 420)
            page.wait_for_function(f"() => ({COLUMNS})() > {before}", timeout=TIMEOUT)
        thumbs, boxes = _every_tile(page, shots, f"{theme}-{width}{'-wide' if wide else ''}")

        # not blank: every non-empty dataset's thumbnail has a spread of luminance,
        # the label images more than two colours (background and one label would be two)
        by_name = {t["name"]: t for t in thumbs}
        assert set(by_name) == names, by_name.keys()
        for name, t in by_name.items():
            assert not t.get("missing") and not t.get("loading"), (width, t)
            if name != "blank.tif":
                assert t["std"] > MIN_SPREAD, (theme, width, t)
        for name in ("cells.tif", "regions.tif"):
            assert by_name[name]["colours"] > 2, (theme, width, by_name[name])

        # names: never wider than their tile, at most the two lines they are given,
        # the full name in the title, a shortened one keeping its start and its end
        assert {b["title"] for b in boxes} == names
        for b in boxes:
            assert b["scrollWidth"] <= b["clientWidth"] + 1, (theme, width, b)
            assert b["left"] >= 0 and b["left"] + b["width"] <= b["tileWidth"] + 0.5, b
            assert b["scrollHeight"] <= b["clientHeight"] + 1, (theme, width, b)  # not cut
            assert b["clientHeight"] <= 2 * b["lineHeight"] + 1, b
            if b["text"] != b["title"]:
                head, _, tail = b["text"].partition("…")
                assert head and tail and b["title"].startswith(head), b
                assert b["title"].endswith(tail), b
        shortened = {b["title"]: b["text"] for b in boxes if b["title"] in LONG}
        assert len(set(shortened.values())) == 2, shortened  # the two still differ
    print(f"screenshots: {shots}")
    assert not errors, errors
