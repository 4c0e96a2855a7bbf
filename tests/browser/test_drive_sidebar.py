"""The JupyterLab sidebar's detail of a dataset on an unplugged drive: found by search,
its thumbnail shown, "on drive WD-2019 (offline)" under its name and, instead of a
preview, which drive to plug in. Screenshots at three widths."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from catalog.demo import run_demo
from catalog.drives import check_drives
from catalog.index import connect

from ..absent_drive import on_absent_drive
from .lab import LabServer, demo_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 60_000  # ms
START_TIMEOUT = 120_000  # ms


@pytest.fixture(scope="module")
def offline_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServer, str]]:
    """JupyterLab on a demo index whose drive (the demo folder) is recorded as the
    drive WD-2019, which is not plugged in; yields the server and the drive's place."""
    work = tmp_path_factory.mktemp("drive-sidebar")
    index = run_demo(work / "demo")
    with connect(index, read_only=True) as con:
        (mount,) = con.execute("SELECT min(path) FROM roots").fetchone()
    on_absent_drive(index, mount, label="WD-2019")
    assert check_drives(index)["went_offline"] > 0
    with demo_lab(index, work) as server:
        yield server, mount


@pytest.mark.parametrize("width", [390, 900, 1400])
def test_offline_dataset_detail_names_the_drive(
    chromium: Browser, offline_lab: tuple[LabServer, str], tmp_path: Path, width: int
) -> None:
    lab, mount = offline_lab
    context = chromium.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{lab.url}/lab?reset&token={lab.token}")
        expect(page.locator("#voxcat-sidebar")).to_be_visible(timeout=START_TIMEOUT)
        page.locator(".voxcat-search").fill("sandstone_01_rec")
        tile = page.locator(".voxcat-tile[title^='sandstone_01_rec']")
        expect(tile).to_be_visible(timeout=TIMEOUT)
        # the thumbnail is kept next to the index: shown although the drive is away
        page.wait_for_function(
            "t => { const i = t.querySelector('img'); return i && i.complete && "
            "i.naturalWidth > 0; }",
            arg=tile.element_handle(),
            timeout=TIMEOUT,
        )
        assert "voxcat-tile-offline" in (tile.get_attribute("class") or "")
        tile.click()
        viewer = page.locator(".voxcat-viewer")
        expect(viewer.locator(".voxcat-viewer-name")).to_have_text(
            "sandstone_01_rec", timeout=TIMEOUT
        )
        drive = viewer.locator(".voxcat-drive")
        expect(drive).to_have_text("on drive WD-2019 (offline)")
        assert "voxcat-drive-offline" in (drive.get_attribute("class") or "")
        assert drive.get_attribute("title") == f"last seen at {mount}"
        expect(viewer.locator(".voxcat-viewer-nopreview")).to_have_text(
            f"No preview: on drive WD-2019 (offline): plug it in; last seen at {mount}."
        )
        expect(viewer.locator(".voxcat-meta td", has_text=re.compile("^offline$"))).to_be_visible()
        # its copy is listed with the drive, offline
        copy = viewer.locator(".voxcat-copy").first
        expect(copy.locator(".voxcat-copy-drive")).to_have_text("WD-2019")
        expect(copy.locator(".voxcat-copy-status")).to_have_text("offline")
        page.screenshot(path=tmp_path / f"offline-detail-{width}.png")
        assert errors == []
    finally:
        context.close()
