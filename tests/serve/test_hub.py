"""``voxcat serve --hub`` as a service of a real JupyterHub (its configurable-http-proxy,
its DummyAuthenticator login page, its OAuth), driven in chromium: a Hub user logs in
on the Hub's page, lands in voxcat with an account made for them, sees what a viewer
may see; a Hub API token works on the REST API; the audit names the Hub user."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from catalog import open_catalog, scan
from catalog.index.audit import list_audit
from catalog.users import add_user, get_user

from ..servers import REPO, free_port
from .conftest import ACCESS, write_tiffs

pytestmark = [pytest.mark.slow, pytest.mark.browser]

HUB_PASSWORD = "hub-pw-3141"
TESTER_TOKEN = "tester-token-5d9c1f0b2a7e4c6d8f1a3b5c7d9e0f12"


def _hub_config(tmp: Path, index: Path, ports: dict[str, int]) -> Path:
    env = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    service = {
        "name": "voxcat",
        "url": f"http://127.0.0.1:{ports['service']}",
        "command": [
            *(sys.executable, "-m", "catalog.cli", "serve", "--hub"),
            *("--index", str(index), "--no-browser"),
        ],
        "environment": env,
        "oauth_no_confirm": True,
    }
    tester = {"name": "tester", "api_token": TESTER_TOKEN}
    roles = [
        {"name": "user", "scopes": ["self", "access:services"]},
        {"name": "tester", "services": ["tester"], "scopes": ["tokens", "admin:users"]},
    ]
    lines = [
        "c = get_config()  # noqa",
        "c.JupyterHub.ip = '127.0.0.1'",
        f"c.JupyterHub.port = {ports['hub']}",
        "c.JupyterHub.hub_ip = '127.0.0.1'",
        f"c.JupyterHub.hub_port = {ports['hub_api']}",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{ports['proxy_api']}'",
        f"c.ConfigurableHTTPProxy.pid_file = {str(tmp / 'proxy.pid')!r}",
        "c.JupyterHub.authenticator_class = 'dummy'",
        f"c.DummyAuthenticator.password = {HUB_PASSWORD!r}",
        "c.Authenticator.allow_all = True",
        f"c.JupyterHub.db_url = 'sqlite:///{tmp / 'hub.sqlite'}'",
        f"c.JupyterHub.cookie_secret_file = {str(tmp / 'cookie_secret')!r}",
        f"c.JupyterHub.services = {[service, tester]!r}",
        f"c.JupyterHub.load_roles = {roles!r}",
    ]
    path = tmp / "jupyterhub_config.py"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    if shutil.which("configurable-http-proxy") is None:
        pytest.fail(
            "configurable-http-proxy is not installed (npm install -g configurable-http-proxy)"
        )
    tmp = tmp_path_factory.mktemp("hub")
    drive = tmp / "drive"
    write_tiffs(drive, ["rock_a.tif", "rock_b.tif", *ACCESS], seed=31)
    index = tmp / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    ids = {cat[i].metadata["name"]: i for i in cat}
    for name, level in ACCESS.items():
        cat.set(ids[name], access=level)
    add_user(index, "carol", role="curator")  # a Hub user whose account exists already
    ports = {k: free_port() for k in ("hub", "hub_api", "proxy_api", "service")}
    config = _hub_config(tmp, index, ports)
    log = tmp / "hub.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{ports['hub']}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"JupyterHub exited:\n{log.read_text()[-4000:]}")
            try:
                up = requests.get(f"{url}/services/voxcat/api/info", timeout=5)
                if up.status_code in (401, 403):  # the service answers (and wants a login)
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the Hub or its voxcat service did not start:\n{log.read_text()[-4000:]}"
                )
            time.sleep(0.5)
        yield url, index, ids, log
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _login(page, url: str, name: str) -> None:
    page.goto(f"{url}/services/voxcat/")
    page.wait_for_selector("input[name=username]", timeout=30_000)
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", HUB_PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(f"{url}/services/voxcat/**", timeout=60_000)


def test_a_hub_user_logs_in_through_the_hub_and_sees_what_a_viewer_may(
    hub, chromium, tmp_path
) -> None:
    url, index, ids, _ = hub
    # each login in a context of its own: the Hub's cookies stay with one user
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    other_context = chromium.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        _login(page, url, "hubert")
        # the service's address opens the search page, as the Hub user
        assert page.url == f"{url}/services/voxcat/search"
        expect(page.locator(".vx-user")).to_contain_text(
            "logged in as hubert (viewer)", timeout=30_000
        )
        page.screenshot(path=str(tmp_path / "hub-landing.png"))
        info = page.request.get(f"{url}/services/voxcat/api/search?limit=100")
        assert info.status == 200, info.text()
        names = {r["name"] for r in info.json()["rows"]}
        assert names == {"rock_a.tif", "rock_b.tif", "open_scan.tif"}  # a viewer, no groups
        for hidden in ("patient_ct.tif", "tomo_scan.tif", "partner_scan.tif"):
            got = page.request.get(f"{url}/services/voxcat/api/datasets/{ids[hidden]}")
            assert got.status == 404
        # the account made at first login, audited
        user = get_user(index, "hubert")
        assert (user.role, user.groups) == ("viewer", ())
        assert list_audit(index, action="user.add", limit=1)[0]["detail"]["name"] == "hubert"
        # a viewer may not tag, through the page's session either
        xsrf = next(c["value"] for c in page.context.cookies() if c["name"] == "_xsrf")
        tag = page.request.post(
            f"{url}/services/voxcat/api/datasets/{ids['rock_a.tif']}/tags",
            data=json.dumps({"tags": ["nice"]}),
            headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
        )
        assert tag.status == 403, tag.text()

        # carol has an account already (curator): she keeps it, and may tag
        other = other_context.new_page()
        _login(other, url, "carol")
        expect(other.locator(".vx-user")).to_contain_text(
            "logged in as carol (curator)", timeout=30_000
        )
        other.screenshot(path=str(tmp_path / "hub-carol-phone.png"))
        xsrf = next(c["value"] for c in other.context.cookies() if c["name"] == "_xsrf")
        tag = other.request.post(
            f"{url}/services/voxcat/api/datasets/{ids['rock_a.tif']}/tags",
            data=json.dumps({"tags": ["checked"]}),
            headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
        )
        assert tag.status == 200, tag.text()
        # logging out of voxcat logs out of the Hub: the next visit asks again
        other.goto(f"{url}/services/voxcat/logout")
        other.goto(f"{url}/services/voxcat/")
        other.wait_for_selector("input[name=username]", timeout=30_000)
    finally:
        context.close()
        other_context.close()
    row = list_audit(index, dataset=ids["rock_a.tif"], action="tag", limit=1)[0]
    assert row["user"] == "carol"


def test_a_hub_api_token_works_on_the_rest_api(hub) -> None:
    url, index, _, _ = hub
    api = f"{url}/hub/api"
    admin = {"Authorization": f"token {TESTER_TOKEN}"}
    requests.post(f"{api}/users/dana", headers=admin, timeout=30)  # 201, or 409 if there
    made = requests.post(
        f"{api}/users/dana/tokens",
        headers=admin,
        json={"note": "voxcat test", "scopes": ["access:services"]},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    headers = {"Authorization": f"token {token}"}
    info = requests.get(f"{url}/services/voxcat/api/search", headers=headers, timeout=30)
    assert info.status_code == 200, info.text
    assert info.json()["total"] == 3
    bad = requests.get(
        f"{url}/services/voxcat/api/search", headers={"Authorization": "token nope"}, timeout=30
    )
    assert bad.status_code == 401
    assert get_user(index, "dana").role == "viewer"
