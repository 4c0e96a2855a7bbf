"""Logging in to ``voxcat serve`` through its real /login page in chromium, on a
phone-sized and a desktop window."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from bokeh.util.token import get_token_payload
from playwright.sync_api import Browser, expect

from ..servers import start_process
from .conftest import BASE, PASSWORDS, Served, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.mark.parametrize("size", [(390, 844), (1400, 900)], ids=["phone", "desktop"])
def test_logging_in_through_the_login_page(
    served: Served, chromium: Browser, size: tuple[int, int], tmp_path: Path
) -> None:
    width, height = size
    context = chromium.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        page.goto(served.page() + "?q=rock")  # the server's address: its search page
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
        page.wait_for_url(served.url + "search?q=rock")  # back where it was going
        expect(page.locator(".vx-user")).to_have_text(
            "logged in as vera (viewer)Log out", timeout=30_000
        )
        expect(page.locator(".vx-count")).to_contain_text("datasets")  # what vera may see
        page.screenshot(path=str(tmp_path / f"home_{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        cookie = next(c for c in context.cookies() if c["name"] == "voxcat_login")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == BASE + "/"

        # the API answers the logged-in browser as vera, and scripts cannot read the cookie
        page.goto(served.api("info"))
        assert json.loads(page.locator("body").inner_text())["user"]["name"] == "vera"
        assert "user=" not in page.evaluate("document.cookie")
        assert "voxcat_login=" not in page.evaluate("document.cookie")

        page.goto(served.page())
        page.get_by_role("link", name="Log out").click()  # in the search page's header
        page.wait_for_url(served.url + "login")
        page.goto(served.api("info"))
        assert json.loads(page.locator("body").inner_text())["error"].startswith("log in first")
    finally:
        context.close()


PAGE_SERVER = """
import sys
from pathlib import Path

import panel as pn

from catalog.service.server import Lab


def whoami():
    return pn.pane.Markdown(f"signed in as **{pn.state.user}**")


Lab(Path(sys.argv[1]), base_url="/voxcat", pages={"whoami": whoami}).run(port=0)
"""


def test_panel_pages_need_a_login_and_know_the_account(
    served: Served, chromium: Browser, tmp_path: Path
) -> None:
    """A page of the web app runs as a Panel app on the same server: without a login
    the browser is sent to /login; after it, ``pn.state.user`` is the account."""
    script = tmp_path / "pages.py"
    script.write_text(PAGE_SERVER)
    proc, url = start_process([sys.executable, str(script), str(served.index)])
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(url + "whoami")
        assert page.url.startswith(url + "login?next=")
        page.get_by_label("User").fill("cura")
        page.get_by_label("Password").fill(PASSWORDS["cura"])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(url + "whoami")
        shown = page.get_by_text("signed in as")
        shown.wait_for(timeout=30_000)  # drawn over the websocket, as the account
        assert shown.inner_text() == "signed in as cura"
        # the page's session token carries Panel's "user" cookie, never the login cookie
        token = re.search(r'"token":\s*"([^"]+)"', page.content()).group(1)
        payload = get_token_payload(token)
        assert set(payload["cookies"]) == {"user"}
        assert "Authorization" not in payload["headers"] and "Cookie" not in payload["headers"]
        page.screenshot(path=str(tmp_path / "whoami_1400.png"))
        page.goto(url)
        assert page.get_by_role("link", name="whoami").get_attribute("href") == f"{BASE}/whoami"
    finally:
        context.close()
        assert stop_server(proc) == 0
