"""End to end in a real browser: the main-area dataset viewer of ``jupyter_ext`` on a
demo index whose segmentation is linked to its reconstruction, at three widths (and
in JupyterLab's dark theme at one), as a person would use it: open a volume from the
sidebar, step a slider, zoom, overlay the labels, follow the lineage, reload, and
insert code into a notebook."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, FloatRect, Page, expect

from catalog import open_catalog
from catalog.demo import run_demo

from .lab import SOURCES, LabServer, demo_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 60_000  # ms; a round trip through the server on a loaded 2-core machine
START_TIMEOUT = 120_000  # ms; JupyterLab's first page load
REC, SEG = "sandstone_01_rec", "sandstone_01_pores_labels.tif"

# a fingerprint of a canvas's pixels (changes when anything drawn changes)
PIXELS = """c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i] * 7 + d[i + 1] * 3 + d[i + 2]) % 1000000007;
    return `${c.width}x${c.height}:${h}`;
}"""
# how many distinct colours (quantised) the coloured, non-grey pixels of a canvas have
HUES = """c => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4) {
        const r = d[i], g = d[i + 1], b = d[i + 2];
        if (Math.max(r, g, b) - Math.min(r, g, b) > 40) seen.add(`${r >> 5},${g >> 5},${b >> 5}`);
    }
    return seen.size;
}"""
# a canvas with an image drawn on it (any pixel not transparent)
DRAWN = """c => {
    if (!c.width || !c.height) return false;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
    return false;
}"""
# the saved workspace lists a viewer tab for the dataset
SAVED = """async id => {
    const ws = await window.jupyterapp.serviceManager.workspaces.fetch('default');
    return JSON.stringify(ws.data ?? {}).includes(`voxcat-viewer:${id}`);
}"""


@pytest.fixture(scope="module")
def viewer_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServer, dict]]:
    """JupyterLab as ``voxcat demo`` starts it, on a demo index where the pores
    segmentation is recorded as derived from the reconstruction."""
    work = tmp_path_factory.mktemp("viewer")
    index = run_demo(work / "demo")
    cat = open_catalog(index)
    ids = {cat[i].metadata["name"]: i for i in cat}
    cat.link(ids[SEG], [ids[REC]], step="threshold")
    with demo_lab(index, work) as server:
        yield server, ids


def _open_from_sidebar(page: Page, text: str, title: str) -> None:
    page.locator(".voxcat-search").fill(text)
    tile = page.locator(f".voxcat-tile[title^='{title}']")
    expect(tile).to_be_visible(timeout=TIMEOUT)
    tile.click()


def _wait_drawn(page: Page, viewer: str, n: int) -> None:
    canvases = page.locator(f"{viewer} .voxcat-plane-canvas")
    expect(canvases).to_have_count(n, timeout=TIMEOUT)
    for i in range(n):
        page.wait_for_function(
            f"c => ({DRAWN})(c)", arg=canvases.nth(i).element_handle(), timeout=TIMEOUT
        )


def _box(page: Page, selector: str, nth: int = 0) -> FloatRect:
    box = page.locator(selector).nth(nth).bounding_box()
    assert box is not None, selector
    return box


def _assert_fills(page: Page, viewer: str, width: int) -> None:
    """Three planes fill the stage, the stage most of the tab; nothing overflows."""
    tab = _box(page, viewer)
    stage = _box(page, f"{viewer} .voxcat-viewer-stage")
    planes = [_box(page, f"{viewer} .voxcat-view-plane", i) for i in range(3)]
    canvases = [_box(page, f"{viewer} .voxcat-plane-canvas", i) for i in range(3)]
    # the stage takes most of the tab
    assert stage["width"] * stage["height"] >= 0.4 * tab["width"] * tab["height"], (stage, tab)
    # the planes span the stage in both directions (cells of one grid fill it)
    left = min(p["x"] for p in planes)
    right = max(p["x"] + p["width"] for p in planes)
    top = min(p["y"] for p in planes)
    bottom = max(p["y"] + p["height"] for p in planes)
    assert right - left >= 0.97 * stage["width"], (planes, stage)
    assert bottom - top >= 0.97 * stage["height"], (planes, stage)
    for p, c in zip(planes, canvases):
        assert p["x"] >= stage["x"] - 1 and p["x"] + p["width"] <= stage["x"] + stage["width"] + 1
        assert c["width"] >= 0.99 * p["width"] and c["height"] >= 0.6 * p["height"], (c, p)
        assert c["width"] > 100 and c["height"] > 80
    # the canvas's backing store matches its size on screen (sharp, not stretched)
    ratio = page.evaluate("() => window.devicePixelRatio")
    backing = page.locator(f"{viewer} .voxcat-plane-canvas").first.evaluate(
        "c => [c.width, c.height, c.clientWidth, c.clientHeight]"
    )
    assert abs(backing[0] - backing[2] * ratio) <= 1 and abs(backing[1] - backing[3] * ratio) <= 1
    overflow = page.evaluate(
        """sel => {
        const v = document.querySelector(sel);
        const out = [];
        for (const el of [v, ...v.querySelectorAll('*')]) {
            if (el.closest('.voxcat-lineage-scroll') && !el.classList.contains('voxcat-lineage-scroll')) continue;
            const s = getComputedStyle(el);
            if (s.overflowX === 'visible' && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
                out.push(`${el.tagName}.${el.className} in ${el.parentElement?.className}: ${el.scrollWidth} > ${el.clientWidth}`);
            const r = el.getBoundingClientRect();
            const t = v.getBoundingClientRect();
            if (r.width > 0 && (r.right > t.right + 1 || r.left < t.left - 1))
                out.push(`${el.tagName}.${el.className} sticks out: ${r.left}..${r.right} of ${t.left}..${t.right}`);
        }
        return out;
    }""",
        viewer,
    )
    assert overflow == [], overflow
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize(("width", "theme"), [(1024, "light"), (1440, "dark"), (1920, "light")])
def test_main_area_viewer(
    chromium: Browser,
    viewer_lab: tuple[LabServer, dict],
    tmp_path: Path,
    width: int,
    theme: str,
) -> None:
    lab, ids = viewer_lab
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    shots = tmp_path / "shots"
    shots.mkdir()
    try:
        page.goto(f"{lab.url}/lab?reset&token={lab.token}")
        expect(page.locator("#voxcat-sidebar")).to_be_visible(timeout=START_TIMEOUT)
        if theme == "dark":
            page.evaluate(
                "() => window.jupyterapp.commands.execute('apputils:change-theme', "
                "{theme: 'JupyterLab Dark'})"
            )
            page.wait_for_function(
                "() => document.body.dataset.jpThemeLight === 'false'", timeout=TIMEOUT
            )

        # a thumbnail opens a main-area tab; the sidebar stays the finder
        _open_from_sidebar(page, REC, REC)
        rec_viewer = f"#voxcat-viewer-{ids[REC]}"
        expect(page.locator(f"{rec_viewer} .voxcat-viewer-name")).to_have_text(
            REC, timeout=TIMEOUT
        )
        expect(page.locator(".voxcat-grid")).to_be_visible()
        expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=REC)).to_be_visible()
        _wait_drawn(page, rec_viewer, 3)
        _assert_fills(page, rec_viewer, width)
        page.screenshot(path=shots / f"1-viewer-{width}-{theme}.png")

        # stepping the z slider draws another plane
        z = page.locator(f"{rec_viewer} .voxcat-view-plane[data-plane=z]")
        canvas = z.locator("canvas")
        before = canvas.evaluate(PIXELS)
        caption = z.locator(".voxcat-plane-caption")
        expect(caption).to_have_text(re.compile(r"^25 / 48 · level 0"), timeout=TIMEOUT)
        slider = z.locator(".voxcat-plane-slider")
        slider.focus()
        slider.press("End")
        expect(caption).to_have_text(re.compile(r"^48 / 48"), timeout=TIMEOUT)
        page.wait_for_function(
            f"([c, b]) => ({PIXELS})(c) !== b",
            arg=[canvas.element_handle(), before],
            timeout=TIMEOUT,
        )
        stepped = canvas.evaluate(PIXELS)

        # the wheel zooms in about the pointer: the view changes, the caption says so
        box = canvas.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.wheel(0, -600)
        expect(caption).to_have_text(re.compile(r"\d\.\d×"), timeout=TIMEOUT)
        page.wait_for_function(
            f"([c, b]) => ({PIXELS})(c) !== b",
            arg=[canvas.element_handle(), stepped],
            timeout=TIMEOUT,
        )
        # the keyboard zooms too, and 0 fits again
        wheeled = caption.inner_text()
        canvas.focus()
        canvas.press("+")
        expect(caption).not_to_have_text(wheeled, timeout=TIMEOUT)
        canvas.press("0")
        expect(caption).not_to_have_text(re.compile("×"), timeout=TIMEOUT)
        page.mouse.wheel(0, -600)  # zoomed again, for the drag
        expect(caption).to_have_text(re.compile(r"\d\.\d×"), timeout=TIMEOUT)
        zoomed = canvas.evaluate(PIXELS)
        # and a drag pans
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] / 2 + 60, box["y"] + box["height"] / 2 + 20)
        page.mouse.up()
        assert canvas.evaluate(PIXELS) != zoomed
        # a colour map recolours every plane
        page.locator(f"{rec_viewer} .voxcat-viewer-cmap").select_option("magma")
        page.wait_for_function(
            f"c => ({HUES})(c) > 3", arg=canvas.element_handle(), timeout=TIMEOUT
        )
        page.screenshot(path=shots / f"2-zoomed-{width}-{theme}.png")

        # the segmentation opens over its parent, its labels in several colours
        _open_from_sidebar(page, "pores_labels", SEG)
        seg_viewer = f"#voxcat-viewer-{ids[SEG]}"
        expect(page.locator(f"{seg_viewer} .voxcat-viewer-over")).to_have_text(
            f"over {REC}", timeout=TIMEOUT
        )
        _wait_drawn(page, seg_viewer, 3)
        _assert_fills(page, seg_viewer, width)
        seg_canvas = page.locator(f"{seg_viewer} .voxcat-plane-canvas").first
        page.wait_for_function(
            f"c => ({HUES})(c) > 2", arg=seg_canvas.element_handle(), timeout=TIMEOUT
        )
        overlay = page.locator(f"{seg_viewer} .voxcat-viewer-overlay")
        expect(overlay).to_have_value(ids[SEG])
        page.screenshot(path=shots / f"3-overlay-{width}-{theme}.png")
        overlay.select_option("")
        page.wait_for_function(
            f"c => ({HUES})(c) === 0", arg=seg_canvas.element_handle(), timeout=TIMEOUT
        )
        overlay.select_option(ids[SEG])

        # the lineage graph: the parent's node brings its open tab back (no second one)
        node = page.locator(f"{seg_viewer} .voxcat-lineage-node[data-id='{ids[REC]}']")
        expect(node).to_be_visible()
        node.click()
        expect(page.locator(rec_viewer)).to_be_visible(timeout=TIMEOUT)
        assert page.locator(f"{rec_viewer}").count() == 1
        expect(page.locator(f"{rec_viewer} .voxcat-copy-path").first).to_contain_text(
            "sandstone_01/rec"
        )

        # reload: both tabs come back, drawn
        page.wait_for_function(SAVED, arg=ids[SEG], timeout=TIMEOUT)
        page.wait_for_function(SAVED, arg=ids[REC], timeout=TIMEOUT)
        page.goto(f"{lab.url}/lab?token={lab.token}")
        expect(page.locator(f"{rec_viewer} .voxcat-viewer-name")).to_have_text(
            REC, timeout=START_TIMEOUT
        )
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=REC).click()
        _wait_drawn(page, rec_viewer, 3)
        _assert_fills(page, rec_viewer, width)
        expect(page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=SEG)).to_be_visible()
        page.screenshot(path=shots / f"4-restored-{width}-{theme}.png")

        if width == 1920:
            # Insert code: a new notebook on the default kernel gets a cell reading it
            page.locator(f"{rec_viewer} .voxcat-viewer-insert").click()
            page.wait_for_function(
                f"() => ({SOURCES})()?.some(s => s.includes('cat[\"{ids[REC]}\"].read()'))",
                timeout=START_TIMEOUT,
            )
            page.screenshot(path=shots / f"5-inserted-{width}-{theme}.png")
        assert errors == [], errors
    finally:
        if theme == "dark":  # the theme is a user setting: leave the lab light
            page.evaluate(
                "() => window.jupyterapp.commands.execute('apputils:change-theme', "
                "{theme: 'JupyterLab Light'})"
            )
        context.close()


def test_a_2d_image_fills_the_tab_with_one_plane(
    chromium: Browser, viewer_lab: tuple[LabServer, dict], tmp_path: Path
) -> None:
    lab, ids = viewer_lab
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{lab.url}/lab?reset&token={lab.token}")
        expect(page.locator("#voxcat-sidebar")).to_be_visible(timeout=START_TIMEOUT)
        _open_from_sidebar(page, "actually_a_png", "actually_a_png")
        viewer = f"#voxcat-viewer-{ids['actually_a_png.tif']}"
        _wait_drawn(page, viewer, 1)
        stage = _box(page, f"{viewer} .voxcat-viewer-stage")
        plane = _box(page, f"{viewer} .voxcat-view-plane")
        assert (
            plane["width"] >= 0.97 * stage["width"] and plane["height"] >= 0.97 * stage["height"]
        )
        assert page.locator(f"{viewer} .voxcat-plane-slider").is_hidden()
        page.screenshot(path=tmp_path / "2d-1440.png")
        assert errors == [], errors
    finally:
        context.close()
