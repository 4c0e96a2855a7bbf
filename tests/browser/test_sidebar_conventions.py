"""The sidebar as a JupyterLab 4 citizen, in a real browser: its search box reads
``field:value`` terms exactly as ``voxcat search --where`` does (same ids), says why an
invalid search finds nothing, completes field names and values from the keyboard; the
command palette runs "voxcat: Search"; the page size setting takes effect at once; and
job polling stops while the sidebar (or the browser tab) is hidden.

Screenshots (1024 and 1440 px wide, light and dark theme) are saved in the test's
``tmp_path``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, expect

from catalog.cli import main

from .lab import LabServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIMEOUT = 60_000  # ms; a round trip through the server on a loaded 2-core machine
START_TIMEOUT = 120_000  # ms; JupyterLab's first load
COUNT = re.compile(r"^(\d+) of (\d+) datasets$")
SIDEBAR = "#voxcat-sidebar"
SHOW_SIDEBAR = "() => window.jupyterapp.shell.activateById('voxcat-sidebar')"
# no job runs in these tests, so the jobs view polls every 10 s while visible
SLOW_POLL_S = 10


def open_lab(page: Page, lab: LabServer, width: int = 1400) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")
    expect(page.locator(SIDEBAR)).to_be_visible(timeout=START_TIMEOUT)
    expect(page.locator(".voxcat-count-line")).to_have_text(
        re.compile(r"^\d+ datasets$"), timeout=TIMEOUT
    )
    # the layout restored and the launcher open: nothing takes the focus after this
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")
    expect(page.locator(".jp-Launcher").first).to_be_visible(timeout=TIMEOUT)


def cli_ids(capsys: pytest.CaptureFixture[str], index: Path, *where: str) -> list[str]:
    args = [x for w in where for x in ("--where", w)]
    capsys.readouterr()
    assert main(["search", "--index", str(index), "--ids", *args]) == 0
    return sorted(capsys.readouterr().out.split())


def shown_ids(page: Page) -> list[str]:
    return sorted(
        page.locator(".voxcat-tile[data-id]").evaluate_all("ts => ts.map(t => t.dataset.id)")
    )


def search(page: Page, text: str) -> None:
    box = page.locator(".voxcat-search")
    box.fill(text)
    box.press("Enter")


def test_field_syntax_finds_what_the_command_line_finds(
    page: Page, lab: LabServer, demo_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    open_lab(page, lab)
    count = page.locator(".voxcat-count-line")
    cases = [
        ("modality:CT", ["modality=CT"]),
        ("size:>500KB", ["size=>500KB"]),
        ("modality:CT size:>500KB", ["modality=CT", "size=>500KB"]),
        ("level=segmentation,raw", ["level=segmentation,raw"]),
    ]
    seen = set()
    for text, where in cases:
        expected = cli_ids(capsys, demo_index, *where)
        assert expected, f"{where} selects nothing in the demo: the case proves nothing"
        search(page, text)
        expect(count).to_have_text(f"{len(expected)} of 14 datasets", timeout=TIMEOUT)
        tiles = page.locator(".voxcat-tile[data-id]")
        expect(tiles).to_have_count(len(expected), timeout=TIMEOUT)
        assert shown_ids(page) == expected, text
        seen.add(tuple(expected))
    assert len(seen) == len(cases)  # the cases select different datasets

    # an unknown field: the reason under the box, not an empty grid without a word
    error = page.locator(".voxcat-query-error")
    search(page, "modalty:CT")
    expect(error).to_be_visible(timeout=TIMEOUT)
    expect(error).to_contain_text("unknown search field 'modalty'")
    expect(error).to_contain_text("modality")
    expect(count).to_have_text(re.compile("not valid"))
    expect(page.locator(".voxcat-search")).to_have_attribute("aria-invalid", "true")
    # a value the field cannot take
    search(page, "size:>lots")
    expect(error).to_contain_text("cannot read 'lots' as a size", timeout=TIMEOUT)
    # fixed: the message goes
    search(page, "modality:CT")
    expect(error).to_be_hidden(timeout=TIMEOUT)
    expect(count).to_have_text(COUNT, timeout=TIMEOUT)
    assert errors == [], errors


def test_completion_from_the_keyboard(page: Page, lab: LabServer, tmp_path: Path) -> None:
    open_lab(page, lab)
    box = page.locator(".voxcat-search")
    listbox = page.locator(".voxcat-completions")
    box.click()
    box.press_sequentially("moda")
    expect(listbox).to_be_visible(timeout=TIMEOUT)
    expect(listbox.locator(".voxcat-completion-label")).to_have_text(["modality"])
    expect(box).to_have_attribute("aria-expanded", "true")
    box.press("Tab")  # accepts the first field name; the field's values follow
    expect(box).to_have_value("modality:")
    labels = listbox.locator(".voxcat-completion-label")
    expect(labels.first).to_have_text("CT", timeout=TIMEOUT)  # most datasets first
    expect(labels).to_have_text(["CT", "LM", "EM"])
    box.press("ArrowDown")
    box.press("ArrowDown")
    expect(listbox.locator(".voxcat-mod-selected")).to_contain_text("LM")
    for width in (1024, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=tmp_path / f"completion-{width}.png")
    box.press("Enter")
    expect(box).to_have_value("modality:LM ")
    expect(listbox).to_be_hidden()
    expect(page.locator(".voxcat-count-line")).to_have_text("2 of 14 datasets", timeout=TIMEOUT)
    # Escape closes the list and keeps the text
    box.press_sequentially("size:")
    expect(listbox).to_be_visible(timeout=TIMEOUT)
    expect(listbox).to_contain_text(">1GB")
    box.press("Escape")
    expect(listbox).to_be_hidden()
    expect(box).to_have_value("modality:LM size:")


def test_palette_runs_voxcat_search(page: Page, lab: LabServer) -> None:
    open_lab(page, lab)
    # another panel in the left area: the command must bring the sidebar back
    page.locator(".jp-SideBar.jp-mod-left li[data-id='filebrowser']").click()
    expect(page.locator(SIDEBAR)).to_be_hidden()
    page.locator("body").press("Control+Shift+c")
    palette = page.locator(".lm-CommandPalette-input")
    expect(palette).to_be_focused(timeout=TIMEOUT)
    palette.fill("voxcat: Search")
    item = page.locator(".lm-CommandPalette-item", has_text="voxcat: Search")
    expect(item.first).to_be_visible()
    for label in ("voxcat: Open dataset…", "voxcat: Scan a folder…"):
        palette.fill(label)
        expect(page.locator(".lm-CommandPalette-item", has_text=label).first).to_be_visible()
    palette.fill("voxcat: Search")
    palette.press("Enter")
    expect(page.locator(SIDEBAR)).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".voxcat-search")).to_be_focused()
    page.keyboard.type("modality:EM")
    page.keyboard.press("Enter")
    expect(page.locator(".voxcat-count-line")).to_have_text("1 of 14 datasets", timeout=TIMEOUT)


RESET_SETTINGS = (
    "() => window.jupyterapp.serviceManager.settings.save('@voxcat/jupyterlab:plugin', '{}')"
)


@pytest.fixture
def reset_settings(page: Page) -> Iterator[None]:
    """The voxcat settings back to their defaults after the test (the lab server, and
    its settings folder, serve every browser test of the session)."""
    yield
    page.evaluate(RESET_SETTINGS)


def test_page_size_setting_takes_effect_at_once(
    page: Page, lab: LabServer, reset_settings: None
) -> None:
    limits: list[str] = []

    def on_request(request: Request) -> None:
        match = re.search(r"/voxcat/api/search\?.*\blimit=(\d+)", request.url)
        if match:
            limits.append(match[1])

    page.on("request", on_request)
    open_lab(page, lab)
    assert limits and set(limits) == {"60"}, limits  # the schema's default
    limits.clear()
    # the Settings Editor, as a user changes it
    page.evaluate(
        "() => window.jupyterapp.commands.execute('settingeditor:open', {query: 'voxcat'})"
    )
    field = page.locator('[id="jp-SettingsEditor-@voxcat/jupyterlab:plugin_pageSize"]')
    expect(field).to_be_visible(timeout=TIMEOUT)
    # saved settings reach the sidebar, which fetches its results again in pages of 20
    with page.expect_request(re.compile(r"/voxcat/api/search\?.*\blimit=20\b"), timeout=TIMEOUT):
        field.fill("20")
        field.press("Tab")
    page.evaluate(SHOW_SIDEBAR)
    expect(page.locator(".voxcat-count-line")).to_have_text("14 datasets", timeout=TIMEOUT)
    assert set(limits) == {"20"}, limits
    # the thumbnail size: wider and taller tiles, at once
    tile = page.locator(".voxcat-tile[data-id]").first
    expect(tile).to_be_visible(timeout=TIMEOUT)
    before = tile.bounding_box()
    assert before is not None
    size = page.locator('[id="jp-SettingsEditor-@voxcat/jupyterlab:plugin_thumbnailSize"]')
    size.fill("200")
    size.press("Tab")
    page.wait_for_function(
        "h => document.querySelector('.voxcat-tile[data-id]')?.getBoundingClientRect().height > h + 40",
        arg=before["height"],
        timeout=TIMEOUT,
    )
    after = tile.bounding_box()
    assert after is not None and after["width"] > before["width"], (before, after)


def _count_jobs_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on(
        "request",
        lambda r: seen.append(r.url) if re.search(r"/voxcat/api/jobs(\?|$)", r.url) else None,
    )
    return seen


def test_job_polling_stops_while_hidden(page: Page, lab: LabServer) -> None:
    jobs = _count_jobs_requests(page)
    open_lab(page, lab)
    # visible: the jobs view polls
    with page.expect_request(re.compile(r"/voxcat/api/jobs"), timeout=TIMEOUT):
        pass
    # the sidebar collapsed: no request for longer than the slowest poll interval
    # a click on the sidebar's own tab collapses the left area
    page.locator(".jp-SideBar.jp-mod-left li[data-id='voxcat-sidebar']").click()
    expect(page.locator(SIDEBAR)).to_be_hidden()
    page.wait_for_timeout(500)  # a request already on its way when it collapsed
    jobs.clear()
    page.wait_for_timeout((SLOW_POLL_S + 2) * 1000)
    assert jobs == [], f"{len(jobs)} jobs requests while the sidebar was collapsed"
    # shown again: it polls at once
    with page.expect_request(re.compile(r"/voxcat/api/jobs"), timeout=TIMEOUT):
        page.evaluate(SHOW_SIDEBAR)
    # the browser tab hidden (document.visibilityState): no request either
    page.evaluate(
        """() => {
        Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));
    }"""
    )
    page.wait_for_timeout(500)
    jobs.clear()
    page.wait_for_timeout((SLOW_POLL_S + 2) * 1000)
    assert jobs == [], f"{len(jobs)} jobs requests while the tab was hidden"
    with page.expect_request(re.compile(r"/voxcat/api/jobs"), timeout=TIMEOUT):
        page.evaluate(
            """() => {
            delete document.visibilityState;
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
        )


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
@pytest.mark.parametrize("width", [1024, 1440])
def test_screenshots_of_search_error_and_completion(
    page: Page, lab: LabServer, tmp_path: Path, theme: str, width: int
) -> None:
    open_lab(page, lab, width)
    page.evaluate(
        f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: {theme!r}}})"
    )
    dark = theme.endswith("Dark")
    light = "false" if dark else "true"
    page.wait_for_function(
        f"() => document.body.dataset.jpThemeLight === {light!r}", timeout=TIMEOUT
    )
    slug = "dark" if dark else "light"
    search(page, "modality:CT size:>500KB")
    expect(page.locator(".voxcat-count-line")).to_have_text("2 of 14 datasets", timeout=TIMEOUT)
    page.screenshot(path=tmp_path / f"{slug}-{width}-fields.png")
    search(page, "modalty:CT")
    error = page.locator(".voxcat-query-error")
    expect(error).to_be_visible(timeout=TIMEOUT)
    # the message fits the sidebar: nothing wider than the box it is in
    assert error.evaluate("e => e.scrollWidth <= e.clientWidth")
    page.screenshot(path=tmp_path / f"{slug}-{width}-error.png")
    box = page.locator(".voxcat-search")
    box.fill("")
    box.press_sequentially("level:")
    listbox = page.locator(".voxcat-completions")
    expect(listbox).to_be_visible(timeout=TIMEOUT)
    box.press("ArrowDown")
    # the list lies within the window and under the box
    inside = listbox.evaluate(
        "l => { const r = l.getBoundingClientRect(); return r.right <= innerWidth && r.left >= 0; }"
    )
    assert inside
    page.screenshot(path=tmp_path / f"{slug}-{width}-completion.png")
    print(tmp_path)


