"""Logging in to ``voxcat serve`` through its real /login page in chromium, on a
phone-sized and a desktop window."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from ..browser.conftest import CHROMIUM, CHROMIUM_ARGS
from .conftest import BASE, PASSWORDS, Served

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's chromium under Playwright (a missing browser fails, never skips)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install chromium`")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.parametrize("size", [(390, 844), (1400, 900)], ids=["phone", "desktop"])
def test_logging_in_through_the_login_page(
    served: Served, chromium: Browser, size: tuple[int, int], tmp_path: Path
) -> None:
    width, height = size
    context = chromium.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(served.page() + "?q=rock")
        assert page.url.startswith(served.url + "login?next=")  # sent to log in first
        user, password = page.get_by_label("User"), page.get_by_label("Password")
        for field in (user, password):  # the form fits the window
            box = field.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
        page.screenshot(path=str(tmp_path / f"login_{width}.png"), full_page=True)

        user.fill("vera")
        password.fill("not her password")
        page.get_by_role("button", name="Log in").click()
        assert page.get_by_role("alert").inner_text() == "Wrong user name or password."
        assert page.get_by_label("User").input_value() == "vera"

        page.get_by_label("Password").fill(PASSWORDS["vera"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(served.url + "?q=rock")  # back where it was going
        assert "logged in as vera (viewer)" in page.locator("p").first.inner_text()
        page.screenshot(path=str(tmp_path / f"home_{width}.png"), full_page=True)
        cookie = next(c for c in context.cookies() if c["name"] == "user")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == BASE + "/"

        # the API answers the logged-in browser as vera, and scripts cannot read the cookie
        page.goto(served.api("info"))
        assert json.loads(page.locator("body").inner_text())["user"]["name"] == "vera"
        assert "user=" not in page.evaluate("document.cookie")

        page.goto(served.page())
        page.get_by_role("link", name="Log out").click()
        page.wait_for_url(served.url + "login")
        page.goto(served.api("info"))
        assert json.loads(page.locator("body").inner_text())["error"].startswith("log in first")
    finally:
        context.close()
