"""The web app inside JupyterLab: a real JupyterLab with jupyter-server-proxy finds the
voxcat launcher item through the entry point, starts ``voxcat serve --unix-socket``
on demand, and proxies the app (REST, pages and Panel's websocket) behind Jupyter's
own authentication; in chromium the launcher shows the item and the app opens."""

from __future__ import annotations

import json
import time

import nbformat
import pytest
import requests
from playwright.sync_api import expect

from catalog import open_catalog, scan

from ..browser.lab import running_lab
from .conftest import write_tiffs

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("proxy")
    write_tiffs(tmp / "drive", ["rock_a.tif", "rock_b.tif", "rock_c.tif"], seed=7)
    index = tmp / "lab.duckdb"
    scan(tmp / "drive", index, jobs=1, progress=False)
    notebook = tmp / "work" / "empty.ipynb"
    notebook.parent.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    with running_lab(notebook, index, tmp / "lab") as server:
        yield server, index


def _get(url: str, timeout: float = 90.0) -> requests.Response:
    """GET through the proxy, waiting while jupyter-server-proxy starts voxcat serve."""
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(url, timeout=60)
        if r.status_code not in (502, 503, 504) or time.monotonic() > deadline:
            return r
        time.sleep(1)


def test_the_launcher_item_starts_the_app_behind_jupyter(lab) -> None:
    server, index = lab
    auth = f"token={server.token}"
    info = requests.get(f"{server.url}/server-proxy/servers-info?{auth}", timeout=30)
    assert info.status_code == 200, info.text
    entry = next(s for s in info.json()["server_processes"] if s["name"] == "voxcat-app")
    assert entry["launcher_entry"]["title"] == "voxcat catalogue"
    home = _get(f"{server.url}/voxcat-app/?{auth}")  # the app's address: its search page
    assert home.status_code == 200, home.text[:500]
    assert home.url == f"{server.url}/voxcat-app/search?{auth}"
    assert [r.status_code for r in home.history] == [302]
    found = _get(f"{server.url}/voxcat-app/api/search?{auth}").json()
    assert found["total"] == len(open_catalog(index)) == 3
    # nobody reaches it without Jupyter's token
    outside = requests.get(
        f"{server.url}/voxcat-app/api/search", timeout=30, allow_redirects=False
    )
    assert outside.status_code in (302, 403), outside.status_code
    tagged = requests.post(
        f"{server.url}/voxcat-app/api/datasets/{found['rows'][0]['id']}/tags?{auth}",
        data=json.dumps({"tags": ["from-lab"]}),
        timeout=30,
    )
    assert tagged.status_code == 200, tagged.text  # the local user may change things


def test_the_launcher_shows_voxcat_and_the_app_opens_in_chromium(lab, chromium, tmp_path) -> None:
    server, _ = lab
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{server.url}/lab?reset&token={server.token}")
        card = page.locator(".jp-LauncherCard", has_text="voxcat catalogue")
        card.first.wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "launcher.png"))
        app = context.new_page()  # with Jupyter's login cookie
        app.goto(f"{server.url}/voxcat-app/?q=rock_a")
        # the search page, with the query, for the person running Jupyter (no login)
        app.wait_for_url(f"{server.url}/voxcat-app/search?q=rock_a", timeout=90_000)
        expect(app.locator(".vx-user")).to_have_text("local user (no login)", timeout=90_000)
        expect(app.locator(".vx-count")).to_contain_text("1 of 3 datasets", timeout=30_000)
        expect(app.locator("a.vx-tile")).to_have_count(1)
        expect(app.get_by_role("link", name="Log out")).to_have_count(0)
        app.screenshot(path=str(tmp_path / "app-in-lab.png"))
        app.locator("a.vx-tile").click()  # the dataset page, through the proxy too
        expect(app.locator("h2")).to_contain_text("rock_a.tif", timeout=90_000)
        app.screenshot(path=str(tmp_path / "app-in-lab-dataset.png"))
    finally:
        context.close()