def test_open_dataset_and_scan_commands(page: Page, lab: LabServer, demo_index: Path) -> None:
    open_lab(page, lab)
    # "voxcat: Open dataset…" asks for an id or a name; a name opens its dataset
    page.evaluate(
        "() => { void window.jupyterapp.commands.execute('voxcat:open-dataset-prompt'); }"
    )
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible(timeout=TIMEOUT)
    expect(dialog).to_contain_text("Dataset id or name")
    dialog.locator("input").fill("liver_ct")
    dialog.locator("input").press("Enter")
    # the main-area viewer (voxcat:open-dataset) opens it in a tab of its own
    shown = page.locator(".jp-MainAreaWidget:visible .voxcat-viewer-name")
    expect(shown).to_have_text("liver_ct", timeout=TIMEOUT)
    # an id works too (given as the command's argument, as other plugins call it)
    from catalog import open_catalog

    ident = next(
        i
        for i in open_catalog(demo_index)
        if open_catalog(demo_index)[i].metadata["name"] == "water phantom"
    )
    page.evaluate(
        f"() => window.jupyterapp.commands.execute('voxcat:open-dataset-prompt', {{id: {ident!r}}})"
    )
    expect(shown).to_have_text("water phantom", timeout=TIMEOUT)
    # a name no dataset has: said so, and the sidebar shows the (empty) search
    page.evaluate(
        "() => window.jupyterapp.commands.execute('voxcat:open-dataset-prompt', {id: 'no such thing'})"
    )
    expect(
        page.locator(".Toastify__toast", has_text="no dataset has the id or the name")
    ).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".voxcat-search")).to_have_value('name:"no such thing"')
    # "voxcat: Scan a folder…" starts a scan job through the jobs REST API; a folder
    # that is not there fails with the server's reason (the index stays as it is)
    page.evaluate("() => { void window.jupyterapp.commands.execute('voxcat:scan-folder'); }")
    expect(dialog).to_be_visible(timeout=TIMEOUT)
    dialog.locator("input").fill("no such folder")
    dialog.locator("input").press("Enter")
    toast = page.locator(".Toastify__toast", has_text="'no such folder' does not exist")
    expect(toast.first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(SIDEBAR)).to_be_visible()
