"""Shared fixtures: seeded random data, temporary drives and indexes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pytest

from .drives import make_drive, other_drive  # noqa: F401  (fixtures for every test)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

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


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's chromium under Playwright, one for the whole run (a missing browser
    fails, never skips). Every browser test takes it: Playwright's sync API refuses a
    second start while this one's event loop runs."""
    from playwright.sync_api import sync_playwright

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


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real S3-compatible server (moto's server mode) on 127.0.0.1 for the session,
    with test credentials in the environment as boto and s3fs read them."""
    import os

    from .s3server import TEST_CREDENTIALS, moto_server

    saved = {k: os.environ.get(k) for k in (*TEST_CREDENTIALS, "AWS_ENDPOINT_URL")}
    os.environ.update(TEST_CREDENTIALS)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
            yield endpoint
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def s3_proxy(s3_endpoint: str) -> Iterator[object]:
    """A :class:`tests.s3server.CountingProxy` in front of the session's S3 server."""
    from .s3server import CountingProxy

    with CountingProxy(s3_endpoint) as proxy:
        yield proxy


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the session's S3 server."""
    import uuid

    from .s3server import client

    name = f"voxcat-{uuid.uuid4().hex[:12]}"
    client(s3_endpoint).create_bucket(Bucket=name)
    return name
