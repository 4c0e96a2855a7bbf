"""Indexes for the widget tests: the demo drive (plus a file with a hostile name)
scanned once per session, copies of it for tests that write, and hand-made rows with
many field values for the search panel."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from catalog import open_catalog, scan
from catalog.catalogue import DuckDBCatalog
from catalog.demo import write_demo_drive
from catalog.index import cache_dir

from ..catalogue_rows import write_rows

EVIL = '<img src=x onerror="alert(1)">.tif'


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("widgets")
    drive = write_demo_drive(base / "drive")
    rng = np.random.default_rng(20261122)
    tifffile.imwrite(drive / "misc" / EVIL, rng.integers(0, 255, (24, 32), dtype=np.uint8))
    index = base / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    return index


@pytest.fixture
def demo(demo_index: Path) -> DuckDBCatalog:
    """The scanned demo drive (read only: use ``writable`` to change it)."""
    return open_catalog(demo_index)


@pytest.fixture
def writable(demo_index: Path, tmp_path: Path) -> DuckDBCatalog:
    """A private copy of the demo index (thumbnails and all) that tests may change."""
    index = tmp_path / "lab.duckdb"
    shutil.copy(demo_index, index)
    shutil.copytree(cache_dir(demo_index), cache_dir(index))
    return open_catalog(index)


@pytest.fixture(scope="session")
def rows_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    index = tmp_path_factory.mktemp("rows") / "rows.duckdb"
    write_rows(index)
    return index


@pytest.fixture
def rows(rows_index: Path) -> DuckDBCatalog:
    """Hand-made rows: modalities, projects, dates, sizes, voxel sizes, tags."""
    return open_catalog(rows_index)


def ident(cat: DuckDBCatalog, name: str) -> str:
    """The id of the dataset called ``name``."""
    return next(iter(cat.search(name=name)))
