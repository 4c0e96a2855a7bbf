"""Fixtures of the browser tests: the demo index, JupyterLab serving the demo notebook,
and a page of Debian's chromium (the ``chromium`` fixture of tests/conftest.py).

Playwright runs the system ``/usr/bin/chromium`` (``apt-get install chromium``) and
never downloads a browser. A missing chromium fails these tests, it does not skip
them: ``.ci/run`` installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from catalog.demo import run_demo

from .lab import LabServer, demo_lab


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly written and scanned demo drive; returns its index."""
    return run_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, demo_index: Path) -> Iterator[LabServer]:
    """JupyterLab serving a folder with the demo notebook, on the demo index."""
    work = tmp_path_factory.mktemp("lab")
    with demo_lab(demo_index, work) as server:
        yield server


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh page in its own context (no storage shared between tests)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()
