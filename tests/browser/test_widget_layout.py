"""The notebook browser (``widgets.browse(cat)``) in JupyterLab at 800, 1024, 1440 and
1920 px with the file browser open (and 800 and 2400 px with the left area closed), in the
light and the dark theme: nothing wider than the output area, facet boxes whole, the
contrast "auto" button labelled, thumbnails not blank, the slice viewer stepping, and
opening several datasets leaves no comm error in the browser's console or in
JupyterLab's log console. Screenshots are kept (``shots.shot_dir``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect

from catalog import open_catalog

from .lab import LabServer
from .shots import settled_screenshot, shot_dir
from .test_browse import (
    KERNEL_IDLE,
    KERNEL_TIMEOUT,
    RESULT,
    RUN_ALL,
    RUN_TIMEOUT,
    UPDATE_TIMEOUT,
    _view_image,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = (800, 1024, 1440, 1920)  # with the file browser open
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
#: a thumbnail whose grey levels span less than this is blank (one flat colour)
MIN_SPREAD = 24
COMM_ERROR = re.compile(r"no such comm|comm .*(not found|closed)|could not find model", re.I)

# every element of the browser's output area that sticks out of it, as text
OVERFLOW = """(root) => {
    const box = root.getBoundingClientRect();
    const out = [];
    const name = (el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`;
    for (const el of [root, ...root.querySelectorAll("*")]) {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) continue;
        if (r.right > box.right + 1 || r.left < box.left - 1)
            out.push(`${name(el)} spans ${r.left.toFixed(0)}..${r.right.toFixed(0)} outside ` +
                     `${box.left.toFixed(0)}..${box.right.toFixed(0)}`);
        const container = el.matches(".widget-box, .widget-gridbox, .jp-OutputArea-output");
        if (container && el.scrollWidth > el.clientWidth + 1)
            out.push(`${name(el)} scrolls: ${el.scrollWidth} > ${el.clientWidth}`);
    }
    return out;
}"""
# facet boxes whose content is clipped or sticks out of them
FACETS = """(root) => {
    const out = [];
    const facets = root.querySelectorAll(".voxcat-facet");
    for (const facet of facets) {
        const f = facet.getBoundingClientRect();
        const label = facet.innerText.split("\\n")[0];
        if (facet.scrollWidth > facet.clientWidth + 1 || facet.scrollHeight > facet.clientHeight + 1)
            out.push(`${label}: content ${facet.scrollWidth}x${facet.scrollHeight} in ` +
                     `${facet.clientWidth}x${facet.clientHeight}`);
        for (const el of facet.querySelectorAll("*")) {
            const r = el.getBoundingClientRect();
            if (r.width === 0 || r.height === 0 || el.tagName === "OPTION") continue;
            if (r.right > f.right + 1 || r.left < f.left - 1 || r.bottom > f.bottom + 1)
                out.push(`${label}: ${el.tagName.toLowerCase()} outside the facet box`);
        }
    }
    return {count: facets.length, problems: out};
}"""
# the "auto" button: its width, and the width and extent of its text
AUTO = """(root) => {
    const button = [...root.querySelectorAll("button")].find(b => b.innerText.trim() === "auto");
    if (!button) return null;
    const b = button.getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(button);
    const t = range.getBoundingClientRect();
    const style = getComputedStyle(button);
    return {width: b.width, left: b.left, right: b.right, textWidth: t.width,
            scrollWidth: button.scrollWidth, clientWidth: button.clientWidth,
            textLeft: t.left, textRight: t.right, text: button.innerText.trim(),
            colour: style.color, background: style.backgroundColor};
}"""
# grey-level spread (max - min of the luminance) of every thumbnail of the grid
SPREADS = """(root) => [...root.querySelectorAll(".voxcat-card img")].map(img => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let lo = 255, hi = 0;
    for (let i = 0; i < px.length; i += 4) {
        const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
        if (y < lo) lo = y; if (y > hi) hi = y;
    }
    const name = img.closest(".voxcat-card").querySelector(".widget-html-content [title]")?.title ?? "?";
    return [name, hi - lo];
})"""
SETTLED = """() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(
    () => requestAnimationFrame(() => done(true)))))"""
# collect what the kernel prints outside a cell (stderr, errors): JupyterLab's log
# console shows these messages
WATCH_KERNEL = """() => {
    const session = window.jupyterapp.shell.currentWidget.sessionContext;
    window.voxcatKernelLog = [];
    session.iopubMessage.connect((_, msg) => {
        const type = msg.header.msg_type;
        if (type === "stream" || type === "error")
            window.voxcatKernelLog.push(`${type}: ${JSON.stringify(msg.content).slice(0, 400)}`);
    });
}"""


@pytest.fixture
def lab_page(chromium: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A page of its own and the text of every console message it logs."""
    context = chromium.new_context(viewport={"width": WIDTHS[0], "height": 1000})
    messages: list[str] = []

    def log(message: ConsoleMessage) -> None:
        messages.append(f"{message.type}: {message.text}")

    try:
        page = context.new_page()
        page.on("console", log)
        page.on("pageerror", lambda exc: messages.append(f"pageerror: {exc}"))
        yield page, messages
    finally:
        context.close()


def _command(page: Page, command: str, args: dict[str, Any] | None = None) -> None:
    page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)", [command, args or {}])


def _resize(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 1000})
    page.evaluate(SETTLED)


def _theme(page: Page, theme: str) -> None:
    _command(page, "apputils:change-theme", {"theme": THEMES[theme]})
    light = "true" if theme == "light" else "false"
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{light}'")
    page.evaluate(SETTLED)


def _shots(page: Page, stem: Path) -> None:
    """Screenshots of the page scrolled to the search panel and grid, and to the
    opened dataset: ``<stem>-grid.png``, ``<stem>-open.png``."""
    for part, selector in (("grid", ".voxcat-browser"), ("open", ".voxcat-slices")):
        page.locator(selector).evaluate("el => el.scrollIntoView()")
        page.evaluate(SETTLED)
        page.screenshot(path=f"{stem}-{part}.png")


def _misfits(root: Locator, where: str) -> list[str]:
    """What does not fit in the output area ``root``, each prefixed by ``where``."""
    problems = [f"{where}: sticks out: {p}" for p in root.evaluate(OVERFLOW)]
    facets = root.evaluate(FACETS)
    if facets["count"] < 3:
        problems.append(f"{where}: {facets['count']} facets shown")
    problems += [f"{where}: clipped facet: {p}" for p in facets["problems"]]
    auto = root.evaluate(AUTO)
    if auto is None or auto["text"] != "auto":
        problems.append(f"{where}: no auto button")
    elif not (
        auto["width"] >= auto["textWidth"] > 10
        and auto["scrollWidth"] <= auto["clientWidth"]
        and auto["left"] <= auto["textLeft"]
        and auto["textRight"] <= auto["right"] + 0.5
        and auto["colour"] != auto["background"]
    ):
        problems.append(f"{where}: auto button without a readable label: {auto}")
    return problems


def _run_browse(page: Page, lab: LabServer) -> tuple[Locator, Locator, Locator]:
    """Run the demo notebook (its last cell shows ``widgets.browse(cat)``) with the
    kernel's stray output watched; returns the browser, its output area and its cards
    once every thumbnail has loaded."""
    page.goto(lab.tree_url("demo.ipynb"))
    page.wait_for_function(KERNEL_IDLE, timeout=KERNEL_TIMEOUT)
    page.evaluate(WATCH_KERNEL)
    page.evaluate(RUN_ALL)
    errors = page.wait_for_function(RESULT, timeout=RUN_TIMEOUT, polling=500).json_value()
    assert errors == [], f"the demo notebook failed: {errors}"
    browser = page.locator(".voxcat-browser")
    expect(browser).to_be_visible(timeout=UPDATE_TIMEOUT)
    root = page.locator(".jp-OutputArea-output").filter(has=browser)
    cards = browser.locator(".voxcat-card")
    expect(cards.first).to_be_visible()
    page.wait_for_function(
        "root => [...root.querySelectorAll('.voxcat-card img')].every("
        "img => img.complete && img.naturalWidth > 0)",
        arg=root.element_handle(),
    )
    return browser, root, cards


def test_grid_thumbnails_are_not_blank(
    lab_page: tuple[Page, list[str]], lab: LabServer, demo_index: Path
) -> None:
    """Every dataset with pixels has a thumbnail of more than one flat colour (label
    images included); failed datasets show the placeholder."""
    page, _ = lab_page
    _, root, cards = _run_browse(page, lab)
    page.screenshot(path=shot_dir("widget-layout") / "thumbnails.png")
    spreads = root.evaluate(SPREADS)
    assert len(spreads) == cards.count() > 5
    df = open_catalog(demo_index).df
    failed = set(df.loc[df["status"] == "failed", "name"])  # no pixels: a placeholder
    blank = [(name, round(spread)) for name, spread in spreads if spread < MIN_SPREAD]
    assert [name for name, _ in blank if name not in failed] == [], f"blank: {blank}"


def test_browser_fits_every_width_and_theme(
    lab_page: tuple[Page, list[str]], lab: LabServer
) -> None:
    page, console = lab_page
    shots = shot_dir("widget-layout")
    browser, root, cards = _run_browse(page, lab)
    # the file browser in front (an earlier test of the same JupyterLab may have left
    # the left area collapsed; this lab brings the voxcat sidebar back for 5 s after
    # a load unless the user touches the page first, as this pointer press does)
    page.locator(".jp-NotebookPanel").first.dispatch_event("pointerdown")
    page.wait_for_function(
        """() => {
            const shell = window.jupyterapp.shell;
            shell.expandLeft();
            shell.activateById('filebrowser');
            const fb = document.getElementById('filebrowser');
            return fb && fb.offsetWidth > 0;
        }""",
        polling=500,
        timeout=30_000,
    )
    expect(page.locator(".jp-FileBrowser")).to_be_visible()
    problems: list[str] = []
    names = [name for name, _ in root.evaluate(SPREADS)[:4]]

    # open several datasets, the volume last; step its slider
    for i, name in enumerate(names):
        cards.nth(i).get_by_role("button", name="open").click()
        expect(browser.locator("h3", has_text=str(name))).to_be_visible(timeout=UPDATE_TIMEOUT)
    cards.filter(has=page.get_by_title("sandstone_01_rec", exact=True)).locator("img").click()
    expect(browser.locator("h3", has_text="sandstone_01_rec")).to_be_visible(
        timeout=UPDATE_TIMEOUT
    )
    xy = _view_image(page, "xy")
    expect(xy).to_be_visible(timeout=UPDATE_TIMEOUT)
    caption = page.locator(".widget-label", has_text=re.compile(r"^xy · z = \d+"))
    before_caption = caption.inner_text()
    before = settled_screenshot(xy)
    handle = (
        page.locator(".widget-slider")
        .filter(has=page.locator(".widget-label", has_text=re.compile(r"^z$")))
        .locator(".noUi-handle")
    )
    handle.focus()
    handle.press("End")
    expect(caption).not_to_have_text(before_caption, timeout=UPDATE_TIMEOUT)
    after = settled_screenshot(xy, unlike=before)
    assert after != before, "the xy view did not change after stepping z"
    for name in ("xz", "yz"):
        expect(_view_image(page, name)).to_be_visible(timeout=UPDATE_TIMEOUT)

    # a note added in the details rebuilds the facets (the old facet widgets closed)
    browser.get_by_placeholder("add a note").fill("ring artefacts at z=40")
    browser.get_by_role("button", name="add note").click()
    expect(browser.get_by_text("ring artefacts at z=40")).to_be_visible(timeout=UPDATE_TIMEOUT)
    expect(browser.get_by_text("note added")).to_be_visible()

    # every width, both themes, the file browser open
    for theme in THEMES:
        _theme(page, theme)
        for width in WIDTHS:
            _resize(page, width)
            _shots(page, shots / f"{theme}-{width}")
            problems += _misfits(root, f"{theme} theme, {width} px, file browser open")
    # a 2-D image (the zoom view), the left area closed, narrow and wide
    tilescan = cards.filter(has=page.get_by_title("hela_03_tilescan.ome.zarr", exact=True))
    tilescan.get_by_role("button", name="open").click()
    expect(browser.locator("h3", has_text="hela_03_tilescan.ome.zarr")).to_be_visible(
        timeout=UPDATE_TIMEOUT
    )
    expect(browser.get_by_role("button", name="reset")).to_be_visible(timeout=UPDATE_TIMEOUT)
    _command(page, "application:toggle-left-area")
    expect(page.locator(".jp-FileBrowser")).to_be_hidden()
    for width in (800, 2400):
        _resize(page, width)
        _shots(page, shots / f"dark-{width}-closed")
        problems += _misfits(root, f"dark theme, 2-D image, {width} px, left area closed")

    # no comm errors: not in the browser's console, not in the kernel's stderr, not in
    # JupyterLab's log console
    page.wait_for_function(KERNEL_IDLE, timeout=UPDATE_TIMEOUT)
    kernel_log = page.evaluate("window.voxcatKernelLog")
    _command(page, "logconsole:open")
    log = page.locator(".jp-LogConsole")
    expect(log).to_be_visible()
    page.screenshot(path=shots / "log-console.png")
    comm = [m for m in [*console, *kernel_log, log.inner_text()] if COMM_ERROR.search(m)]
    problems += [f"comm error: {m[:300]}" for m in comm]
    assert problems == [], "\n".join(problems)
    expect(log).not_to_contain_text(COMM_ERROR)
