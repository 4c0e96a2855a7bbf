"""Screenshots of images that update asynchronously (slice views)."""

from __future__ import annotations

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
