"""End to end in a real browser: the JupyterLab sidebar of ``jupyter_ext`` (built by
``pip install .``) on a demo index, used as a person would use it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tifffile
from playwright.sync_api import Page, expect

from catalog.demo import install_demo_notebook, run_demo

from .lab import SOURCES, LabServer, LabStartError, running_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 60_000  # ms; a round trip through the server on a loaded 2-core machine
KERNEL_TIMEOUT = 120_000  # ms; first start of a kernel and its imports
COUNT = re.compile(r"^(\d+) of (\d+) datasets$")
ALL = re.compile(r"^(\d+) datasets$")

# the text outputs of the active notebook's code cells, or null while a cell has not run
OUTPUTS = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = panel?.content?.model?.cells;
    if (!cells) return null;
    const texts = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== "code") continue;
        if (!cell.executionCount) return null;
        for (let j = 0; j < cell.outputs.length; j++) {
            const out = cell.outputs.get(j).toJSON();
            if (out.output_type === "error") texts.push(`ERROR ${out.ename}: ${out.evalue}`);
            else if (out.data) texts.push(String(out.data["text/plain"] ?? ""));
            else if (out.text) texts.push(String(out.text));
        }
    }
    return texts;
}"""
KERNEL_IDLE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    return panel?.sessionContext?.session?.kernel?.status === "idle";
}"""


@pytest.fixture(scope="module")
def sidebar_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab as ``voxcat demo`` starts it, on a demo index of its own (the scan
    job of these tests adds datasets), with a folder of new data to scan."""
    work = tmp_path_factory.mktemp("sidebar")
    index = run_demo(work / "demo")
    notebook = install_demo_notebook(work / "root")
    rng = np.random.default_rng(7)
    new = work / "root" / "new scans"
    new.mkdir()
    for i in range(2):
        volume = rng.integers(0, 4000, size=(8, 32, 32), dtype=np.uint16)
        tifffile.imwrite(new / f"fresh_{i}.tif", volume)
    try:
        with running_lab(notebook, index, work) as server:
            yield server
    except LabStartError as exc:
        pytest.fail(str(exc))


def _count(page: Page) -> tuple[int, int]:
    text = page.locator(".voxcat-count-line").inner_text().strip()
    match = COUNT.match(text) or ALL.match(text)
    assert match, text
    shown = int(match[1])
    return shown, int(match[2]) if match.re is COUNT else shown


