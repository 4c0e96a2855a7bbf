"""The web app's lab, scanned once per session (volume, mosaic with its preview
pyramid, 30 small images, a lineage edge), and a private copy for tests that write."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from catalog.index import cache_dir

from ..webapp_lab import write_lab


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return write_lab(tmp_path_factory.mktemp("webapp"))


@pytest.fixture
def writable_lab(lab: dict, tmp_path: Path) -> dict:
    index = tmp_path / "lab.duckdb"
    shutil.copy(lab["index"], index)
    shutil.copytree(cache_dir(lab["index"]), cache_dir(index))
    return {**lab, "index": index}
