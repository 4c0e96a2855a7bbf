"""The web app of ``voxcat serve`` in Debian's chromium: ``pages(index)`` served by
Panel on 127.0.0.1, driven like a user would: search, a facet, paging, the URL
round trip, a dataset's slider, zooming the mosaic (only the window in view is
read), the lineage link, and layouts at phone (390 px) and desktop (1400 px) widths
where nothing is wider than the screen. Screenshots go to the test's tmp folder."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from widgets.webapp import pages

from ..servers import free_port
from ..webapp_lab import MOSAIC, SMALL, write_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: the elements (shadow roots included) whose right edge is past the screen's; Bokeh's
#: renderer layers are left out: they are drawn into their canvas, which clips them
#: (the canvas itself is checked)
OVERFLOW_JS = """
(width) => {
  const out = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      const style = getComputedStyle(el);
      const layer = /Renderer$/.test(String(el.className));
      if (!layer && r.width > 0 && r.height > 0 && style.visibility !== 'hidden'
          && r.right > width + 1) {
        out.push(`${el.tagName}.${el.className} right=${Math.round(r.right)}`);
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return out;
}
"""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    import panel as pn

    lab = write_lab(tmp_path_factory.mktemp("webapp"))
    routes = pages(lab["index"])
    port = free_port()
    server = pn.serve(
        {"/": routes["search"], **routes},  # voxcat serve mounts each page by its name
        port=port,
        address="127.0.0.1",
        websocket_origin=f"127.0.0.1:{port}",
        threaded=True,
        show=False,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        yield {**lab, "url": f"http://127.0.0.1:{port}"}
    finally:
        server.stop()


def _open(chromium: Browser, width: int, height: int) -> Page:
    return chromium.new_context(viewport={"width": width, "height": height}).new_page()


def _count(page: Page) -> str:
    return page.locator(".vx-count").inner_text()


def test_search_facet_paging_and_the_url(chromium: Browser, app: dict, tmp_path: Path) -> None:
    page = _open(chromium, 1400, 900)
    try:
        page.goto(app["url"] + "/")
        expect(page.locator(".vx-count")).to_contain_text(f"{SMALL + 3} datasets", timeout=30_000)
        box = page.locator("input[placeholder^='words']")
        box.fill("tile")
        box.press("Enter")
        expect(page.locator(".vx-count")).to_contain_text(f"{SMALL} of {SMALL + 3}")
        expect(page.locator(".vx-where")).to_contain_text("page 1 of 2")
        assert page.locator("a.vx-tile").count() == 24
        page.get_by_role("button", name="Next ▶").click()
        expect(page.locator(".vx-where")).to_contain_text("page 2 of 2")
        assert page.locator("a.vx-tile").count() == SMALL - 24
        expect(page).to_have_url(re.compile(r"\?q=tile&page=2$"))
        page.screenshot(path=str(tmp_path / "search_page2_1400.png"), full_page=True)
        # the URL reproduces the view
        page.reload()
        expect(page.locator(".vx-where")).to_contain_text("page 2 of 2", timeout=30_000)
        assert box.input_value() == "tile"
        # a facet: LM only, back to page 1, in the URL
        page.get_by_text("LM (20)").click()
        expect(page.locator(".vx-count")).to_contain_text("20 of 33")
        expect(page.locator(".vx-where")).to_contain_text("page 1 of 1")
        expect(page).to_have_url(re.compile(r"\?q=tile&modality=LM$"))
        assert "EM" not in " ".join(page.locator(".vx-facts").all_inner_texts())
        page.goto(page.url)
        expect(page.locator(".vx-count")).to_contain_text("20 of 33", timeout=30_000)
        expect(page.get_by_role("checkbox", name="LM (20)")).to_be_checked()
        page.screenshot(path=str(tmp_path / "search_facet_1400.png"), full_page=True)
        # Back: the view before the facet, from its URL
        page.go_back()
        expect(page).to_have_url(re.compile(r"\?q=tile&page=2$"))
        expect(page.locator(".vx-where")).to_contain_text("page 2 of 2", timeout=30_000)
        expect(page.locator(".vx-count")).to_contain_text(f"{SMALL} of {SMALL + 3}")
    finally:
        page.context.close()


def test_open_a_volume_and_move_a_slider(chromium: Browser, app: dict, tmp_path: Path) -> None:
    page = _open(chromium, 1400, 900)
    try:
        page.goto(app["url"] + "/?q=core_scan")
        page.locator("a.vx-tile").first.click(timeout=30_000)
        expect(page).to_have_url(re.compile(rf"/dataset\?id={app['ids']['core_scan']}$"))
        view = page.locator(".vx-view-xy canvas").first
        view.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        before = view.screenshot()
        page.screenshot(path=str(tmp_path / "volume_before_1400.png"), full_page=True)
        handle = page.locator(".noUi-handle").first  # the z slider
        handle.focus()
        for _ in range(15):
            handle.press("ArrowLeft")
        expect(page.get_by_text("z: 5", exact=False)).to_be_visible()
        for _ in range(50):  # the new plane arrives over the websocket
            page.wait_for_timeout(100)
            after = view.screenshot()
            if after != before:
                break
        assert after != before
        page.screenshot(path=str(tmp_path / "volume_after_1400.png"), full_page=True)
        # the header's Search link goes back to the search page
        page.get_by_role("link", name="Search").click()
        expect(page).to_have_url(re.compile(r"/search$"))
        expect(page.locator(".vx-count")).to_contain_text("datasets", timeout=30_000)
        page.go_back()
        expect(page.locator(".vx-view-xy canvas").first).to_be_attached(timeout=30_000)
        # the lineage links to the segmentation made from it
        page.get_by_role("link", name="core_segmented.tif").click()
        expect(page).to_have_url(re.compile(rf"id={app['ids']['core_segmented']}$"))
        expect(page.locator("h2")).to_contain_text("core_segmented.tif", timeout=30_000)
    finally:
        page.context.close()


def _caption(page: Page) -> tuple[int, int, int, int, int]:
    text = page.locator(".vx-caption small").inner_text()
    m = re.search(r"rows ([\d,]+)–([\d,]+), columns ([\d,]+)–([\d,]+) .* level (\d+)", text)
    assert m, text
    return tuple(int(g.replace(",", "")) for g in m.groups())  # type: ignore[return-value]


def test_zooming_the_mosaic_reads_only_the_window(
    chromium: Browser, app: dict, tmp_path: Path
) -> None:
    page = _open(chromium, 1400, 900)
    try:
        page.goto(f"{app['url']}/dataset?id={app['ids']['wafer_mosaic']}")
        expect(page.locator(".vx-caption")).to_contain_text("level", timeout=30_000)
        r0, r1, c0, c1, level = _caption(page)
        assert (r0, r1, c0, c1) == (0, MOSAIC[0], 0, MOSAIC[1]) and level > 0
        plot = page.locator(".vx-view-mosaic canvas").first
        box = plot.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
        for _ in range(12):
            page.mouse.wheel(0, -240)
            page.wait_for_timeout(120)
        for _ in range(50):
            page.wait_for_timeout(200)
            r0, r1, c0, c1, level = _caption(page)
            if (r1 - r0) * (c1 - c0) < MOSAIC[0] * MOSAIC[1] / 16:
                break
        area = (r1 - r0) * (c1 - c0)
        assert area < MOSAIC[0] * MOSAIC[1] / 16, (r0, r1, c0, c1)  # a region, not the mosaic
        assert level < 2 and 0 < c0 < c1 < MOSAIC[1] and 0 < r0 < r1 < MOSAIC[0]
        text = page.locator(".vx-caption small").inner_text()
        h, w = (
            int(v.replace(",", "")) for v in re.search(r"read ([\d,]+) × ([\d,]+)", text).groups()
        )
        assert max(h, w) <= 2048  # what was read fits the screen, whatever the zoom
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "mosaic_zoomed_1400.png"), full_page=True)
    finally:
        page.context.close()


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1400, 900)])
def test_nothing_is_wider_than_the_screen(
    chromium: Browser, app: dict, tmp_path: Path, width: int, height: int
) -> None:
    page = _open(chromium, width, height)
    urls = {
        "search": "/",
        "volume": f"/dataset?id={app['ids']['core_scan']}",
        "mosaic": f"/dataset?id={app['ids']['wafer_mosaic']}",
        "dashboard": "/dashboard",
    }
    try:
        for name, path in urls.items():
            page.goto(app["url"] + path)
            page.locator(".vx-head").wait_for(timeout=30_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(tmp_path / f"{name}_{width}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, name
            assert page.evaluate(OVERFLOW_JS, width) == [], name
        page.goto(app["url"] + "/")
        expect(page.locator(".vx-count")).to_contain_text("datasets", timeout=30_000)
        facets = page.locator(".vx-facets").bounding_box()
        grid = page.locator(".vx-grid").bounding_box()
        assert facets is not None and grid is not None
        if width < 600:  # on a phone the facets come above the grid, the whole width
            assert facets["y"] + facets["height"] <= grid["y"] + 1
            assert facets["width"] > width - 40
        else:  # a column left of the grid
            assert facets["x"] + facets["width"] <= grid["x"] + 1 and facets["width"] < 300
    finally:
        page.context.close()


def _pixels_near(png: bytes, rgb: tuple[int, int, int], tol: int = 40) -> tuple[float, float]:
    """The centre of the pixels of a screenshot close to colour ``rgb``."""
    import io

    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    near = (np.abs(img - np.array(rgb)).sum(axis=2) < tol).nonzero()
    assert near[0].size, f"no pixel near {rgb}"
    return float(near[1].mean()), float(near[0].mean())


def test_tapping_a_lineage_node_opens_that_dataset(chromium: Browser, app: dict) -> None:
    page = _open(chromium, 1400, 900)
    try:
        page.goto(f"{app['url']}/dataset?id={app['ids']['core_scan']}")
        graph = page.locator(".vx-lineage canvas").first
        graph.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        x, y = _pixels_near(graph.screenshot(), (0x30, 0x67, 0x8D))  # the child's node
        box = graph.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + x, box["y"] + y)  # Bokeh's event layer takes the click
        expect(page).to_have_url(
            re.compile(rf"id={app['ids']['core_segmented']}$"), timeout=15_000
        )
        expect(page.locator("h2")).to_contain_text("core_segmented.tif", timeout=30_000)
    finally:
        page.context.close()


def test_a_colormap_recolours_the_planes(chromium: Browser, app: dict) -> None:
    page = _open(chromium, 1400, 900)
    try:
        page.goto(f"{app['url']}/dataset?id={app['ids']['core_scan']}")
        view = page.locator(".vx-view-xy canvas").first
        view.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        grey = view.screenshot()
        page.locator("select").first.select_option("fire")
        for _ in range(50):
            page.wait_for_timeout(100)
            shot = view.screenshot()
            if shot != grey:
                break
        import io

        import numpy as np
        from PIL import Image

        rgb = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
        spread = np.abs(rgb[..., 0] - rgb[..., 2]).max()  # grey has R == G == B
        assert spread > 100, spread
    finally:
        page.context.close()


def test_an_unknown_id_says_so(chromium: Browser, app: dict) -> None:
    page = _open(chromium, 390, 844)
    try:
        page.goto(f"{app['url']}/dataset?id=nosuchdataset")
        expect(page.get_by_text("no dataset with id 'nosuchdataset'", exact=False)).to_be_visible(
            timeout=30_000
        )
        page.goto(f"{app['url']}/dataset")
        expect(page.get_by_text("No dataset chosen", exact=False)).to_be_visible(timeout=30_000)
    finally:
        page.context.close()


def test_a_click_on_one_view_moves_the_others(chromium: Browser, app: dict) -> None:
    page = _open(chromium, 1400, 900)
    try:
        page.goto(f"{app['url']}/dataset?id={app['ids']['core_scan']}")
        xy = page.locator(".vx-view-xy canvas").first
        yz = page.locator(".vx-view-yz canvas").first
        yz.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)
        before = yz.screenshot()
        box = xy.bounding_box()
        assert box is not None
        # left of the ball in the xy view: the yz plane there misses the ball
        page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.5)
        for _ in range(50):
            page.wait_for_timeout(100)
            after = yz.screenshot()
            if after != before:
                break
        assert after != before
    finally:
        page.context.close()


#: a tag wider than a phone, without a space to break at
LONG_TAG = "a-rather-long-tag-without-spaces-" * 3 + "2025"


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1400, 900)])
def test_a_curator_adds_and_removes_tags_with_the_chips(
    chromium: Browser, app: dict, tmp_path: Path, width: int, height: int
) -> None:
    from catalog import open_catalog

    ident = app["ids"]["tile_29"]  # a dataset no other test here looks at
    page = _open(chromium, width, height)
    try:
        page.goto(f"{app['url']}/dataset?id={ident}")
        box = page.locator("input[placeholder^='add tags']")
        box.wait_for(timeout=30_000)
        box.fill(f"porosity, {LONG_TAG}")
        box.press("Enter")
        chips = page.locator(".vx-chip")
        expect(chips).to_have_count(2, timeout=15_000)
        expect(page.get_by_text("added 2 tag(s)")).to_be_visible()
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / f"tags_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate(OVERFLOW_JS, width) == []
        chips.filter(has_text="porosity").locator("button").click()
        expect(chips).to_have_count(1, timeout=15_000)
        expect(chips.first).to_contain_text(LONG_TAG)
        expect(page.get_by_text("removed the tag 'porosity'")).to_be_visible()
        assert open_catalog(app["index"]).entry(ident).metadata["tags"] == [LONG_TAG]
        page.screenshot(path=str(tmp_path / f"tag_removed_{width}.png"), full_page=True)
        chips.first.locator("button").click()
        expect(page.get_by_text("no tags")).to_be_visible(timeout=15_000)
        assert not open_catalog(app["index"]).entry(ident).metadata.get("tags")
    finally:
        page.context.close()
