"""The dashboard in Debian's chromium: saved as a standalone HTML page, it draws its
ten charts two to a row on a wide page and one to a row on a narrow one, never wider
than the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from catalog import open_catalog
from widgets import dashboard

from ..two_drives import write_two_drives

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def dashboard_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("dashboard")
    index, _ = write_two_drives(base)
    html = base / "dashboard.html"
    dashboard(open_catalog(index)).save(str(html), resources="inline")
    return html


@pytest.mark.parametrize(("width", "per_row"), [(1200, 2), (480, 1)])
def test_dashboard_wraps_to_the_page_width(
    chromium: Browser, dashboard_html: Path, width: int, per_row: int
) -> None:
    context = chromium.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        page.goto(dashboard_html.as_uri())
        canvases = page.locator("canvas")  # Bokeh draws each plot on two canvases
        canvases.nth(19).wait_for(state="attached", timeout=30_000)
        boxes = {
            (round(b["x"]), round(b["y"]), round(b["width"]))
            for b in (canvases.nth(i).bounding_box() for i in range(canvases.count()))
            if b is not None
        }
        assert len(boxes) == 10
        rows = {y for _, y, _ in boxes}
        assert len(rows) == 10 // per_row
        assert all(x >= 0 and x + w <= width for x, _, w in boxes)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(
            path=str(dashboard_html.with_name(f"dashboard_{width}.png")), full_page=True
        )
    finally:
        context.close()
