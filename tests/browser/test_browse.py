"""End to end in a real browser: the demo notebook in JupyterLab, run top to bottom,
then its ``widgets.browse(cat)`` used as a person would use it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from .lab import LabServer
from .shots import settled_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

KERNEL_TIMEOUT = 120_000  # ms; first start of a kernel on a loaded 2-core machine
RUN_TIMEOUT = 180_000  # ms; running every cell imports the scientific stack once
UPDATE_TIMEOUT = 30_000  # ms; one round trip to the kernel and a re-render
COUNT = re.compile(r"^(\d+) of (\d+) datasets$")

KERNEL_IDLE = """() => {
    const panel = window.jupyterapp?.shell.currentWidget;
    return panel?.sessionContext?.session?.kernel?.status === "idle";
}"""
# fire and forget: an awaited command inside evaluate() has no timeout
RUN_ALL = """() => { void window.jupyterapp.commands.execute("notebook:run-all-cells"); }"""
# the error outputs of the notebook's cells, or null while its last code cell has not run
RESULT = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    const errors = [];
    let last = null;
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== "code") continue;
        last = cell;
        for (let j = 0; j < cell.outputs.length; j++) {
            const out = cell.outputs.get(j).toJSON();
            if (out.output_type === "error") errors.push(`${out.ename}: ${out.evalue}`);
        }
    }
    return errors.length || last?.executionCount ? errors : null;
}"""


def _run_demo_notebook(page: Page, lab: LabServer) -> None:
    """Open the demo notebook, wait for its kernel, run every cell; fail on an error."""
    page.goto(lab.tree_url("demo.ipynb"))
    page.wait_for_function(KERNEL_IDLE, timeout=KERNEL_TIMEOUT)
    page.evaluate(RUN_ALL)
    errors = page.wait_for_function(RESULT, timeout=RUN_TIMEOUT, polling=500).json_value()
    assert errors == [], f"the demo notebook failed: {errors}"


def _count(label: Locator) -> tuple[int, int]:
    match = COUNT.match(label.inner_text().strip())
    assert match, label.inner_text()
    return int(match[1]), int(match[2])


def _view_image(page: Page, name: str) -> Locator:
    """The image of one orthogonal view of the slice browser ("xy", "xz", "yz")."""
    box = page.locator(".widget-vbox").filter(
        has=page.locator(":scope > .widget-label", has_text=re.compile(rf"^{name} ·"))
    )
    return box.locator(":scope > img")


def test_browse_search_open_and_slice(page: Page, lab: LabServer, tmp_path: Path) -> None:
    _run_demo_notebook(page, lab)

    # the search panel and grid of widgets.browse(cat), the notebook's last cell
    search = page.get_by_placeholder('words, "phrases", -exclude')
    expect(search).to_be_visible(timeout=UPDATE_TIMEOUT)
    count = page.locator(".widget-label").filter(has_text=COUNT)
    expect(count).to_have_count(1, timeout=UPDATE_TIMEOUT)
    cards = page.locator(".widget-gridbox .widget-html div[title]")
    shown, total = _count(count)
    assert shown == total > 5
    expect(cards).to_have_count(min(total, 24))
    page.screenshot(path=tmp_path / "1-all.png")

    # typing narrows the result and the grid
    search.fill("sandstone")
    expect(count).not_to_have_text(f"{total} of {total} datasets", timeout=UPDATE_TIMEOUT)
    shown, _ = _count(count)
    assert 0 < shown < total
    expect(cards).to_have_count(shown, timeout=UPDATE_TIMEOUT)
    # (in the grid: the sidebar's tiles and the catalogue's HTML view earlier in the
    # notebook carry full names as titles too)
    notebook = page.locator(".widget-gridbox")
    expect(notebook.get_by_title("sandstone_01_rec", exact=True)).to_be_visible()
    expect(notebook.get_by_title("water phantom", exact=True)).to_have_count(0)
    page.screenshot(path=tmp_path / "2-search.png")

    # clicking a thumbnail opens its details and the slice browser
    card = page.locator(".widget-vbox").filter(
        has=page.locator(":scope > .widget-html").get_by_title("sandstone_01_rec", exact=True)
    )
    card.locator(":scope > img").click()
    xy = _view_image(page, "xy")
    expect(xy).to_be_visible(timeout=UPDATE_TIMEOUT)
    for name in ("xz", "yz"):
        expect(_view_image(page, name)).to_be_visible()
    instrument = page.locator(".widget-html td", has_text=re.compile(r"^SkyScan1272$"))
    expect(instrument).to_be_visible()  # in the detail's metadata table
    page.screenshot(path=tmp_path / "3-open.png")

    # moving the z slider shows another plane
    caption = page.locator(".widget-label", has_text=re.compile(r"^xy · z = \d+"))
    before_caption = caption.inner_text()
    before = settled_screenshot(xy)
    (tmp_path / "slice-before.png").write_bytes(before)
    slider = page.locator(".widget-slider").filter(
        has=page.locator(".widget-label", has_text=re.compile(r"^z$"))
    )
    handle = slider.locator(".noUi-handle")
    handle.focus()
    handle.press("End")  # to the last slice
    expect(caption).not_to_have_text(before_caption, timeout=UPDATE_TIMEOUT)
    after = settled_screenshot(xy, unlike=before)
    (tmp_path / "slice-after.png").write_bytes(after)
    assert after != before, f"the xy view did not change; see {tmp_path}"
