"""Fixtures of the browser tests: the demo index, JupyterLab serving the demo notebook,
and Debian's chromium driven by Playwright.

Playwright runs the system ``/usr/bin/chromium`` (``apt-get install chromium``) and
never downloads a browser. A missing chromium fails these tests, it does not skip
them: ``.ci/run`` installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from catalog.demo import install_demo_notebook, run_demo

from .lab import LabServer, LabStartError, running_lab

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly written and scanned demo drive; returns its index."""
    return run_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, demo_index: Path) -> Iterator[LabServer]:
    """JupyterLab serving a folder with the demo notebook, on the demo index."""
    work = tmp_path_factory.mktemp("lab")
    notebook = install_demo_notebook(work / "root")
    try:
        with running_lab(notebook, demo_index, work) as server:
            yield server
    except LabStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's chromium under Playwright (a missing browser fails, never skips)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests drive Debian's chromium. Install it "
            "with `apt-get install chromium` (.ci/run does); never `playwright install`."
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh page in its own context (no storage shared between tests)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()
