"""Screenshots of images that update asynchronously (slice views)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from playwright.sync_api import Locator


def settled_screenshot(image: Locator, unlike: bytes | None = None, tries: int = 100) -> bytes:
    """A screenshot of a loaded ``image`` that two shots in a row agree on (and, while
    ``tries`` last, one that differs from ``unlike``: the new PNG may follow its caption)."""
    image.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
    )
    last = image.screenshot()
    for _ in range(tries):
        image.page.wait_for_timeout(100)
        shot = image.screenshot()
        if shot == last and shot != unlike:
            return shot
        last = shot
    return last


def shot_dir(name: str) -> Path:
    """The folder a test saves its screenshots in, kept after the run as artefacts:
    ``$VOXCAT_SHOTS/<name>`` (default ``<tmp>/voxcat-shots/<name>``)."""
    root = Path(os.environ.get("VOXCAT_SHOTS") or Path(tempfile.gettempdir()) / "voxcat-shots")
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
