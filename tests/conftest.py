"""Shared fixtures: seeded random data, temporary drives and indexes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture
def volume(rng: np.random.Generator) -> np.ndarray:
    """A small uint16 CT-like volume (z, y, x) with structure, not just noise."""
    z, y, x = np.mgrid[0:12, 0:40, 0:48]
    ball = ((z - 6) ** 2 + (y - 20) ** 2 / 4 + (x - 24) ** 2 / 4) < 30
    vol = rng.integers(0, 200, size=z.shape, dtype=np.uint16)
    vol[ball] += 3000
    return vol


def pytest_collection_modifyitems(config, items) -> None:
    """Run the real-browser tests last: Playwright's sync API leaves an event loop
    behind that the async Jupyter server tests must not meet."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


def q(index: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of ``sql`` on a read-only connection of its own to the index file."""
    con = duckdb.connect(str(index), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()