def test_sidebar_search_preview_insert_and_scan(
    page: Page, sidebar_lab: LabServer, tmp_path: Path
) -> None:
    lab = sidebar_lab
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")

    # the sidebar opens by itself (voxcat demo) and shows the whole index
    sidebar = page.locator("#voxcat-sidebar")
    expect(sidebar).to_be_visible(timeout=KERNEL_TIMEOUT)
    count = page.locator(".voxcat-count-line")
    expect(count).to_have_text(ALL, timeout=TIMEOUT)
    total, _ = _count(page)
    assert total > 5
    tiles = page.locator(".voxcat-tile[data-id]")
    expect(tiles.first).to_be_visible(timeout=TIMEOUT)
    # virtualised: tiles only for what is in view; scrolling brings the rest
    seen = set(tiles.evaluate_all("ts => ts.map(t => t.dataset.id)"))
    assert 0 < len(seen) <= total
    page.locator(".voxcat-grid").evaluate("g => { g.scrollTop = g.scrollHeight; }")
    page.wait_for_timeout(500)
    seen |= set(tiles.evaluate_all("ts => ts.map(t => t.dataset.id)"))
    assert len(seen) == total, f"{len(seen)} of {total} datasets reachable by scrolling"
    expect(page.locator(".voxcat-facet[data-field=modality]")).to_be_visible()
    page.screenshot(path=tmp_path / "1-sidebar.png")

    # typing narrows the count and the grid
    page.locator(".voxcat-search").fill("sandstone")
    expect(count).to_have_text(COUNT, timeout=TIMEOUT)
    shown, all_ = _count(page)
    assert 0 < shown < all_ == total
    expect(tiles).to_have_count(shown, timeout=TIMEOUT)
    expect(page.locator(".voxcat-tile[title^='sandstone_01_rec']")).to_be_visible()

    # a facet narrows further and a second click lifts it
    chip = page.locator(".voxcat-facet[data-field=modality] .voxcat-chip").first
    chip.click()
    expect(chip).to_have_attribute("aria-pressed", "true", timeout=TIMEOUT)
    chip.click()
    expect(count).to_have_text(f"{shown} of {total} datasets", timeout=TIMEOUT)
    page.screenshot(path=tmp_path / "2-search.png")

    # a thumbnail opens the dataset's main-area tab (tests/browser/test_viewer.py shows
    # it in full); the sidebar stays the finder
    page.locator(".voxcat-tile[title^='sandstone_01_rec']").click()
    viewer = page.locator(".voxcat-viewer")
    expect(viewer.locator(".voxcat-viewer-name")).to_have_text("sandstone_01_rec", timeout=TIMEOUT)
    expect(
        viewer.locator(".voxcat-meta td", has_text=re.compile(r"^SkyScan1272$"))
    ).to_be_visible()
    expect(page.locator(".voxcat-grid")).to_be_visible()
    z = viewer.locator(".voxcat-view-plane[data-plane=z]")
    caption = z.locator(".voxcat-plane-caption")
    expect(caption).to_have_text(re.compile(r"^\d+ / \d+ · level"), timeout=TIMEOUT)
    before_caption = caption.inner_text()
    slider = z.locator(".voxcat-plane-slider")
    slider.focus()
    slider.press("End")
    expect(caption).not_to_have_text(before_caption, timeout=TIMEOUT)
    page.screenshot(path=tmp_path / "3-viewer.png")

    # insert code: a new notebook gets a cell that reads the dataset, and it runs
    dataset_id = viewer.locator(".voxcat-meta tr", has=page.locator("th", has_text="id")).first
    ident = dataset_id.locator("td").inner_text()
    viewer.locator(".voxcat-viewer-insert").click()
    page.wait_for_function(
        f"() => ({SOURCES})()?.some(s => s.includes({ident!r}))", timeout=TIMEOUT
    )
    page.wait_for_function(KERNEL_IDLE, timeout=KERNEL_TIMEOUT)
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    outputs = page.wait_for_function(OUTPUTS, timeout=KERNEL_TIMEOUT, polling=500).json_value()
    assert any(o.startswith("<xarray.DataArray") for o in outputs), outputs
    assert not any(o.startswith("ERROR") for o in outputs), outputs
    page.screenshot(path=tmp_path / "4-notebook.png")

    # a scan started from the sidebar ends with a notification and more datasets
    page.locator(".voxcat-search").fill("")
    expect(count).to_have_text(f"{total} datasets", timeout=TIMEOUT)
    page.locator(".voxcat-scan-path").fill("new scans")
    page.locator(".voxcat-scan-start").click()
    toast = page.locator(".Toastify__toast", has_text=re.compile(r"scan .*new scans finished"))
    expect(toast).to_be_visible(timeout=KERNEL_TIMEOUT)
    expect(page.locator(".voxcat-job-done").first).to_be_visible()
    expect(toast).to_contain_text("2 added")
    expect(count).to_have_text(f"{total + 2} datasets", timeout=TIMEOUT)
    page.screenshot(path=tmp_path / "5-scanned.png")
    assert errors == [], errors


def test_names_render_as_text_not_html(page: Page, sidebar_lab: LabServer) -> None:
    """A dataset named like markup shows the characters; no element is injected."""
    lab = sidebar_lab
    evil = lab.root / "<img src=x onerror=alert(1)>.tif"
    tifffile.imwrite(evil, np.zeros((8, 8), dtype=np.uint8))
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")
    expect(page.locator("#voxcat-sidebar")).to_be_visible(timeout=KERNEL_TIMEOUT)
    page.locator(".voxcat-scan-path").fill(".")
    page.locator(".voxcat-scan-start").click()
    expect(page.locator(".Toastify__toast", has_text="finished")).to_be_visible(
        timeout=KERNEL_TIMEOUT
    )
    page.locator(".voxcat-search").fill("onerror")
    # the name, shortened in the middle to fit its tile, whole in its title
    name = page.locator(".voxcat-tile-name[title='<img src=x onerror=alert(1)>.tif']")
    expect(name).to_be_visible(timeout=TIMEOUT)
    expect(name).to_have_text(re.compile(r"^<img src=.*alert\(1\)>\.tif$"))
    assert name.locator("img").count() == 0
    name.click()
    expect(page.locator(".voxcat-viewer-name")).to_have_text(
        "<img src=x onerror=alert(1)>.tif", timeout=TIMEOUT
    )
    assert page.locator(".voxcat-viewer-name img").count() == 0
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="onerror")
    expect(tab).to_be_visible()
    assert page.locator(".lm-DockPanel-tabBar img[src=x]").count() == 0
